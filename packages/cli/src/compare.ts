import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError, OptionError, type RuleEntry } from '@bioprop/core';
import { loadData, type LoadedData } from './data.js';
import { UsageError } from './errors.js';
import type { Progress } from './progress.js';
import { runOne, type RuleOptions, type RunCheckpointExtra, type RunOptions, type RunResult } from './run.js';
import { formatTable } from './table.js';

/** The options of a comparison: a run's options without the rule; rule options by rule id. */
export type CompareOptions = Omit<RunOptions, 'rule' | 'ruleOptions'> & { ruleOptions?: Record<string, RuleOptions> | null };

/** The run options of one rule of a comparison. */
export function runOptionsOf(options: CompareOptions, rule: string): RunOptions {
  const { ruleOptions, ...rest } = options;
  return { ...rest, rule, ruleOptions: ruleOptions?.[rule] ?? null };
}

/** `compare.json` in a comparison's checkpoint directory (each rule's training checkpoint sits in `<dir>/<rule>/`). */
export interface CompareState {
  kind: 'bioprop-cli-compare';
  options: CompareOptions;
  rules: string[];
  results: RunResult[];
  failures: { rule: string; error: string }[];
  /** The backend it ran on (a resumed comparison takes it again unless `--backend` is given). */
  backend?: string;
}

export interface CompareIo {
  progress: Progress;
  signal: AbortSignal;
  backend: string;
}

export type CompareOutcome =
  | { status: 'done'; results: RunResult[]; failures: { rule: string; error: string }[] }
  | { status: 'stopped'; results: RunResult[]; failures: { rule: string; error: string }[]; checkpointDir: string };

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, file);
}

export async function readCompareState(dir: string): Promise<CompareState> {
  const file = join(dir, 'compare.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CheckpointError(`${file}: no comparison checkpoint here (compare.json is missing)`);
  }
  let state: CompareState;
  try {
    state = JSON.parse(text) as CompareState;
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt comparison checkpoint (${(e as Error).message})`);
  }
  if (state?.kind !== 'bioprop-cli-compare') throw new CheckpointError(`${file}: not a bioprop compare checkpoint`);
  return state;
}

/** Read the CLI's part of a training checkpoint (the run options and history in the manifest's `extra`). */
export async function readRunExtra(dir: string): Promise<RunCheckpointExtra> {
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CheckpointError(`${file}: no checkpoint here (manifest.json is missing)`);
  }
  let manifest: { extra?: RunCheckpointExtra };
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt manifest (${(e as Error).message})`);
  }
  if (manifest.extra?.kind !== 'bioprop-cli-run') throw new CheckpointError(`${file}: not a checkpoint written by bioprop train or compare`);
  return manifest.extra;
}

/**
 * Train every rule on the same data, one after another. A rule that fails (diverges, cannot train this network)
 * is recorded and the others go on. With a checkpoint directory, finished rules and the current one are saved
 * so `--resume` skips what is done.
 */
export async function runCompare(
  request: {
    /** The rules to train, in order. */
    entries: readonly RuleEntry[];
    options: CompareOptions;
    checkpointDir: string | null;
    interruptDir: string;
    resume?: { dir: string; state: CompareState };
    data?: LoadedData;
  },
  io: CompareIo,
): Promise<CompareOutcome> {
  const { options } = request;
  const rules = request.entries.map((e) => e.id);
  const data =
    request.data ??
    (await loadData({ dataset: options.dataset, dataDir: options.dataDir ?? undefined, limitTrain: options.limitTrain ?? undefined, limitTest: options.limitTest ?? undefined }));
  const done = new Map<string, RunResult>();
  const failures = new Map<string, string>();
  for (const r of request.resume?.state.results ?? []) done.set(r.rule, r);
  for (const f of request.resume?.state.failures ?? []) failures.set(f.rule, f.error);
  const state = (): CompareState => ({
    kind: 'bioprop-cli-compare',
    options,
    rules,
    results: rules.filter((r) => done.has(r)).map((r) => done.get(r)!),
    failures: rules.filter((r) => failures.has(r)).map((rule) => ({ rule, error: failures.get(rule)! })),
    backend: io.backend,
  });
  const outcome = (): { results: RunResult[]; failures: { rule: string; error: string }[] } => {
    const s = state();
    return { results: s.results, failures: s.failures };
  };
  const saveDir = request.checkpointDir;
  if (saveDir) await writeJsonAtomic(join(saveDir, 'compare.json'), state());

  for (const entry of request.entries) {
    const rule = entry.id;
    if (failures.has(rule)) continue;
    // a finished rule is kept unless the resumed comparison asks for more epochs
    const prior = done.get(rule);
    if (prior && prior.epochs >= options.epochs) continue;
    done.delete(rule);
    const runOptions = runOptionsOf(options, rule);
    const resumeRuleDir = request.resume ? join(request.resume.dir, rule) : undefined;
    const canResume = resumeRuleDir !== undefined && existsSync(join(resumeRuleDir, 'manifest.json'));
    let run;
    try {
      run = await runOne({
        entry,
        options: runOptions,
        data,
        backend: io.backend,
        progress: io.progress,
        signal: io.signal,
        checkpointDir: saveDir ? join(saveDir, rule) : null,
        interruptDir: join(request.interruptDir, rule),
        resumeDir: canResume ? resumeRuleDir : undefined,
        resumeExtra: canResume ? await readRunExtra(resumeRuleDir) : undefined,
        label: `[${rule}]`,
      });
    } catch (err) {
      if (err instanceof UsageError || err instanceof OptionError) throw err;
      const message = (err as Error)?.message ?? String(err);
      io.progress.note(`[${rule}] failed: ${message}`);
      failures.set(rule, message);
      if (saveDir) await writeJsonAtomic(join(saveDir, 'compare.json'), state());
      continue;
    }
    if (run.status === 'stopped') {
      const dir = saveDir ?? request.interruptDir;
      await writeJsonAtomic(join(dir, 'compare.json'), state());
      return { status: 'stopped', ...outcome(), checkpointDir: dir };
    }
    done.set(rule, run.result);
    if (saveDir) await writeJsonAtomic(join(saveDir, 'compare.json'), state());
  }
  return { status: 'done', ...outcome() };
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

/** The comparison table: test error, train loss, angle to backprop per layer, samples/s. */
export function compareTable(results: readonly RunResult[], failures: readonly { rule: string; error: string }[] = []): string {
  const regression = results.some((r) => r.testAccuracy === null);
  const header = ['rule', regression ? 'test loss' : 'test error', 'train loss', 'angle to bp per layer (°)', 'samples/s', 'train s'];
  const body = results.map((r) => [
    r.rule,
    regression ? r.testLoss.toFixed(4) : pct(r.testError),
    r.trainLoss.toFixed(4),
    r.angleToBackpropDeg.length ? r.angleToBackpropDeg.map((a) => a.toFixed(1)).join(' / ') : '-',
    Math.round(r.samplesPerSecond).toLocaleString('en-US'),
    r.trainSeconds.toFixed(1),
  ]);
  for (const f of failures) body.push([f.rule, 'failed', '-', '-', '-', '-']);
  return formatTable(header, body);
}
