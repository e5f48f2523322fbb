import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RuleEntry } from '@bioprop/core';
import { loadData, type LoadedData } from './data.js';
import { UsageError } from './errors.js';
import type { Progress } from './progress.js';
import { RULES, RULE_PACKAGES } from './rules.js';
import { runOne, type RunCheckpointExtra, type RunOptions, type RunResult } from './run.js';
import { formatTable } from './table.js';

/** The options of a comparison: a run's options without the rule. */
export type CompareOptions = Omit<RunOptions, 'rule'>;

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

/** A rule entry by id, or a usage error that says whether the id is unknown or its package is not installed. */
export function ruleEntry(id: string): RuleEntry {
  const entry = RULES.get(id);
  if (entry) return entry;
  const installed = [...RULES.keys()].join(', ');
  if (id in RULE_PACKAGES) {
    throw new UsageError(`rule "${id}" is not installed: it comes with ${RULE_PACKAGES[id]} (installed rules: ${installed})`);
  }
  throw new UsageError(`unknown rule "${id}" (installed rules: ${installed}; known: ${Object.keys(RULE_PACKAGES).join(', ')})`);
}

/** Parse `--rules bp,fa,…` (or `all`): every id must be installed. */
export function parseRuleList(text: string | undefined): string[] {
  if (text === undefined || text === 'all') return [...RULES.keys()];
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError('--rules needs at least one rule id, e.g. --rules bp,fa,dfa');
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new UsageError(`--rules lists "${id}" twice`);
    seen.add(id);
    ruleEntry(id);
  }
  return ids;
}

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
    throw new Error(`${file}: no comparison checkpoint here (compare.json is missing)`);
  }
  const state = JSON.parse(text) as CompareState;
  if (state?.kind !== 'bioprop-cli-compare') throw new Error(`${file}: not a bioprop compare checkpoint`);
  return state;
}

/** Read the CLI's part of a training checkpoint (the run options and history in the manifest's `extra`). */
export async function readRunExtra(dir: string): Promise<RunCheckpointExtra> {
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`${file}: no checkpoint here (manifest.json is missing)`);
  }
  let manifest: { extra?: RunCheckpointExtra };
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: corrupt manifest (${(e as Error).message})`);
  }
  if (manifest.extra?.kind !== 'bioprop-cli-run') throw new Error(`${file}: not a checkpoint written by bioprop train or compare`);
  return manifest.extra;
}

/**
 * Train every rule on the same data, one after another. A rule that fails (diverges, cannot train this network)
 * is recorded and the others go on. With a checkpoint directory, finished rules and the current one are saved
 * so `--resume` skips what is done.
 */
export async function runCompare(
  request: {
    rules: string[];
    options: CompareOptions;
    checkpointDir: string | null;
    interruptDir: string;
    resume?: { dir: string; state: CompareState };
    data?: LoadedData;
  },
  io: CompareIo,
): Promise<CompareOutcome> {
  const { options, rules } = request;
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

  for (const rule of rules) {
    if (failures.has(rule)) continue;
    // a finished rule is kept unless the resumed comparison asks for more epochs
    const prior = done.get(rule);
    if (prior && prior.epochs >= options.epochs) continue;
    done.delete(rule);
    const entry = ruleEntry(rule);
    const runOptions: RunOptions = { ...options, rule };
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
      if (err instanceof UsageError) throw err;
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
