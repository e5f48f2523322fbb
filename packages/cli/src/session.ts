/**
 * One path for every training command: `train`, `compare` and `run` build an experiment (from flags or a file) and
 * hand it here: early checks, run folder, backend, data, the runs, the table and the outputs.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MemoryLimitError, OptionError, checkMemoryLimit, estimateDatasetMemory, estimateTrainingMemory, type BackendChoice } from '@bioprop/core';
import { defaultMemoryLimit } from '@bioprop/core/node';
import { useBackend, type BackendPreference } from './backend.js';
import type { CommandContext } from './commands/context.js';
import { knownShape } from './data.js';
import { EXIT, UsageError } from './errors.js';
import { executeExperiment, type ResultsFile } from './execute.js';
import { checkRuleOptions, describeExperiment, ruleLabel, type Experiment } from './experiment.js';
import { archLabel, archLayers } from './network.js';
import { loadRunData } from './options/data.js';
import { withInterrupt } from './options/interrupt.js';
import { commandLine } from './options/invocation.js';
import { renderCurvesSvg } from './plot.js';
import { createProgress, type Progress } from './progress.js';
import { ENVIRONMENT_FILE, checkOutputFile, createRunFolder, environment, isRunFolder, openRunFolder, utcStamp, writeOutputFile, type RunFolder } from './run-folder.js';
import type { RuleRegistry } from './rules.js';
import { resolveRun, type RunResult } from './run.js';
import { resultsTable } from './stats.js';

export interface SessionOutputs {
  /** Where run folders go (default `runs`). */
  runsDir: string;
  /** Also write the results JSON here (`-`: stdout, and the table goes to stderr). */
  out?: string;
  /** Also write the curves (SVG) here. */
  plot?: string;
  /** Replace `out`/`plot` when they exist. */
  force: boolean;
  /** `train`: write the one run's result (not the results file) to `out`. */
  single?: boolean;
  /** Refuse experiments estimated to need more bytes (default: half of this machine's memory). */
  maxMemory?: number;
}

/** Samples each dataset holds in all (train + test), for the memory estimate made before loading. */
const DATASET_SAMPLES: Record<string, { train: number; test: number }> = {
  digits: { train: 8000, test: 2000 },
  mnist: { train: 60000, test: 10000 },
  'fashion-mnist': { train: 60000, test: 10000 },
  cifar10: { train: 50000, test: 10000 },
  linear: { train: 1000, test: 200 },
};

/** The training samples an experiment will train on (after its limit and validation split), known before loading. */
export function expectedTrainCount(exp: Experiment): number {
  const full = DATASET_SAMPLES[exp.data.name].train;
  return Math.max(0, Math.min(exp.data.limitTrain ?? full, exp.data.name === 'linear' ? Infinity : full) - exp.data.validation);
}

/**
 * Refuse, before anything is allocated, an experiment whose data or any run would need more memory than allowed
 * (`--arch 784-3000000-10`, `--limit-train 100000000`, `--batch-size 100000000`).
 */
function checkMemory(exp: Experiment, registry: RuleRegistry, limit: number): void {
  const shape = knownShape(exp.data.name);
  const inputSize = shape.sampleShape.reduce((a, b) => a * b, 1);
  const full = DATASET_SAMPLES[exp.data.name];
  const samples = Math.min(exp.data.limitTrain ?? full.train, exp.data.name === 'linear' ? Infinity : full.train) + Math.min(exp.data.limitTest ?? full.test, exp.data.name === 'linear' ? Infinity : full.test);
  // the data as float32, plus a standardized copy of it (presets standardize)
  const data = estimateDatasetMemory({ samples, inputSize, outputSize: shape.outputs, rawBytesPerSample: inputSize });
  const task = exp.data.name === 'linear' ? 'regression' : 'classification';
  for (const rule of exp.rules) {
    const { config } = resolveRun({ experiment: exp, rule, seed: exp.seeds[0] }, registry, { ...shape, task });
    const { inputShape, layers } = archLayers(config.arch, shape, config);
    let training;
    try {
      training = estimateTrainingMemory({
        network: { inputShape, layers: layers.map((l) => l.config()) },
        batchSize: config.batchSize,
        optimizer: config.optimizer.name,
        ruleStateFactor: config.rule === 'bp' ? 0 : 2,
      });
    } catch (e) {
      if (e instanceof OptionError) throw new UsageError(e.message);
      throw e;
    }
    const what = `${ruleLabel(rule)} on ${exp.data.name} (${samples} samples), ${archLabel(config.arch)} with batch ${config.batchSize}`;
    try {
      checkMemoryLimit(what, { bytes: 2 * data.bytes + training.totalBytes, largestElements: Math.max(data.largestArrayElements, training.largestTensorElements) }, limit);
    } catch (e) {
      if (e instanceof MemoryLimitError) throw new UsageError(/typed array/.test(e.message) ? e.message : `${e.message} (--max-memory raises the limit)`);
      throw e;
    }
  }
}

/**
 * Check everything that can be checked before reading data: each rule's options against its schema, the
 * architecture against the data's shape, optimizer settings, output files.
 */
export async function checkExperiment(exp: Experiment, registry: RuleRegistry, outputs: SessionOutputs): Promise<void> {
  checkRuleOptions(exp, registry);
  const shape = knownShape(exp.data.name);
  const task = exp.data.name === 'linear' ? 'regression' : 'classification';
  for (const rule of exp.rules) {
    const { config } = resolveRun({ experiment: exp, rule, seed: exp.seeds[0] }, registry, { ...shape, task });
    archLayers(config.arch, shape, config);
  }
  checkMemory(exp, registry, outputs.maxMemory ?? defaultMemoryLimit());
  if (outputs.out) await checkOutputFile(outputs.out, '--out', outputs.force);
  if (outputs.plot) await checkOutputFile(outputs.plot, '--plot', outputs.force);
}

/** A run folder given to `--resume`: the folder itself, or a checkpoint inside one (`<folder>/checkpoints/<run>`). */
export function runFolderOf(path: string): string {
  if (isRunFolder(path)) return path;
  const up = dirname(dirname(resolve(path)));
  if (basename(dirname(resolve(path))) === 'checkpoints' && isRunFolder(up)) return up;
  return path;
}

export interface SessionRequest {
  experiment: Experiment;
  registry: RuleRegistry;
  outputs: SessionOutputs;
  /** Resume this run folder (its experiment, maybe with more epochs, is `experiment`). */
  resume?: { folder: RunFolder };
  /** `--backend` given on the command line (over the experiment's). */
  backend?: BackendPreference;
  /** How to continue after Ctrl-C: the command's arguments before `--resume <folder>`. */
  resumeArgs: string[];
}

export async function runSession(req: SessionRequest, ctx: CommandContext, progress: Progress = createProgress()): Promise<number> {
  const exp = req.experiment;
  await checkExperiment(exp, req.registry, req.outputs);
  let folder: RunFolder;
  let backend: BackendChoice;
  if (req.resume) {
    folder = req.resume.folder;
    folder.writeJson('experiment.json', exp);
    backend = await useBackend(req.backend ?? exp.backend, progress.note);
    folder.writeJson(`environment-resumed-${utcStamp()}.json`, environment(backend, exp.plugins, ctx.argv));
    progress.note(`continuing ${folder.dir}`);
  } else {
    folder = createRunFolder(req.outputs.runsDir, exp);
    backend = await useBackend(req.backend ?? exp.backend, progress.note);
    folder.writeJson(ENVIRONMENT_FILE, environment(backend, exp.plugins, ctx.argv));
  }
  progress.note(`run folder: ${folder.dir}`);
  progress.note(describeExperiment(exp));
  const data = await loadRunData({ dataset: exp.data.name, dataDir: exp.data.dir, limitTrain: exp.data.limitTrain, limitTest: exp.data.limitTest }, progress);
  const outcome = await withInterrupt(progress, (signal) =>
    executeExperiment({ experiment: exp, registry: req.registry, folder, data, backend }, { progress, signal }),
  );
  if (outcome.status === 'stopped') {
    const next = commandLine(ctx.bin, [...req.resumeArgs, '--resume', folder.dir]);
    progress.note(`stopped: checkpoint saved in ${folder.dir}; continue with: ${next}`);
    return EXIT.interrupted;
  }
  const table = resultsTable(outcome.results, outcome.failures);
  const first = outcome.results[0];
  const heading = first
    ? `\n${exp.name}: ${data.name} ${first.arch}, ${exp.epochs} epoch(s), ${exp.seeds.length === 1 ? `seed ${exp.seeds[0]}` : `seeds ${exp.seeds.join(', ')}`}, backend ${backend.name}, ${first.trainCount} train${first.validationCount ? ` / ${first.validationCount} validation` : ''} / ${first.testCount} test samples${exp.sameOptimizer ? ', one optimizer for every rule' : ''}\n`
    : '\n';
  const toStdout = req.outputs.out === '-';
  const say = toStdout ? (s: string) => void process.stderr.write(s) : ctx.out;
  say(`${heading}${table}\n`);
  await writeSessionOutputs(folder, outcome.results, req.outputs, ctx, progress);
  progress.note(`results: ${join(folder.dir, 'results.json')}`);
  return outcome.failures.length ? EXIT.failure : EXIT.ok;
}

async function writeSessionOutputs(folder: RunFolder, results: RunResult[], outputs: SessionOutputs, ctx: CommandContext, progress: Progress): Promise<void> {
  const file = join(folder.dir, 'results.json');
  const value = existsSync(file) ? (JSON.parse(await import('node:fs/promises').then((f) => f.readFile(file, 'utf8'))) as ResultsFile) : null;
  const json = outputs.single && results.length === 1 ? results[0] : value;
  if (outputs.out === '-') ctx.out(`${JSON.stringify(json, null, 2)}\n`);
  else if (outputs.out) {
    writeOutputFile(outputs.out, `${JSON.stringify(json, null, 2)}\n`);
    progress.note(`results also in ${outputs.out}`);
  }
  if (outputs.plot) {
    writeOutputFile(outputs.plot, await renderCurvesSvg(results));
    progress.note(`curves also in ${outputs.plot}`);
  }
}

/** Usage error for a flag given with --resume that cannot change. */
export function resumeConflict(flags: string[]): UsageError {
  return new UsageError(
    `--resume continues the run folder's experiment; ${flags.join(', ')} cannot change (only --epochs, --backend, --out, --plot, --force, --plugin can)`,
  );
}

/** Open a run folder for `--resume`, applying what may change (more epochs). */
export function resumeFolder(path: string, epochs: number | undefined): { folder: RunFolder; experiment: Experiment } {
  const dir = runFolderOf(path);
  if (!existsSync(dir)) throw new UsageError(`--resume ${path}: no such folder`);
  const { folder, experiment } = openRunFolder(dir);
  return { folder, experiment: epochs === undefined ? experiment : { ...experiment, epochs } };
}
