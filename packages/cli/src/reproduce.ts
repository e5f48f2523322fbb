/**
 * Reproductions: one experiment file per published setting (`experiments/reproductions/*.yaml`), each run's results
 * committed under `docs/runs/<setting>/`, and `docs/reproductions.md`: ours (mean ± std over seeds) beside the
 * published figure, with the difference and whether it is within the setting's tolerance.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { ResultsFileError } from './errors.js';
import { loadExperiment, ruleLabel, type Experiment } from './experiment.js';
import { normalizeResult } from './report.js';
import type { RunConfig, RunResult } from './run.js';
import { archLabel, formatInit } from './network.js';
import { canonicalJson } from './sweep.js';
import type { OptimizerConfig } from '@bioprop/core';
import { formatStats, seedStats, type SeedStats } from './stats.js';

/** The experiment files of a reproductions folder, by setting name (the file's name without extension). */
export function listSettings(dir: string): { name: string; file: string }[] {
  if (!existsSync(dir)) throw new ResultsFileError(`${dir}: no reproductions folder here`);
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/i.test(f))
    .sort()
    .map((f) => ({ name: basename(f, extname(f)), file: join(dir, f) }));
}

/** Where one run's committed result lives. */
export const committedRun = (docsRuns: string, setting: string, label: string, seed: number) => join(docsRuns, setting, `${label}-seed${seed}.json`);

/** Where a committed failure lives (a run that diverged or could not train the network). */
export const committedFailure = (docsRuns: string, setting: string, label: string, seed: number) => join(docsRuns, setting, `${label}-seed${seed}.failed.json`);

/** A committed failure's message, or null. */
export function readCommittedFailure(file: string): string | null {
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : 'failed';
  } catch {
    return 'failed';
  }
}

/** A committed run, or null when it has not run yet. */
export function readCommittedRun(file: string): RunResult | null {
  if (!existsSync(file)) return null;
  const st = lstatSync(file);
  if (!st.isFile() || st.size > 64 << 20) throw new ResultsFileError(`${file}: not a results file`);
  let parsed: RunResult;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
  } catch (e) {
    throw new ResultsFileError(`${file}: corrupt (${(e as Error).message})`);
  }
  if (typeof parsed?.rule !== 'string' || !Array.isArray(parsed.history)) throw new ResultsFileError(`${file}: not a run result`);
  return normalizeResult(parsed);
}

/** The number a setting compares for one run. */
export function metricOf(r: RunResult, metric: NonNullable<Experiment['published']>['metric']): number {
  if (metric === 'hiddenAngle') {
    const hidden = r.angleToBackpropDeg.slice(0, -1);
    return hidden.length ? hidden.reduce((a, b) => a + b, 0) / hidden.length : NaN;
  }
  if (metric === 'testLoss') return r.testLoss;
  const v = metric === 'bestValidationError' ? r.bestValidationError : r.testError;
  return v === null ? NaN : 100 * v;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** An optimizer in a few words: `adam lr 0.001`, `momentum 0.9 lr 0.03, weight decay 1e-6, cosine`. */
export function describeOptimizer(o: OptimizerConfig): string {
  const parts = [`${o.name}${o.name === 'momentum' && o.momentum !== undefined ? ` ${o.momentum}` : ''} lr ${o.lr}`];
  if (o.weightDecay) parts.push(`weight decay ${o.weightDecay}`);
  if (o.decoupledDecay) parts.push(`decoupled decay ${o.decoupledDecay}`);
  if (o.clipNorm) parts.push(`clip norm ${o.clipNorm}`);
  if (o.schedule && o.schedule.type !== 'constant') parts.push(o.schedule.type === 'cosine' ? 'cosine schedule' : `×${o.schedule.gamma} every ${o.schedule.every} steps`);
  return parts.join(', ');
}

/** `a (bp, fa), b (dfa)`: each distinct value with the rules (labels, in run order) it is theirs. */
function perRule(runs: RunResult[], value: (r: RunResult) => string): string {
  const groups = new Map<string, string[]>();
  for (const r of runs) {
    const v = value(r);
    const labels = groups.get(v) ?? [];
    if (!labels.includes(r.label)) labels.push(r.label);
    groups.set(v, labels);
  }
  return groups.size === 1 ? [...groups.keys()][0] : [...groups].map(([v, labels]) => `${v} (${labels.join(', ')})`).join('; ');
}

function setupLine(exp: Experiment, runs: RunResult[]): string {
  const r0 = runs[0];
  const arch = exp.arch === null ? 'the default MLP' : typeof exp.arch === 'string' ? exp.arch : 'a layer list';
  const data = `${exp.data.name}${exp.data.limitTrain ? ` (first ${exp.data.limitTrain} training samples)` : ''}${exp.data.validation ? `, last ${exp.data.validation} training samples held out for validation` : ''}`;
  // what the runs trained with (each rule's own where the setting or the rule's tuning gives one), else the setting's
  const opt = runs.length ? perRule(runs, (r) => describeOptimizer(r.optimizer)) : exp.optimizer ? describeOptimizer(exp.optimizer) : "each rule's tuned optimizer";
  const batch = runs.length ? perRule(runs, (r) => String(r.batchSize)) : (exp.batchSize ?? 'per rule');
  return `${data}; ${arch}${exp.activation ? ` ${exp.activation}` : ''}; loss ${r0?.loss ?? exp.loss}; optimizer ${opt}; batch ${batch}; ${exp.epochs} epochs; seeds ${exp.seeds.join(', ')}${r0 ? `; backend ${r0.backend}` : ''}.`;
}

/** Mean over seeds of each epoch's last-hidden-layer angles to BP and to pseudobackprop (alignment metrics). */
function pbpCurve(runs: RunResult[]): { epoch: number; toBp: SeedStats | null; toPbp: SeedStats | null; bpToPbp: SeedStats | null }[] {
  const epochs = Math.min(...runs.map((r) => r.history.length));
  const out = [];
  for (let i = 0; i < epochs; i++) {
    const probes = runs.map((r) => r.history[i].alignment?.pbp ?? null);
    if (probes.some((p) => p === null)) return [];
    const layer = probes[0]!.layer;
    out.push({
      epoch: runs[0].history[i].epoch,
      toBp: seedStats(runs.map((r) => r.history[i].angleToBackpropDeg[layer] ?? NaN)),
      toPbp: seedStats(probes.map((p) => p!.ruleDeg)),
      bpToPbp: seedStats(probes.map((p) => p!.backpropDeg)),
    });
  }
  return out;
}

export interface SettingReport {
  name: string;
  file: string;
  experiment: Experiment;
  runs: RunResult[];
  /** Runs of the setting not yet committed. */
  missing: string[];
  /** Runs that failed (diverged, or could not train the network), with their messages. */
  failed: { label: string; seed: number; error: string }[];
}

/** An optimizer's settings that a run's budget does not decide (a schedule's step count follows the data size). */
function optimizerSettings(o: OptimizerConfig): unknown {
  if (o.schedule?.type !== 'cosine') return o;
  const { totalSteps: _steps, ...schedule } = o.schedule;
  return { ...o, schedule };
}

/**
 * The settings in which a committed run differs from what its setting gives that rule now, as `what: committed →
 * now` (empty when it matches): a committed run trained under an earlier version of the file must not stand for it.
 */
export function staleSettings(run: RunResult, now: RunConfig): string[] {
  const nowInit = now.kernelInit === null ? 'preset' : formatInit(now.kernelInit);
  const checks: [string, unknown, unknown, (v: unknown) => string][] = [
    ['rule', run.rule, now.rule, String],
    ['arch', run.arch, archLabel(now.arch), String],
    ['activation', run.activation, now.activation, String],
    ['loss', run.loss, now.loss, String],
    ['epochs', run.epochs, now.epochs, String],
    ['batch size', run.batchSize, now.batchSize, String],
    ['optimizer', optimizerSettings(run.optimizer), optimizerSettings(now.optimizer), (v) => describeOptimizer(v as OptimizerConfig)],
    ['init', run.kernelInit, nowInit, String],
    ['rule options', run.ruleOptions ?? null, now.ruleOptions ?? null, (v) => JSON.stringify(v)],
  ];
  return checks.filter(([, a, b]) => canonicalJson(a) !== canonicalJson(b)).map(([what, a, b, show]) => {
    const [x, y] = [show(a), show(b)];
    return x === y ? `${what} (${canonicalJson(a)} → ${canonicalJson(b)})` : `${what}: ${x} → ${y}`;
  });
}

/** What is committed for each setting. */
export function collectSettings(settingsDir: string, docsRuns: string): SettingReport[] {
  return listSettings(settingsDir).map(({ name, file }) => {
    const experiment = loadExperiment(file);
    const runs: RunResult[] = [];
    const missing: string[] = [];
    const failed: { label: string; seed: number; error: string }[] = [];
    for (const seed of experiment.seeds) {
      for (const rule of experiment.rules) {
        const label = ruleLabel(rule);
        const r = readCommittedRun(committedRun(docsRuns, name, label, seed));
        const f = r ? null : readCommittedFailure(committedFailure(docsRuns, name, label, seed));
        if (r) runs.push(r);
        else if (f) failed.push({ label, seed, error: f });
        else missing.push(`${label} seed ${seed}`);
      }
    }
    return { name, file, experiment, runs, missing, failed };
  });
}

/** `docs/reproductions.md`. */
export function reproductionsMarkdown(settings: SettingReport[], paths: { out: string; docsRuns: string; command: string }): string {
  const rel = (p: string) => relative(dirname(paths.out), p) || p;
  const lines: string[] = [];
  lines.push('# Reproductions');
  lines.push('');
  lines.push('<!-- generated by `bioprop reproduce`; do not edit by hand -->');
  lines.push('');
  lines.push('Each setting is one experiment file in `experiments/reproductions/`, pinned to the paper\'s setup where our notes give it,');
  lines.push('with every deviation listed. Ours: mean ± sample standard deviation over seeds (each seed\'s value beside it).');
  lines.push('Δ = ours − published. Each run\'s full results (history per epoch, options, timings) are in `docs/runs/<setting>/`.');
  lines.push(`Regenerate (resumable; finished runs are never repeated): \`${paths.command}\`.`);
  lines.push('');
  lines.push('| setting | rules run | seeds | within target |');
  lines.push('|---|---|---|---|');
  const verdicts: string[][] = [];
  for (const s of settings) {
    const pub = s.experiment.published;
    const labels = s.experiment.rules.map(ruleLabel);
    let hit = 0;
    let total = 0;
    for (const label of labels) {
      const tol = pub?.tolerance?.[label];
      const ref = pub?.values[label];
      if (tol === undefined || ref === undefined) continue;
      const stats = seedStats(s.runs.filter((r) => r.label === label).map((r) => metricOf(r, pub!.metric)));
      if (!stats) continue;
      total++;
      if (Math.abs(stats.mean - ref) <= tol) hit++;
    }
    verdicts.push([s.name, `${hit}/${total}`]);
    const done = new Set(s.runs.map((r) => r.label)).size;
    lines.push(`| [${s.name}](#${s.name}) | ${done}/${labels.length}${s.missing.length ? ` (${s.missing.length} runs to go)` : ''} | ${s.experiment.seeds.length} | ${total ? `${hit} of ${total}` : '–'} |`);
  }
  lines.push('');
  for (const s of settings) {
    const exp = s.experiment;
    const pub = exp.published;
    lines.push(`## ${s.name}`);
    lines.push('');
    if (pub?.title) lines.push(`**${pub.title}**`);
    if (exp.description) lines.push(exp.description);
    lines.push('');
    lines.push(`Setup: ${setupLine(exp, s.runs)}`);
    if (exp.compute) lines.push(`Compute: ${exp.compute}.`);
    lines.push(`Config: [${basename(s.file)}](${rel(s.file)}).${pub ? ` Published: ${pub.source}.` : ''}`);
    lines.push('');
    if (exp.deviations.length) {
      lines.push('Deviations from the paper:');
      for (const d of exp.deviations) lines.push(`- ${d}`);
      lines.push('');
    }
    const metric = pub?.metric ?? 'testError';
    const unit = metric === 'hiddenAngle' ? '°' : metric === 'testLoss' ? '' : '%';
    const what = { hiddenAngle: 'mean hidden-layer angle to BP', bestValidationError: 'best validation error', testLoss: 'test loss', testError: 'test error' }[metric];
    lines.push(`| rule | ours: ${what} | per seed | published | Δ | target |`);
    lines.push('|---|---|---|---|---|---|');
    for (const rule of exp.rules) {
      const label = ruleLabel(rule);
      const runs = s.runs.filter((r) => r.label === label);
      const stats = seedStats(runs.map((r) => metricOf(r, metric)));
      const ref = pub?.values[label];
      const tol = pub?.tolerance?.[label];
      const digits = metric === 'testLoss' ? 4 : 2;
      const failedSeeds = s.failed.filter((f) => f.label === label);
      const failNote = failedSeeds.length ? `; diverged or failed in ${failedSeeds.length} of ${exp.seeds.length} seeds` : '';
      const ours = runs.length
        ? `${formatStats(stats, { digits })}${stats ? unit : ''}${stats && stats.n < exp.seeds.length ? ` (${stats.n} of ${exp.seeds.length} seeds${failNote})` : ''}`
        : failedSeeds.length
          ? `did not train: ${failedSeeds.length} of ${exp.seeds.length} seeds failed (${cell(failedSeeds[0].error.slice(0, 80))})`
          : 'not run yet';
      const perSeed = stats ? stats.values.map((v) => v.toFixed(digits)).join(', ') : '–';
      const delta = stats && ref !== undefined ? `${stats.mean - ref >= 0 ? '+' : ''}${(stats.mean - ref).toFixed(2)}` : '–';
      const target = tol === undefined || ref === undefined ? 'reported only' : !stats ? `\\|Δ\\| ≤ ${tol}` : Math.abs(stats.mean - ref) <= tol ? `met (\\|Δ\\| ≤ ${tol})` : `missed (\\|Δ\\| ≤ ${tol})`;
      lines.push(`| ${label} | ${ours} | ${perSeed} | ${ref === undefined ? '–' : `${ref}${unit}`} | ${delta} | ${target} |`);
    }
    lines.push('');
    if (pub?.note) {
      lines.push(pub.note);
      lines.push('');
    }
    if (exp.metrics.alignment) {
      for (const rule of exp.rules) {
        const label = ruleLabel(rule);
        const curve = pbpCurve(s.runs.filter((r) => r.label === label));
        if (!curve.length || label === 'bp') continue;
        const pick = curve.filter((_, i) => i === 0 || i === curve.length - 1 || (i + 1) % Math.max(1, Math.round(curve.length / 8)) === 0);
        lines.push(`${label}: angle of the last hidden layer's teaching signal (mean over seeds) to backprop's and to pseudobackprop's, by epoch:`);
        lines.push('');
        lines.push(`| epoch | ${pick.map((p) => p.epoch).join(' | ')} |`);
        lines.push(`|---|${pick.map(() => '---').join('|')}|`);
        lines.push(`| to BP (°) | ${pick.map((p) => (p.toBp ? p.toBp.mean.toFixed(1) : '–')).join(' | ')} |`);
        lines.push(`| to PBP (°) | ${pick.map((p) => (p.toPbp ? p.toPbp.mean.toFixed(1) : '–')).join(' | ')} |`);
        lines.push(`| BP to PBP (°) | ${pick.map((p) => (p.bpToPbp ? p.bpToPbp.mean.toFixed(1) : '–')).join(' | ')} |`);
        lines.push('');
      }
    }
    if (s.runs.length && existsSync(join(paths.docsRuns, s.name, 'curves.svg'))) {
      lines.push(`![curves of ${s.name}](${rel(join(paths.docsRuns, s.name, 'curves.svg'))})`);
      lines.push('');
    }
    if (s.missing.length) {
      lines.push(`Not run yet: ${s.missing.map(cell).join(', ')} (\`bioprop reproduce ${s.name}\`).`);
      lines.push('');
    }
  }
  return lines.join('\n');
}
