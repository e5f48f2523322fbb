/**
 * Step-time ratios to backprop, measured interleaved so a shared, loaded machine slows every rule alike: each round
 * every trainer (backprop and the rules) takes one step on the same batch, in an order that flips every round so no
 * rule always runs right after another; per rule, the median step time, the fastest step, and the median of its
 * per-round ratios to backprop's step of the same round (and the ratio of the fastest steps).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  createTrainer,
  dense,
  layerFromConfig,
  OptionError,
  preset,
  presets,
  resolveOptimizer,
  sequential,
  type JsonValue,
  type LayerSpec,
  type OptimizerConfig,
  type Rule,
  type Trainer,
} from '@bioprop/core';
import { BACKEND_IDS, useBackend, type BackendId } from './backends.js';
import { disposeBatches, trainingBatches, type BatchSource } from './data.js';
import { ruleEntry } from './rules.js';

/** One rule to time: its id, the options it is created with, and the label it is printed with. */
export interface RuleSpec {
  id: string;
  options: Record<string, unknown>;
  label: string;
}

/**
 * A network: layer widths (`784-256-256-10`: hidden layers take `activation`, the output is linear), a core preset,
 * or a network config as core's `layerFromConfig` reads it (`{ "name"?, "inputShape": [...], "layers": [...] }`).
 */
export type ArchSpec =
  | { kind: 'widths'; label: string; widths: number[] }
  | { kind: 'preset'; label: string; name: string }
  | { kind: 'config'; label: string; inputShape: number[]; layers: JsonValue[] };

export interface StepRatioOptions {
  rules: RuleSpec[];
  archs: ArchSpec[];
  backends: BackendId[];
  batchSize: number;
  /** Interleaved rounds timed (each trainer steps once per round). */
  repeats: number;
  /** Untimed rounds first. */
  warmup: number;
  /** `'tuned'`: each rule with its own tuned optimizer (backprop with its own); else one optimizer for every trainer. */
  optimizer: 'tuned' | OptimizerConfig;
  /** Learning rate 0 for every optimizer: the same compute with weights that never change. */
  frozen: boolean;
  data: BatchSource;
  /** Distinct batches cycled through. */
  batches: number;
  /** Hidden activation of a widths network. */
  activation: string;
  seed: number;
  json: boolean;
}

export const DEFAULT_OPTIONS: Omit<StepRatioOptions, 'rules'> = {
  archs: [{ kind: 'widths', label: '784-256-256-10', widths: [784, 256, 256, 10] }],
  backends: ['wasm'],
  batchSize: 128,
  repeats: 60,
  warmup: 10,
  optimizer: { name: 'momentum', lr: 0.01, momentum: 0.9 },
  frozen: false,
  data: 'auto',
  batches: 40,
  activation: 'tanh',
  seed: 1,
  json: false,
};

/** Split at commas outside parentheses: `a,b(x=1,y=2)` → `a`, `b(x=1,y=2)`. */
export function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** A value as JSON when it parses, else the string itself (`k=10` → 10, `derivative=above` → 'above'). */
function optionValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Rules from `--rules`: ids, each optionally with options, `lra-fdbk(k=10)`, `aa(feedbackSamples=128)`, or a JSON
 * object, `fa({"feedbackInit":{"uniform":0.5}})`.
 */
export function parseRuleSpecs(text: string): RuleSpec[] {
  return splitTopLevel(text).map((part) => {
    const m = /^([a-z][a-z0-9-]*)(?:\((.*)\))?$/s.exec(part);
    if (!m) throw new OptionError(`--rules: cannot read "${part}" (expected id or id(key=value,…))`);
    const [, id, inner] = m;
    let options: Record<string, unknown> = {};
    if (inner !== undefined && inner.trim().startsWith('{')) {
      options = JSON.parse(inner) as Record<string, unknown>;
    } else if (inner !== undefined) {
      for (const kv of splitTopLevel(inner)) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new OptionError(`--rules: "${kv}" in "${part}" is not key=value`);
        options[kv.slice(0, eq).trim()] = optionValue(kv.slice(eq + 1).trim());
      }
    }
    return { id, options, label: part };
  });
}

/**
 * One `--arch`: widths joined by `-` (at least input and output), the name of a core preset, or a network config as
 * JSON (inline, or `@file.json`): `{"name":"lc","inputShape":[28,28,1],"layers":[{"kind":"locallyConnected2d",…},…]}`.
 */
export function parseArch(text: string): ArchSpec {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('@')) {
    const c = JSON.parse(t.startsWith('@') ? readFileSync(t.slice(1), 'utf8') : t) as { name?: string; inputShape?: number[]; layers?: JsonValue[] };
    if (!Array.isArray(c.inputShape) || !Array.isArray(c.layers)) throw new OptionError(`--arch: a network config needs "inputShape" and "layers", got ${t.slice(0, 80)}`);
    c.layers.forEach((l, i) => layerFromConfig(l, `--arch layers[${i}]`)); // a bad layer is an error now, not after the warm-up
    return { kind: 'config', label: c.name ?? (t.startsWith('@') ? t.slice(1) : 'custom'), inputShape: c.inputShape, layers: c.layers };
  }
  if (/^\d+(-\d+)+$/.test(t)) {
    const widths = t.split('-').map(Number);
    if (widths.some((w) => w < 1)) throw new OptionError(`--arch ${t}: widths must be positive`);
    return { kind: 'widths', label: t, widths };
  }
  if (!Object.hasOwn(presets, t)) {
    throw new OptionError(`--arch: "${t}" is neither widths (784-256-256-10) nor a preset (${Object.keys(presets).join(', ')})`);
  }
  return { kind: 'preset', label: t, name: t };
}

/** The network of an arch: its input shape, its classes and its layers. */
export function archNetwork(arch: ArchSpec, activation = 'tanh'): { inputShape: number[]; classes: number; layers: LayerSpec[] } {
  if (arch.kind === 'widths') {
    const w = arch.widths;
    const layers = [...w.slice(1, -1).map((units) => dense({ units, activation })), dense({ units: w[w.length - 1] })];
    return { inputShape: [w[0]], classes: w[w.length - 1], layers };
  }
  if (arch.kind === 'config') {
    const layers = arch.layers.map((l, i) => layerFromConfig(l, `layers[${i}]`));
    const probe = sequential({ inputShape: arch.inputShape, layers, seed: 0 });
    const classes = probe.outputShape.reduce((a, b) => a * b, 1);
    probe.dispose();
    return { inputShape: [...arch.inputShape], classes, layers: arch.layers.map((l, i) => layerFromConfig(l, `layers[${i}]`)) };
  }
  const p = preset(arch.name);
  const built = p.build(p.defaultInput);
  return { inputShape: built.inputShape, classes: p.defaultInput.classes, layers: built.layers };
}

/** The value after `--name` (or in `--name=value`), or undefined. */
function flag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

function positiveInt(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new OptionError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** The shared optimizer's learning rate when `--lr` is left out. */
const DEFAULT_LR: Record<string, number> = { sgd: 0.01, momentum: 0.01, adam: 1e-3, rmsprop: 1e-3 };

const KNOWN_FLAGS = ['rules', 'arch', 'backend', 'batch-size', 'repeats', 'warmup', 'optimizer', 'lr', 'frozen', 'data', 'batches', 'activation', 'seed', 'json', 'help'];

/**
 * The harness's command line:
 * `--rules fa,dfa,lra-fdbk(k=10)` (required), `--arch 784-256-256-10,nokland-7x240,lenet5`, `--backend wasm,blas`,
 * `--batch-size 128`, `--repeats 60`, `--warmup 10`, `--optimizer momentum|sgd|adam|… [--lr 0.01]` or
 * `--optimizer tuned`, `--frozen`, `--data auto|digits|random`, `--batches 40`, `--activation tanh`, `--seed 1`,
 * `--json`.
 */
export function parseStepRatioArgs(argv: readonly string[]): StepRatioOptions {
  for (const a of argv) {
    if (!a.startsWith('--')) continue;
    const name = a.slice(2).split('=')[0];
    if (!KNOWN_FLAGS.includes(name)) throw new OptionError(`unknown flag --${name} (known: ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')})`);
  }
  const rulesText = flag(argv, 'rules');
  if (!rulesText) throw new OptionError('--rules is required, e.g. --rules fa,dfa');
  const rules = parseRuleSpecs(rulesText).filter((r) => !(r.id === 'bp' && Object.keys(r.options).length === 0));
  const archText = flag(argv, 'arch');
  const archs = archText ? splitTopLevel(archText).map(parseArch) : DEFAULT_OPTIONS.archs;
  const backendText = flag(argv, 'backend');
  const backends = backendText ? splitTopLevel(backendText) : DEFAULT_OPTIONS.backends;
  for (const b of backends) if (!BACKEND_IDS.includes(b as BackendId)) throw new OptionError(`--backend: unknown "${b}" (known: ${BACKEND_IDS.join(', ')})`);
  const optimizerName = flag(argv, 'optimizer');
  const lrText = flag(argv, 'lr');
  let optimizer: StepRatioOptions['optimizer'] = DEFAULT_OPTIONS.optimizer;
  if (optimizerName === 'tuned') {
    if (lrText !== undefined) throw new OptionError('--lr applies to one shared optimizer, not to --optimizer tuned');
    optimizer = 'tuned';
  } else if (optimizerName !== undefined || lrText !== undefined) {
    const name = optimizerName ?? (DEFAULT_OPTIONS.optimizer as OptimizerConfig).name;
    const lr = lrText === undefined ? undefined : Number(lrText);
    if (lr !== undefined && !(lr >= 0)) throw new OptionError(`--lr must be a number ≥ 0, got ${JSON.stringify(lrText)}`);
    const config = { name, lr: lr ?? DEFAULT_LR[name] ?? 0.01, ...(name === 'momentum' ? { momentum: 0.9 } : {}) };
    resolveOptimizer(config as never); // an unknown name is an error here, not after the warm-up
    optimizer = config as OptimizerConfig;
  }
  const data = (flag(argv, 'data') ?? 'auto') as BatchSource;
  if (!['auto', 'digits', 'random'].includes(data)) throw new OptionError(`--data must be auto, digits or random, got ${JSON.stringify(data)}`);
  return {
    rules,
    archs,
    backends: backends as BackendId[],
    batchSize: positiveInt('batch-size', flag(argv, 'batch-size'), DEFAULT_OPTIONS.batchSize),
    repeats: positiveInt('repeats', flag(argv, 'repeats'), DEFAULT_OPTIONS.repeats),
    warmup: positiveInt('warmup', flag(argv, 'warmup'), DEFAULT_OPTIONS.warmup, 0),
    optimizer,
    frozen: argv.includes('--frozen'),
    data,
    batches: positiveInt('batches', flag(argv, 'batches'), DEFAULT_OPTIONS.batches),
    activation: flag(argv, 'activation') ?? DEFAULT_OPTIONS.activation,
    seed: positiveInt('seed', flag(argv, 'seed'), DEFAULT_OPTIONS.seed, 0),
    json: argv.includes('--json'),
  };
}

/** The median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The order trainers step in round `round`: 0…n−1 on even rounds, reversed on odd ones. */
export function interleavedOrder(round: number, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  return round % 2 === 0 ? order : order.reverse();
}

export interface StepRatioRow {
  arch: string;
  backend: BackendId;
  /** The rule as given (`lra-fdbk(k=10)`); `bp` for the reference. */
  rule: string;
  optimizer: string;
  /** Median and fastest step, ms. */
  medianMs: number;
  minMs: number;
  /** Backprop's median step in the same rounds, ms. */
  bpMedianMs: number;
  /** Median over rounds of (this rule's step / backprop's step in that round). */
  medianRatio: number;
  /** Fastest step over backprop's fastest step. */
  minRatio: number;
}

/** Per-round step times of several trainers (index 0 the reference) into rows of medians and ratios. */
export function summarize(times: readonly (readonly number[])[]): { medianMs: number; minMs: number; medianRatio: number; minRatio: number }[] {
  const ref = times[0];
  return times.map((t) => ({
    medianMs: median(t),
    minMs: Math.min(...t),
    medianRatio: median(t.map((v, r) => v / ref[r])),
    minRatio: Math.min(...t) / Math.min(...ref),
  }));
}

function optimizerFor(o: StepRatioOptions, spec: RuleSpec): OptimizerConfig {
  const base = o.optimizer === 'tuned' ? ruleEntry(spec.id).defaults.optimizer : o.optimizer;
  return o.frozen ? { ...base, lr: 0 } : base;
}

const describeOptimizer = (c: OptimizerConfig) => `${c.name} ${c.lr}`;

/** Create every rule once first, so a bad id or option fails before any timing. */
export function checkRules(specs: readonly RuleSpec[]): void {
  for (const s of specs) ruleEntry(s.id).create(s.options);
}

/**
 * Time backprop and `o.rules` interleaved on every arch and backend. `log` gets progress lines (stderr in the
 * script). Trainers and batches are made on the backend they run on and disposed after.
 */
export async function measureStepRatios(o: StepRatioOptions, log: (line: string) => void = () => {}): Promise<StepRatioRow[]> {
  const specs: RuleSpec[] = [{ id: 'bp', options: {}, label: 'bp' }, ...o.rules];
  const rows: StepRatioRow[] = [];
  for (const backend of o.backends) {
    await useBackend(backend);
    for (const arch of o.archs) {
      const net = archNetwork(arch, o.activation);
      const { batches, source } = await trainingBatches({ inputShape: net.inputShape, classes: net.classes, batchSize: o.batchSize, count: o.batches, source: o.data, seed: o.seed });
      const trainers: Trainer[] = [];
      try {
        for (const spec of specs) {
          const { layers, inputShape } = archNetwork(arch, o.activation);
          const network = sequential({ inputShape, layers, seed: o.seed });
          const rule: Rule = ruleEntry(spec.id).create(spec.options);
          trainers.push(createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizerFor(o, spec) as never), seed: o.seed }));
        }
        log(`${arch.label} on ${backend} (${tf.getBackend()}), batch ${o.batchSize}, ${source}: ${o.warmup} warm-up + ${o.repeats} timed rounds of ${specs.map((s) => s.label).join(', ')}`);
        let next = 0;
        const times: number[][] = specs.map(() => []);
        for (let round = 0; round < o.warmup + o.repeats; round++) {
          const { x, y } = batches[next++ % batches.length];
          for (const i of interleavedOrder(round, trainers.length)) {
            const t0 = performance.now();
            trainers[i].step(x, y); // returns the loss read back, so the step has finished
            const ms = performance.now() - t0;
            if (round >= o.warmup) times[i].push(ms);
          }
        }
        const summary = summarize(times);
        specs.forEach((spec, i) => {
          rows.push({
            arch: arch.label,
            backend,
            rule: spec.label,
            optimizer: describeOptimizer(optimizerFor(o, spec)),
            ...summary[i],
            bpMedianMs: summary[0].medianMs,
          });
        });
      } finally {
        for (const t of trainers) {
          t.dispose();
          t.network.dispose();
        }
        disposeBatches(batches);
      }
    }
  }
  return rows;
}

/** The rows as a Markdown table. */
export function formatTable(rows: readonly StepRatioRow[]): string {
  const lines = [
    '| net | backend | rule | optimizer | median ms/step | fastest ms/step | backprop median ms/step | median ratio to backprop | fastest ÷ backprop fastest |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.arch} | ${r.backend} | ${r.rule} | ${r.optimizer} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.bpMedianMs.toFixed(2)} | ${r.medianRatio.toFixed(3)} | ${r.minRatio.toFixed(3)} |`,
    );
  }
  return lines.join('\n');
}
