/**
 * Run an experiment: every seed × rule in its run folder, one after another on the same data. A run that fails
 * (diverges, cannot train this network) is recorded and the others go on; finished runs are never repeated when the
 * folder is resumed; an interrupted run continues from its checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, OptionError, type BackendChoice, type JsonValue } from '@bioprop/core';
import { readCheckpointExtra } from './checkpoint-extra.js';
import type { LoadedData } from './data.js';
import { UsageError } from './errors.js';
import { ruleLabel, type Experiment } from './experiment.js';
import { renderCurvesSvg } from './plot.js';
import type { Progress } from './progress.js';
import { RESULTS_FILE, type RunFolder } from './run-folder.js';
import type { RuleRegistry } from './rules.js';
import { runKey, runOne, type RunResult } from './run.js';
import { resultsTable, summarize } from './stats.js';

export interface Failure {
  label: string;
  rule: string;
  seed: number;
  error: string;
}

/** `results.json` of a run folder. */
export interface ResultsFile {
  kind: 'bioprop-results';
  name: string;
  /** `tuned`: each rule its package's tuned optimizer; `same`: one optimizer, init and batch size for every rule. */
  mode: 'tuned' | 'same';
  /** Finished runs, in the experiment's order (seed-major). */
  runs: RunResult[];
  failures: Failure[];
  /** Per rule over its seeds: mean, standard deviation, each seed's value. */
  summary: ReturnType<typeof summarize>;
  /** Whether every run of the experiment finished. */
  complete: boolean;
}

export type ExecuteOutcome = { status: 'done' | 'stopped'; results: RunResult[]; failures: Failure[] };

/** Read a run folder's results.json (missing: nothing finished yet). */
export function readResults(dir: string): ResultsFile | null {
  const file = join(dir, RESULTS_FILE);
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
    if (parsed?.kind !== 'bioprop-results' || !Array.isArray(parsed.runs)) throw new Error('not a bioprop results file');
    return parsed;
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt (${(e as Error).message})`);
  }
}

export async function executeExperiment(
  request: {
    experiment: Experiment;
    registry: RuleRegistry;
    folder: RunFolder;
    data: LoadedData;
    backend: BackendChoice;
    /** Runs that failed elsewhere (a reproduction's committed failures): not run again. */
    failedBefore?: (label: string, seed: number) => boolean;
    /** Runs already finished elsewhere (a reproduction's committed results): not run again. */
    done?: (label: string, seed: number) => RunResult | null;
    /** Called with each run as it finishes. */
    onResult?: (result: RunResult) => void;
    /** Called with each run that fails (diverges, cannot train the network). */
    onFailure?: (failure: Failure) => void;
  },
  io: { progress: Progress; signal: AbortSignal },
): Promise<ExecuteOutcome> {
  const { experiment: exp, folder } = request;
  const prior = readResults(folder.dir);
  const finished = new Map<string, RunResult>();
  for (const r of prior?.runs ?? []) finished.set(runKey(r.label ?? r.rule, r.seed), r);
  const failures = new Map<string, Failure>();
  for (const f of prior?.failures ?? []) failures.set(runKey(f.label, f.seed), f);
  const order = exp.seeds.flatMap((seed) => exp.rules.map((rule) => ({ seed, rule, key: runKey(ruleLabel(rule), seed) })));
  const save = (complete: boolean) => {
    const runs = order.map((o) => finished.get(o.key)).filter((r): r is RunResult => !!r);
    const value: ResultsFile = {
      kind: 'bioprop-results',
      name: exp.name,
      mode: exp.sameOptimizer ? 'same' : 'tuned',
      runs,
      failures: [...failures.values()],
      summary: summarize(runs),
      complete,
    };
    folder.writeJson(RESULTS_FILE, value);
    return value;
  };
  for (const { seed, rule, key } of order) {
    const label = ruleLabel(rule);
    if (failures.has(key)) continue;
    if (request.failedBefore?.(label, seed)) continue;
    const elsewhere = request.done?.(label, seed);
    if (elsewhere) {
      finished.set(key, elsewhere);
      continue;
    }
    const prev = finished.get(key);
    const dir = folder.checkpointDir(key);
    const extra = existsSync(join(dir, 'manifest.json')) ? await readCheckpointExtra(dir) : undefined;
    // a finished run is kept unless the resumed experiment asks for more epochs
    if (prev && prev.epochs >= exp.epochs && prev.stoppedBy === null) continue;
    finished.delete(key);
    let run;
    try {
      run = await runOne({
        spec: { experiment: exp, rule, seed },
        registry: request.registry,
        data: request.data,
        backend: request.backend.name,
        progress: io.progress,
        signal: io.signal,
        checkpointDir: dir,
        resumeExtra: extra && (extra.result === undefined || extra.result.stoppedBy === null) ? extra : undefined,
        metrics: (line) => folder.metrics(line as Record<string, JsonValue>),
        // a process killed after its last checkpoint logged steps the resumed run logs again
        onStart: (step) => folder.rewindMetrics(key, step),
        tag: exp.seeds.length > 1 ? `[${label} seed ${seed}]` : `[${label}]`,
      });
    } catch (err) {
      if (err instanceof UsageError || err instanceof OptionError) throw err;
      const message = (err as Error)?.message ?? String(err);
      io.progress.note(`[${label} seed ${seed}] failed: ${message}`);
      const failure = { label, rule: 'id' in rule ? rule.id : 'per-layer', seed, error: message };
      failures.set(key, failure);
      request.onFailure?.(failure);
      save(false);
      continue;
    }
    if (run.status === 'stopped') {
      save(false);
      return { status: 'stopped', results: order.map((o) => finished.get(o.key)).filter((r): r is RunResult => !!r), failures: [...failures.values()] };
    }
    finished.set(key, run.result);
    request.onResult?.(run.result);
    save(false);
  }
  const value = save(true);
  folder.write('table.txt', `${resultsTable(value.runs, value.failures)}\n`);
  if (value.runs.length) folder.write('curves.svg', await renderCurvesSvg(value.runs, { title: exp.name }));
  return { status: 'done', results: value.runs, failures: value.failures };
}
