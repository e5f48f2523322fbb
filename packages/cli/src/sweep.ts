/**
 * Sweeps: a grid or random search over any keys of an experiment file. Each trial is the experiment with its overrides
 * and one seed, keyed by the SHA-256 of its resolved experiment, run in its own child process (`bioprop run`), at most
 * N at once. Finished trials go to `trials.jsonl`, one line each, so a rerun with `--resume` skips what is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OptionError, custom, list, num, oneOf, options, str, type JsonValue } from '@bioprop/core';
import { EXIT, UsageError } from './errors.js';
import type { ResultsFile } from './execute.js';
import { applySet, parseExperiment, readExperimentDocument, type Experiment } from './experiment.js';
import { applyPoint, gridPoints, gridSchema, type GridPoint, type GridSpec } from './sweep-grid.js';
import { makeDirs, utcStamp, writeFileAtomic } from './run-folder.js';

export const SWEEP_FILE = 'sweep.json';
export const TRIALS_FILE = 'trials.jsonl';

/** A random search's distribution of one path. */
export type SpaceEntry = { values: JsonValue[] } | { logUniform: [number, number] } | { uniform: [number, number] };

export interface SweepSpec {
  name: string;
  /** The experiment file, relative to the sweep file. */
  experiment: string;
  /** Overrides every trial gets. */
  set: Record<string, JsonValue>;
  /** Axes by settings path (or name, for variants and factors), or a list of such grids (their union): see sweep-grid.ts. */
  grid: GridSpec;
  random: { samples: number; seed: number; space: Record<string, SpaceEntry> } | null;
  /** One trial per seed (absent: the experiment's own seeds, as each grid point leaves them). */
  seeds: number[] | null;
  /**
   * Asynchronous successive halving (ASHA): every trial first trains `minEpochs`; the best 1/`factor` of a rung
   * (by `metric`) train on to `factor` times as many epochs, up to the experiment's epochs. With `groupBy`, the best
   * 1/`factor` of each group of trials equal at those swept keys (e.g. `arch`: each architecture keeps its own best).
   */
  halving: { minEpochs: number; factor: number; metric: HalvingMetric; groupBy: string[] } | null;
}

export type HalvingMetric = 'bestValidationError' | 'testError' | 'trainLoss';

/** One trial: its overrides (swept paths only), its seed and its resolved experiment. */
export interface Trial {
  key: string;
  overrides: Record<string, JsonValue>;
  seed: number;
  experiment: Experiment;
}

/** `sweep.json`: the resolved sweep, enough to rerun it without the original files. */
export interface SweepFile {
  kind: 'bioprop-sweep';
  spec: SweepSpec;
  /** The sweep file and experiment file it was read from. */
  source: { sweep: string; experiment: string };
  /** The experiment document before any override (as read from its file). */
  document: Record<string, unknown>;
  maxSteps: number | null;
  created: string;
  trials: { key: string; overrides: Record<string, JsonValue>; seed: number }[];
}

export interface TrialMetrics {
  testError: number | null;
  bestValidationError: number | null;
  trainLoss: number | null;
  /** Wall-clock seconds of the trial's process. */
  seconds: number;
}

/** One line of `trials.jsonl`. */
export interface TrialRecord {
  key: string;
  overrides: Record<string, JsonValue>;
  seed: number;
  status: 'ok' | 'failed';
  metrics: TrialMetrics;
  error?: string;
  started: string;
  finished: string;
  /** The trial's run folder, relative to the sweep folder. */
  runFolder: string | null;
  /** With `halving`: the rung (0 first) and the epochs trained so far. */
  rung?: number;
  epochs?: number;
  /**
   * With `--queue`: the worker that ran the trial (`host:pid`) and its run folder there (on that machine). The
   * results it sent back through Redis are in `trials/<key>/results.json`.
   */
  worker?: { id: string; runFolder: string | null };
}

/** One step of a trial: its first run (or, with a run folder, training on) to this many epochs. */
export interface Stage {
  epochs?: number;
  rung?: number;
  resumeFolder?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const PATH_RE = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;

function pathMap<T>(what: string, value: (v: unknown, path: string) => T) {
  return custom<Record<string, T>>(
    `an object of ${what} by settings path (e.g. "rule.options.feedbackInit")`,
    (v, path) => {
      if (!isObject(v)) return undefined;
      const out: Record<string, T> = {};
      for (const [k, x] of Object.entries(v)) {
        if (!PATH_RE.test(k) || k.split('.').some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype')) {
          throw new OptionError(`${path}: "${k}" is not a settings path (keys joined by ., e.g. rule.options.lr)`);
        }
        out[k] = value(x, `${path}.${k}`);
      }
      return out;
    },
    { type: 'object' },
  );
}

const range = (path: string, v: unknown, positive: boolean): [number, number] => {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)) || !(v[0] < v[1]) || (positive && v[0] <= 0)) {
    throw new OptionError(`${path} must be [low, high] with low < high${positive ? ' and low > 0' : ''}, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
};

const spaceEntry = (v: unknown, path: string): SpaceEntry => {
  if (!isObject(v) || Object.keys(v).length !== 1) throw new OptionError(`${path} must be one of { values: [...] }, { logUniform: [lo, hi] }, { uniform: [lo, hi] }, got ${JSON.stringify(v)}`);
  const [k] = Object.keys(v);
  if (k === 'values') return { values: nonEmptyList(v.values, `${path}.values`) };
  if (k === 'logUniform') return { logUniform: range(`${path}.logUniform`, v.logUniform, true) };
  if (k === 'uniform') return { uniform: range(`${path}.uniform`, v.uniform, false) };
  throw new OptionError(`${path}: unknown option "${k}" (known: values, logUniform, uniform)`);
};

const nonEmptyList = (v: unknown, path: string): JsonValue[] => {
  if (!Array.isArray(v) || v.length === 0) throw new OptionError(`${path} must be a non-empty array of values, got ${JSON.stringify(v)}`);
  return v as JsonValue[];
};

const sweepSchema = options({
  $schema: str().optional(),
  name: custom<string>('a name of letters, digits, ., _ and - (it names the sweep folder)', (v) => (typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$/.test(v) ? v : undefined), { type: 'string' }),
  description: str().optional(),
  experiment: str().describe('the experiment file, relative to the sweep file'),
  set: pathMap('fixed values', (x) => x as JsonValue).default({}),
  grid: gridSchema.default({}),
  random: options({
    samples: num({ min: 1, max: 100000, integer: true }),
    seed: num({ min: 0, max: 0xffffffff, integer: true }).default(0),
    space: pathMap('distributions', spaceEntry),
  })
    .nullable()
    .default(null),
  seeds: list(num({ min: 0, max: 0xffffffff, integer: true }), { minItems: 1 }).nullable().default(null),
  halving: options({
    minEpochs: num({ min: 1, integer: true }).describe('epochs every trial trains first'),
    factor: num({ min: 2 }).default(3).describe('keep the best 1/factor of each rung; the next rung trains factor times as many epochs'),
    metric: oneOf('bestValidationError', 'testError', 'trainLoss').default('bestValidationError').describe('what ranks trials (lower is better)'),
    groupBy: list(str()).default([]).describe('swept keys whose values split the trials into groups ranked apart (e.g. [arch]: the best of each architecture go on)'),
  })
    .nullable()
    .default(null),
});

/** Validate a sweep document (unknown keys are usage errors naming the path). */
export function parseSweep(doc: unknown, where = 'sweep'): SweepSpec {
  try {
    const { $schema: _s, description: _d, ...spec } = sweepSchema.parse(doc, where);
    return spec as SweepSpec;
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.message);
    throw e;
  }
}

/** A small seeded generator (mulberry32): the same seed draws the same random trials on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Four significant digits: random values stay readable in tables and keys. */
const round = (x: number) => Number(x.toPrecision(4));

/** The override combinations: the grid's points, each with every random sample. */
export function combinations(spec: SweepSpec): Record<string, JsonValue>[] {
  return sweepPoints(spec).map((p) => p.overrides);
}

/** The grid's points (see sweep-grid.ts), each with every random sample (its paths set after the grid's). */
function sweepPoints(spec: SweepSpec): GridPoint[] {
  let combos = gridPoints(spec.grid);
  if (spec.random) {
    const next = rng(spec.random.seed);
    const samples = Array.from({ length: spec.random.samples }, () => {
      const s: Record<string, JsonValue> = {};
      for (const [path, d] of Object.entries(spec.random!.space)) {
        if ('values' in d) s[path] = d.values[Math.floor(next() * d.values.length)];
        else if ('uniform' in d) s[path] = round(d.uniform[0] + next() * (d.uniform[1] - d.uniform[0]));
        else s[path] = round(Math.exp(Math.log(d.logUniform[0]) + next() * (Math.log(d.logUniform[1]) - Math.log(d.logUniform[0]))));
      }
      return s;
    });
    combos = combos.flatMap((c) => samples.map((s) => ({ overrides: { ...c.overrides, ...s }, sets: [...c.sets, ...Object.entries(s)], multiplies: c.multiplies })));
  }
  return combos;
}

/** JSON with object keys sorted: equal experiments give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export const trialKey = (experiment: Experiment): string => createHash('sha256').update(canonicalJson(experiment)).digest('hex').slice(0, 16);

/** How a trial is named in messages: `lr=0.01 seed 1`. */
export const describeOverrides = (o: Record<string, JsonValue>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');

/**
 * Every trial of a sweep, each experiment validated before anything runs: a bad value in one grid cell is a usage
 * error naming the cell.
 */
export function expandTrials(spec: SweepSpec, document: Record<string, unknown>, maxSteps: number | null): Trial[] {
  const base = structuredClone(document);
  for (const [path, v] of Object.entries(spec.set)) applySet(base, `${path}=${JSON.stringify(v)}`);
  if (maxSteps !== null) base.maxSteps = maxSteps;
  const baseSeeds = spec.seeds ?? parseExperiment(structuredClone(base), `sweep ${spec.name}: experiment`).seeds;
  const trials: Trial[] = [];
  const seen = new Set<string>();
  for (const point of sweepPoints(spec)) {
    const { overrides } = point;
    for (const seed of spec.seeds ?? pointSeeds(spec, base, point, baseSeeds)) {
      const where = `sweep ${spec.name}, trial ${describeOverrides(overrides) || '(no overrides)'} seed ${seed}: experiment`;
      const doc = structuredClone(base);
      try {
        applyPoint(doc, point);
      } catch (e) {
        throw new UsageError(`${where}: ${(e as Error).message}`);
      }
      doc.seeds = [seed];
      const experiment = parseExperiment(doc, where);
      if (experiment.rules.length !== 1) throw new UsageError(`${where}: a sweep trial trains one rule (sweep over rule instead of listing rules), got ${experiment.rules.length}`);
      if (spec.halving) {
        if (spec.halving.minEpochs >= experiment.epochs) throw new UsageError(`${where}: halving.minEpochs (${spec.halving.minEpochs}) must be below the experiment's epochs (${experiment.epochs})`);
        if (spec.halving.metric === 'bestValidationError' && experiment.data.validation === 0) {
          throw new UsageError(`${where}: halving ranks trials by bestValidationError, which needs data.validation > 0 (or choose halving.metric)`);
        }
      }
      if (spec.halving) {
        for (const k of spec.halving.groupBy) {
          if (!Object.hasOwn(overrides, k)) throw new UsageError(`${where}: halving.groupBy names "${k}", which this trial does not sweep (swept: ${Object.keys(overrides).join(', ') || 'nothing'})`);
        }
      }
      const key = trialKey(experiment);
      // random samples can repeat a grid point: one trial each
      if (seen.has(key)) continue;
      seen.add(key);
      trials.push({ key, overrides, seed, experiment });
    }
  }
  return trials;
}

/** Without the sweep's own seeds, a point may set the experiment's (a stage run over more seeds). */
function pointSeeds(spec: SweepSpec, base: Record<string, unknown>, point: GridPoint, baseSeeds: number[]): number[] {
  const doc = structuredClone(base);
  try {
    applyPoint(doc, point);
  } catch {
    // the trial reports it, naming its seed
    return baseSeeds;
  }
  if (canonicalJson(doc.seeds) === canonicalJson(base.seeds)) return baseSeeds;
  const s = doc.seeds;
  if (!Array.isArray(s) || s.length === 0 || !s.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
    throw new UsageError(`sweep ${spec.name}, trial ${describeOverrides(point.overrides)}: experiment.seeds must be a non-empty list of integers in [0, 4294967295], got ${JSON.stringify(s)}`);
  }
  return s as number[];
}

/** Read a sweep file and its experiment file (relative to the sweep file). */
export function readSweep(file: string): { spec: SweepSpec; document: Record<string, unknown>; experimentFile: string } {
  let doc: Record<string, unknown>;
  try {
    doc = readExperimentDocument(file);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replace('an experiment file', 'a sweep file').replace('the experiment file', 'the sweep file'));
    throw e;
  }
  const spec = parseSweep(doc, file);
  const experimentFile = resolve(dirname(file), spec.experiment);
  return { spec, document: readExperimentDocument(experimentFile), experimentFile };
}

/** The lines of a store (a line cut short by a crash is skipped). */
export function readStore(folder: string): TrialRecord[] {
  const file = join(folder, TRIALS_FILE);
  if (!existsSync(file)) return [];
  const out: TrialRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as TrialRecord;
      if (typeof r.key === 'string' && (r.status === 'ok' || r.status === 'failed')) out.push(r);
    } catch {
      // a partial last line from a crash
    }
  }
  return out;
}

/** Append one record as one write of one line. */
export function appendRecord(folder: string, record: TrialRecord): void {
  appendFileSync(join(folder, TRIALS_FILE), `${JSON.stringify(record)}\n`);
}

export function readSweepFile(folder: string): SweepFile {
  const file = join(folder, SWEEP_FILE);
  if (!existsSync(file)) throw new UsageError(`${folder}: not a sweep folder (${SWEEP_FILE} is missing)`);
  let value: SweepFile;
  try {
    value = JSON.parse(readFileSync(file, 'utf8')) as SweepFile;
  } catch (e) {
    throw new UsageError(`${file}: corrupt (${(e as Error).message})`);
  }
  if (value?.kind !== 'bioprop-sweep' || !isObject(value.document)) throw new UsageError(`${file}: not a bioprop sweep file`);
  return value;
}

/** Make `<root>/<name>-<UTC>` (suffixed when taken) for a new sweep. */
export function createSweepFolder(root: string, name: string): string {
  try {
    makeDirs(root);
  } catch (e) {
    throw new UsageError(`runs folder ${root}: cannot create it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const base = join(root, `${name}-${utcStamp()}`);
  for (let i = 1; i < 1000; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`sweep folder ${dir}: cannot create it (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  throw new UsageError(`sweep folder ${base}: too many sweeps started in the same second`);
}

/** The CLI's executable beside this module (dist/bin.js), else the script this process runs. */
function cliScript(): string {
  const here = fileURLToPath(new URL('./bin.js', import.meta.url));
  return existsSync(here) ? here : process.argv[1];
}

/** This process's node flags (module hooks, memory limits) for the trials, without a debugger's port. */
const nodeFlags = () => process.execArgv.filter((a) => !/^--inspect/.test(a));

const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** What one trial's child process left: its store line and the results file it wrote (null when it wrote none). */
export interface TrialOutcome {
  record: TrialRecord;
  results: ResultsFile | null;
}

/**
 * Run one trial in a child process: `bioprop run <trial.json> --runs-dir <folder>/trials/<key> --out result.json`.
 * Local sweeps and queue workers (`bioprop worker`) both run trials through this; `track` gets the child while it runs
 * (null once it has exited), so an interrupt can stop it.
 */
export function executeTrial(folder: string, trial: Trial, track: (c: ChildProcess | null) => void, stage: Stage = {}): Promise<TrialOutcome> {
  const dir = join(folder, 'trials', trial.key);
  makeDirs(dir);
  const experimentFile = join(dir, 'trial.json');
  writeFileAtomic(experimentFile, `${JSON.stringify(trial.experiment, null, 2)}\n`);
  const out = join(dir, `result-${utcStamp()}-${process.pid}-${stage.rung ?? 0}.json`);
  const log = join(dir, 'log.txt');
  const fd = openSync(log, 'a');
  const started = new Date();
  const epochs = stage.epochs === undefined ? [] : ['--epochs', String(stage.epochs)];
  const args = stage.resumeFolder ? ['--resume', join(folder, stage.resumeFolder), ...epochs] : [experimentFile, '--runs-dir', dir, ...epochs];
  const child = spawn(process.execPath, [...nodeFlags(), cliScript(), 'run', ...args, '--out', out, '--force'], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  track(child);
  return new Promise<TrialOutcome>((res) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      closeSync(fd);
      track(null);
      const finished = new Date();
      let results: ResultsFile | null = null;
      try {
        if (existsSync(out)) results = JSON.parse(readFileSync(out, 'utf8')) as ResultsFile;
      } catch {
        results = null;
      }
      const run = results?.runs?.[0];
      const metrics: TrialMetrics = {
        testError: finite(run?.testError),
        bestValidationError: finite(run?.bestValidationError),
        trainLoss: finite(run?.trainLoss),
        seconds: Math.round((finished.getTime() - started.getTime()) / 10) / 100,
      };
      const runFolder = stage.resumeFolder ?? (results ? findRunFolder(folder, trial.key) : null);
      const ok = code === EXIT.ok && run !== undefined && !results?.failures?.length;
      const record: TrialRecord = { key: trial.key, overrides: trial.overrides, seed: trial.seed, status: ok ? 'ok' : 'failed', metrics, started: started.toISOString(), finished: finished.toISOString(), runFolder };
      if (stage.rung !== undefined) Object.assign(record, { rung: stage.rung, epochs: stage.epochs });
      if (!ok) {
        record.error =
          spawnError?.message ??
          results?.failures?.[0]?.error ??
          lastError(log) ??
          (signal ? `killed by ${signal}` : `exit code ${code}`);
      }
      res({ record, results });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** The last `bioprop: …error…` line a trial printed. */
function lastError(log: string): string | null {
  try {
    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => /error|failed/i.test(l));
    return lines.length ? lines[lines.length - 1].replace(/^bioprop: /, '').trim() : null;
  } catch {
    return null;
  }
}

const runTrial = async (folder: string, trial: Trial, track: (c: ChildProcess | null) => void, stage: Stage = {}): Promise<TrialRecord> => (await executeTrial(folder, trial, track, stage)).record;

function findRunFolder(folder: string, key: string): string | null {
  const dir = join(folder, 'trials', key);
  try {
    const runs = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    return runs.length ? join('trials', key, runs[runs.length - 1]) : null;
  } catch {
    return null;
  }
}

/** How a finished trial is reported: `ok <key> lr=0.1 seed 1: test error 3.20% (2.1 s)`. */
export function outcomeLine(record: TrialRecord): string {
  const what = `${describeOverrides(record.overrides) || '(base)'} seed ${record.seed}`;
  const err = record.metrics.testError;
  return `${record.status} ${record.key} ${what}: ${record.status === 'ok' ? `test error ${err === null ? '–' : `${(err * 100).toFixed(2)}%`}` : record.error} (${record.metrics.seconds} s)`;
}

export interface SweepRunOptions {
  folder: string;
  trials: Trial[];
  workers: number;
  note: (line: string) => void;
}

/**
 * Run the trials not already done (an `ok` line in the store), at most `workers` at once. Ctrl-C stops launching,
 * kills the running children and keeps the store (their trials rerun on `--resume`).
 */
export async function runTrials(opts: SweepRunOptions): Promise<{ ran: number; failed: number; skipped: number; interrupted: boolean }> {
  const done = new Set(readStore(opts.folder).filter((r) => r.status === 'ok').map((r) => r.key));
  const todo = opts.trials.filter((t) => !done.has(t.key));
  const skipped = opts.trials.length - todo.length;
  if (skipped) opts.note(`${skipped} of ${opts.trials.length} trials already done`);
  const children = new Set<ChildProcess>();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    opts.note(`interrupt: launching no more trials; stopping ${children.size} running (they rerun on --resume)`);
    for (const c of children) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSigint);
  let next = 0;
  let ran = 0;
  let failed = 0;
  const worker = async () => {
    while (!interrupted && next < todo.length) {
      const trial = todo[next++];
      let child: ChildProcess | null = null;
      const record = await runTrial(opts.folder, trial, (c) => {
        if (c) children.add((child = c));
        else if (child) children.delete(child);
      });
      // a trial killed by Ctrl-C is not a result: it reruns on --resume
      if (interrupted && record.status !== 'ok') break;
      appendRecord(opts.folder, record);
      ran++;
      if (record.status === 'failed') failed++;
      opts.note(`[${ran + skipped}/${opts.trials.length}] ${outcomeLine(record)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.workers, todo.length)) }, worker));
  } finally {
    process.off('SIGINT', onSigint);
  }
  return { ran, failed, skipped, interrupted };
}

/**
 * The records of a rung that successive halving may promote, best first: the best ⌊n/factor⌋ of each group of records
 * equal at the `groupBy` overrides (one group when it is empty).
 */
export function promotable(done: readonly TrialRecord[], factor: number, score: (r: TrialRecord) => number, groupBy: readonly string[]): TrialRecord[] {
  const groups = new Map<string, TrialRecord[]>();
  for (const r of done) {
    const g = JSON.stringify(groupBy.map((k) => r.overrides[k] ?? null));
    const list = groups.get(g);
    if (list) list.push(r);
    else groups.set(g, [r]);
  }
  const kept = [...groups.values()].flatMap((g) => [...g].sort((a, b) => score(a) - score(b)).slice(0, Math.floor(g.length / factor)));
  return kept.sort((a, b) => score(a) - score(b));
}

/** The epochs of each rung: minEpochs, ×factor, … below the full budget, then the full budget. */
export function rungEpochs(minEpochs: number, factor: number, epochs: number): number[] {
  const out: number[] = [];
  for (let e = minEpochs; e < epochs; e = Math.max(e + 1, Math.round(e * factor))) out.push(e);
  out.push(epochs);
  return out;
}

/**
 * ASHA (Li et al. 2020) on local workers: a free worker promotes the best trial of the highest rung that has one in
 * its top 1/factor not yet promoted, else starts a new trial at rung 0. Promotion trains the same run folder on
 * (`bioprop run --resume <folder> --epochs e`), or, for a rung a queue worker ran (its checkpoint is on that machine),
 * trains the trial afresh to the rung's epochs. The store holds one line per rung reached, so a rerun picks up the
 * rungs where they stood.
 */
export async function runHalving(opts: SweepRunOptions & { halving: NonNullable<SweepSpec['halving']> }): Promise<{ ran: number; failed: number; skipped: number; interrupted: boolean }> {
  const { halving } = opts;
  const budget = opts.trials[0]?.experiment.epochs ?? 1;
  const rungs = rungEpochs(halving.minEpochs, halving.factor, budget);
  const top = rungs.length - 1;
  const byKey = new Map(opts.trials.map((t) => [t.key, t]));
  /** results[k]: key → its ok record at rung k. */
  const results = rungs.map(() => new Map<string, TrialRecord>());
  const failedKeys = new Set<string>();
  for (const r of readStore(opts.folder)) {
    if (!byKey.has(r.key) || r.rung === undefined || r.rung > top) continue;
    if (r.status === 'ok') results[r.rung].set(r.key, r);
  }
  const skipped = opts.trials.filter((t) => results[top].has(t.key)).length;
  if (skipped) opts.note(`${skipped} of ${opts.trials.length} trials already at the full ${budget} epochs`);
  const busy = new Set<string>();
  const score = (r: TrialRecord) => r.metrics[halving.metric] ?? Infinity;
  const nextStage = (): { trial: Trial; rung: number; resumeFolder?: string } | null => {
    for (let k = top - 1; k >= 0; k--) {
      for (const r of promotable([...results[k].values()], halving.factor, score, halving.groupBy)) {
        if (busy.has(r.key) || failedKeys.has(r.key) || results[k + 1].has(r.key)) continue;
        // a rung run on a queue worker left its checkpoint there: train afresh to this rung (bit for bit the same)
        return { trial: byKey.get(r.key)!, rung: k + 1, resumeFolder: r.runFolder ?? undefined };
      }
    }
    const fresh = opts.trials.find((t) => !busy.has(t.key) && !failedKeys.has(t.key) && !results.some((m) => m.has(t.key)));
    return fresh ? { trial: fresh, rung: 0 } : null;
  };
  const children = new Set<ChildProcess>();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    opts.note(`interrupt: launching no more trials; stopping ${children.size} running (they rerun on --resume)`);
    for (const c of children) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSigint);
  let ran = 0;
  let failed = 0;
  const running = new Set<Promise<void>>();
  try {
    for (;;) {
      while (!interrupted && running.size < opts.workers) {
        const stage = nextStage();
        if (!stage) break;
        busy.add(stage.trial.key);
        let child: ChildProcess | null = null;
        const p: Promise<void> = runTrial(
          opts.folder,
          stage.trial,
          (c) => {
            if (c) children.add((child = c));
            else if (child) children.delete(child);
          },
          { rung: stage.rung, epochs: rungs[stage.rung], resumeFolder: stage.resumeFolder },
        ).then((record) => {
          busy.delete(stage.trial.key);
          running.delete(p);
          if (interrupted && record.status !== 'ok') return;
          appendRecord(opts.folder, record);
          ran++;
          if (record.status === 'ok') results[stage.rung].set(record.key, record);
          else {
            failed++;
            failedKeys.add(record.key);
          }
          const err = record.metrics.testError;
          opts.note(
            `rung ${stage.rung} (${rungs[stage.rung]} epochs) ${record.status} ${record.key} ${describeOverrides(stage.trial.overrides) || '(base)'} seed ${stage.trial.seed}: ${record.status === 'ok' ? `test error ${err === null ? '–' : `${(err * 100).toFixed(2)}%`}` : record.error} (${record.metrics.seconds} s)`,
          );
        });
        running.add(p);
      }
      if (running.size === 0) break;
      await Promise.race(running);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  return { ran, failed, skipped, interrupted };
}
