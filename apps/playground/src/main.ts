// The page: reads the form, starts the worker's run, and draws what it reports. No computing on this thread.
import { drawChart, svgFile, type Series } from './charts';
import type { ArchitectureConfig, DataConfig, Diagnostics, IdxFiles, PlaygroundConfig, WeightImage } from './experiment';
import type { FromWorker, RuleInfo, ToWorker } from './protocol';
import { drawWeights } from './weights';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const DASHES = ['', '5 3', '2 2', '8 3 2 3', '1 3'];

/** Everything the run reported, as plain data: what the JSON export writes and what tests read. */
export interface PlaygroundState {
  config: PlaygroundConfig | null;
  backend: Extract<FromWorker, { type: 'backend' }>['choice'] | null;
  data: string | null;
  classification: boolean;
  rules: { id: string; name: string }[];
  layers: string[];
  /** The step the runs started from (a resumed checkpoint's, else 0); `losses[id][i]` is step `firstStep + i + 1`'s. */
  firstStep: number;
  losses: Record<string, number[]>;
  stepMs: number[];
  evals: { step: number; results: Record<string, { loss: number; accuracy: number | null }> }[];
  diagnostics: { step: number; results: Record<string, Diagnostics | { error: string }> }[];
  skipped: { rule: string; reason: string }[];
  running: boolean;
  done: { step: number; stopped: boolean; seconds: number } | null;
  error: string | null;
}

const state: PlaygroundState = emptyState(null);
(window as unknown as { playground: { state: PlaygroundState } }).playground = { state };

function emptyState(config: PlaygroundConfig | null): PlaygroundState {
  return { config, backend: null, data: null, classification: true, rules: [], layers: [], firstStep: 0, losses: {}, stepMs: [], evals: [], diagnostics: [], skipped: [], running: false, done: null, error: null };
}

let idxFiles: IdxFiles = [];
/** A checkpoint file chosen to resume from: used by the next start only. */
let resume: { name: string; text: string } | null = null;
let imageSide: number | null = null;
let drawPending = false;

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
worker.onmessage = (event: MessageEvent<FromWorker>) => handle(event.data);
worker.onerror = (event) => fail(`the worker failed: ${event.message}`);
const send = (msg: ToWorker, transfer: Transferable[] = []) => worker.postMessage(msg, transfer);

function handle(msg: FromWorker): void {
  switch (msg.type) {
    case 'catalog':
      buildRuleList(msg.rules, msg.defaults.rules);
      for (const p of msg.presets) $('arch').append(new Option(`preset ${p.name}: ${p.description}`, `preset:${p.name}`));
      $<HTMLButtonElement>('start').disabled = false;
      setStatus('ready');
      break;
    case 'backend':
      state.backend = msg.choice;
      $('backend').textContent = `${msg.choice.name}${msg.choice.adapter ? ` (${msg.choice.adapter.description})` : ''}`;
      $('backend').title = msg.choice.reason;
      $('backend').dataset.backend = msg.choice.name;
      break;
    case 'data': {
      state.data = msg.summary;
      state.classification = msg.classification;
      const side = Math.round(Math.sqrt(msg.sampleShape.reduce((a, b) => a * b, 1)));
      imageSide = msg.sampleShape.length === 1 && side * side === msg.sampleShape[0] && side > 4 ? side : null;
      setStatus(`training on ${msg.summary}`);
      break;
    }
    case 'skipped':
      state.skipped.push({ rule: msg.rule, reason: msg.reason });
      note(`${msg.rule}: ${msg.reason}`);
      break;
    case 'runs':
      state.rules = msg.rules;
      state.layers = msg.layers;
      state.firstStep = msg.firstStep;
      if (msg.firstStep > 0) note(`resumed from step ${msg.firstStep}`);
      for (const r of msg.rules) state.losses[r.id] = [];
      buildWeightPanels();
      break;
    case 'losses':
      for (const [id, loss] of Object.entries(msg.losses)) state.losses[id]?.push(loss);
      state.stepMs.push(msg.stepMs);
      setStatus(`step ${msg.step} / ${state.config?.steps} · ${msg.stepMs.toFixed(1)} ms per rule-step`);
      scheduleDraw();
      break;
    case 'eval':
      state.evals.push({ step: msg.step, results: msg.results });
      scheduleDraw();
      break;
    case 'diagnostics':
      state.diagnostics.push({ step: msg.step, results: msg.results });
      for (const [id, r] of Object.entries(msg.results)) if ('error' in r && msg.step === 0) note(`${id}: no diagnostics (${r.error})`);
      scheduleDraw();
      break;
    case 'weights':
      showWeights(msg.rule, msg.images, msg.step);
      break;
    case 'checkpoints':
      download('bioprop-checkpoints.json', 'application/json', msg.text);
      break;
    case 'done':
      state.done = { step: msg.step, stopped: msg.stopped, seconds: msg.seconds };
      finish(`${msg.stopped ? 'stopped' : 'done'} after ${msg.step} steps in ${msg.seconds.toFixed(1)} s`);
      break;
    case 'error':
      fail(msg.message);
      break;
  }
}

function buildRuleList(rules: RuleInfo[], checked: readonly string[]): void {
  const box = $('rules');
  box.replaceChildren();
  for (const r of rules) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = 'rule';
    input.value = r.id;
    input.checked = checked.includes(r.id);
    label.title = r.summary;
    label.append(input, `${r.name} (${r.id})`);
    box.append(label);
  }
}

function setStatus(text: string): void {
  $('status').textContent = text;
}

function note(text: string): void {
  const li = document.createElement('li');
  li.textContent = text;
  $('messages').append(li);
}

function fail(message: string): void {
  state.error = message;
  note(`error: ${message}`);
  finish('failed');
}

function finish(status: string): void {
  state.running = false;
  setStatus(status);
  $<HTMLButtonElement>('start').disabled = false;
  $<HTMLButtonElement>('stop').disabled = true;
  $<HTMLButtonElement>('save-checkpoints').disabled = state.rules.length === 0;
  draw();
}

function num(id: string, min: number): number {
  const v = Number($<HTMLInputElement>(id).value);
  if (!Number.isFinite(v) || v < min) throw new Error(`${$(id).parentElement?.textContent?.trim() ?? id}: enter a number ≥ ${min}`);
  return v;
}

function readConfig(): PlaygroundConfig {
  const rules = [...document.querySelectorAll<HTMLInputElement>('#rules input:checked')].map((i) => i.value);
  if (rules.length === 0) throw new Error('pick at least one rule');
  const archValue = $<HTMLSelectElement>('arch').value;
  let arch: ArchitectureConfig;
  if (archValue === 'mlp') {
    const hidden = $<HTMLInputElement>('hidden')
      .value.split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (hidden.some((h) => !Number.isInteger(h) || h < 1 || h > 4096)) throw new Error('hidden widths: whole numbers from 1 to 4096, e.g. "256, 256"');
    arch = { kind: 'mlp', hidden, activation: $<HTMLSelectElement>('activation').value };
  } else if (archValue === 'conv') arch = { kind: 'conv' };
  else arch = { kind: 'preset', name: archValue.slice('preset:'.length) };
  const dataKind = $<HTMLSelectElement>('data').value as DataConfig['kind'];
  const train = Math.round(num('train-count', 10));
  const test = Math.round(num('test-count', 10));
  const data: DataConfig = dataKind === 'digits' || dataKind === 'idx' ? { kind: dataKind, train, test } : { kind: dataKind };
  const lrText = $<HTMLInputElement>('lr').value.trim();
  const lr = lrText === '' ? null : Number(lrText);
  if (lr !== null && !(lr > 0)) throw new Error('learning rate: a positive number, or blank for each rule’s own');
  return {
    rules,
    arch,
    data,
    backend: $<HTMLSelectElement>('backend-choice').value,
    seed: Math.round(num('seed', 0)),
    batchSize: Math.round(num('batch', 1)),
    steps: Math.round(num('steps', 1)),
    lr,
    evalEvery: Math.round(num('eval-every', 1)),
    diagEvery: Math.round(num('diag-every', 0)),
  };
}

function start(): void {
  let config: PlaygroundConfig;
  try {
    config = readConfig();
  } catch (err) {
    note((err as Error).message);
    return;
  }
  $('messages').replaceChildren();
  Object.assign(state, emptyState(config), { running: true });
  $('backend').textContent = 'starting…';
  setStatus('loading backend and data…');
  $<HTMLButtonElement>('start').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  // copies: the bytes stay usable for the next run
  $<HTMLButtonElement>('save-checkpoints').disabled = true;
  send({
    type: 'start',
    config,
    idxFiles: config.data.kind === 'idx' ? idxFiles.map((f) => ({ name: f.name, bytes: f.bytes.slice() })) : undefined,
    resume: resume ?? undefined,
  });
  resume = null;
  $('resume-status').textContent = '';
  draw();
}

function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    draw();
  });
}

const color = (id: string) => COLORS[Math.max(0, state.rules.findIndex((r) => r.id === id)) % COLORS.length];
const ruleName = (id: string) => state.rules.find((r) => r.id === id)?.id ?? id;

/** One series per rule (and per layer where `layers` > 1), from the diagnostics history. */
function diagSeries(pick: (d: Diagnostics) => (number | null)[]): Series[] {
  const out: Series[] = [];
  for (const r of state.rules) {
    const perLayer: [number, number][][] = [];
    for (const { step, results } of state.diagnostics) {
      const d = results[r.id];
      if (!d || 'error' in d) continue;
      pick(d).forEach((v, l) => {
        if (v === null) return;
        (perLayer[l] ??= []).push([step, v]);
      });
    }
    perLayer.forEach((points, l) => {
      if (points) out.push({ label: perLayer.length > 1 ? `${ruleName(r.id)} L${l}` : ruleName(r.id), color: color(r.id), dash: DASHES[l % DASHES.length], points });
    });
  }
  return out;
}

function draw(): void {
  const svg = (id: string) => document.getElementById(id) as unknown as SVGSVGElement;
  drawChart(
    svg('chart-loss'),
    state.rules.map((r) => ({ label: ruleName(r.id), color: color(r.id), points: (state.losses[r.id] ?? []).map((l, i) => [state.firstStep + i + 1, l] as [number, number]) })),
    { title: 'training loss', yLabel: 'loss', log: $<HTMLInputElement>('log-loss').checked },
  );
  const accSeries = state.rules.map((r) => ({
    label: ruleName(r.id),
    color: color(r.id),
    points: state.evals.map((e) => [e.step, state.classification ? (e.results[r.id]?.accuracy ?? NaN) : (e.results[r.id]?.loss ?? NaN)] as [number, number]),
  }));
  drawChart(svg('chart-acc'), accSeries, state.classification ? { title: 'test accuracy', yLabel: 'accuracy', yMin: 0, yMax: 1 } : { title: 'test loss', yLabel: 'loss' });
  // the last layer's δ is e for every rule that sends the output error down unchanged: hidden layers only
  drawChart(svg('chart-angle'), diagSeries((d) => d.deltaAngleDeg.slice(0, -1)), { title: 'angle to backprop (δ)', yLabel: 'degrees', yMin: 0, yMax: 90 });
  drawChart(svg('chart-pbp'), diagSeries((d) => (d.pbp ? [d.pbp.ruleDeg] : [])), { title: 'angle to pseudobackprop', yLabel: 'degrees', yMin: 0, yMax: 90 });
  const byLayer = (d: Diagnostics, f: (w: Diagnostics['weights'][number]) => number | null) => {
    const out: (number | null)[] = [];
    for (const w of d.weights) out[w.layer] = f(w);
    return Array.from(out, (v) => v ?? null);
  };
  drawChart(svg('chart-align'), diagSeries((d) => byLayer(d, (w) => w.angleDeg)), { title: 'angle(B, Wᵀ)', yLabel: 'degrees', yMin: 0, yMax: 90 });
  drawChart(svg('chart-ratio'), diagSeries((d) => byLayer(d, (w) => w.normRatio)), { title: '‖B‖ / ‖W‖', yLabel: 'ratio' });
  drawChart(svg('chart-cond'), diagSeries((d) => (d.condition ? [d.condition.mean] : [])), { title: 'eᵀWBe (mean)', yLabel: 'eᵀWBe' });
}

function buildWeightPanels(): void {
  const box = $('weights');
  box.querySelectorAll('.weight-row').forEach((n) => n.remove());
  for (const r of state.rules) {
    const row = document.createElement('div');
    row.className = 'weight-row';
    row.id = `weights-${r.id}`;
    row.setAttribute('role', 'group');
    row.setAttribute('aria-label', `${r.name}: weights`);
    const h = document.createElement('h3');
    h.textContent = r.name;
    row.append(h);
    box.append(row);
  }
}

function showWeights(rule: string, images: WeightImage[], step: number): void {
  const row = document.getElementById(`weights-${rule}`);
  if (!row) return;
  for (const w of images) {
    const id = `w-${rule}-${w.layer}-${w.what}`;
    let fig = document.getElementById(id);
    if (!fig) {
      fig = document.createElement('figure');
      fig.id = id;
      fig.append(document.createElement('canvas'), document.createElement('figcaption'));
      row.append(fig);
    }
    const canvas = fig.querySelector('canvas')!;
    const what = drawWeights(canvas, w, w.layer === 0 ? imageSide : null);
    const caption = `${w.what === 'kernel' ? 'W' : 'B'} of ${w.name}: ${what}, step ${step}`;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', caption);
    fig.querySelector('figcaption')!.textContent = caption;
  }
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A checkpoint file sets the form to the config it was trained with; the next start resumes from it. */
async function readResume(file: File | undefined): Promise<void> {
  if (!file) return;
  const text = await file.text();
  let bundle: { format?: string; config?: PlaygroundConfig; runs?: { rule: string; step: number }[] };
  try {
    bundle = JSON.parse(text);
  } catch {
    note(`${file.name}: not a checkpoint file saved by this page`);
    return;
  }
  const c = bundle.config;
  if (bundle.format !== 'bioprop-playground-checkpoints' || !c || !Array.isArray(bundle.runs)) {
    note(`${file.name}: not a checkpoint file saved by this page`);
    return;
  }
  document.querySelectorAll<HTMLInputElement>('#rules input').forEach((i) => (i.checked = c.rules.includes(i.value)));
  const arch = $<HTMLSelectElement>('arch');
  arch.value = c.arch.kind === 'preset' ? `preset:${c.arch.name}` : c.arch.kind;
  if (c.arch.kind === 'mlp') {
    $<HTMLInputElement>('hidden').value = c.arch.hidden.join(', ');
    $<HTMLSelectElement>('activation').value = c.arch.activation;
  }
  $<HTMLSelectElement>('data').value = c.data.kind;
  if (c.data.kind === 'digits' || c.data.kind === 'idx') {
    $<HTMLInputElement>('train-count').value = String(c.data.train);
    $<HTMLInputElement>('test-count').value = String(c.data.test);
  }
  $<HTMLInputElement>('seed').value = String(c.seed);
  $<HTMLInputElement>('batch').value = String(c.batchSize);
  $<HTMLInputElement>('lr').value = c.lr === null ? '' : String(c.lr);
  resume = { name: file.name, text };
  const step = bundle.runs[0]?.step ?? 0;
  $('resume-status').textContent = `${file.name}: ${bundle.runs.map((r) => r.rule).join(', ')} at step ${step}; Start resumes from there`;
}

async function readDropped(files: FileList | File[]): Promise<void> {
  idxFiles = await Promise.all([...files].map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  $('idx-status').textContent = idxFiles.length ? `${idxFiles.map((f) => `${f.name} (${(f.bytes.length / 1e6).toFixed(1)} MB)`).join(', ')}: read locally` : '';
  if (idxFiles.length) $<HTMLSelectElement>('data').value = 'idx';
}

$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  start();
});
$('stop').addEventListener('click', () => send({ type: 'stop' }));
$('save-checkpoints').addEventListener('click', () => send({ type: 'checkpoints' }));
$('resume-file').addEventListener('change', (e) => void readResume((e.target as HTMLInputElement).files?.[0]));
$('log-loss').addEventListener('change', draw);
$('export-json').addEventListener('click', () => download('bioprop-playground.json', 'application/json', JSON.stringify(state, null, 1)));
$('export-svg').addEventListener('click', () => {
  for (const svg of document.querySelectorAll<SVGSVGElement>('#panels svg')) download(`bioprop-${svg.id}.svg`, 'image/svg+xml', svgFile(svg));
});
$('idx-files').addEventListener('change', (e) => void readDropped((e.target as HTMLInputElement).files ?? []));
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer?.files) void readDropped(e.dataTransfer.files);
});
// Lillicrap's task is learned by a 30-20-10 linear network
$('data').addEventListener('change', () => {
  if ($<HTMLSelectElement>('data').value !== 'linear') return;
  $<HTMLSelectElement>('arch').value = 'mlp';
  $<HTMLInputElement>('hidden').value = '20';
  $<HTMLSelectElement>('activation').value = 'linear';
});
$('arch').addEventListener('change', () => {
  const mlp = $<HTMLSelectElement>('arch').value === 'mlp';
  $<HTMLInputElement>('hidden').disabled = !mlp;
  $<HTMLSelectElement>('activation').disabled = !mlp;
});
draw();
