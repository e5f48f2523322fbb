import * as tf from '@tensorflow/tfjs-core';
import {
  createTrainer,
  randomSource,
  resolveOptimizer,
  type JsonValue,
  type OptimizerConfig,
  type RuleEntry,
  type Trainer,
} from '@bioprop/core';
import { restoreTrainer, saveCheckpoint } from '@bioprop/core/node';
import { probeAngles } from './angles.js';
import { defaultArch, standardized, type DatasetName, type LoadedData } from './data.js';
import { UsageError } from './errors.js';
import { archLabel, buildNetwork, formatInit, parseArch, parseInit, presetTraining, type ArchSpec, type DataShape, type KernelInit } from './network.js';
import type { Progress } from './progress.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'adam', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** What the user asked for (null: take the rule's tuned default). Saved in checkpoints; `--resume` reads it back. */
export interface RunOptions {
  rule: string;
  dataset: DatasetName;
  dataDir: string | null;
  /** `--arch` as given: widths, a preset name, or a JSON layer list (null: the dataset's default MLP). */
  arch: string | null;
  activation: string | null;
  epochs: number;
  batchSize: number | null;
  optimizer: OptimizerName | null;
  lr: number | null;
  init: string | null;
  seed: number;
  limitTrain: number | null;
  limitTest: number | null;
  /** Measure the angle to backprop's signals at the end of every epoch. */
  angles: boolean;
  /** The rule's own options (`--rule-options`), over a preset's for this rule; absent in checkpoints of older versions. */
  ruleOptions?: RuleOptions | null;
}

/** Options of a rule, as its schema (`entry.options`) reads them. */
export type RuleOptions = { [key: string]: JsonValue };

/** The run's settings once the rule's defaults and the dataset filled every gap. */
export interface RunConfig {
  rule: string;
  ruleName: string;
  dataset: DatasetName;
  arch: ArchSpec;
  activation: string;
  loss: 'softmaxCrossEntropy' | 'mse';
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** Kernel init; null: the preset's own. */
  kernelInit: KernelInit | null;
  seed: number;
  /** The rule's options with every default filled by its schema (what `entry.create` receives). */
  ruleOptions: JsonValue;
  /** Inputs standardized with the training set's mean and standard deviation (a preset's default). */
  standardize: boolean;
  /** Where the defaults came from: the rule's package, or the preset. */
  defaultsSource: string;
}

/** One epoch of a run. */
export interface EpochResult {
  epoch: number;
  trainLoss: number;
  /** Fraction in [0, 1]; null for regression (the linear task). */
  testAccuracy: number | null;
  testLoss: number;
  /** Training-step seconds of this epoch (no evaluation, no data loading). */
  seconds: number;
  /** Per layer, degrees between the rule's teaching signal and backprop's on the probe batch (0 for backprop). */
  angleToBackpropDeg: number[];
}

/** The results JSON of one run (`bioprop train --out`, one element of `compare`'s `results`). */
export interface RunResult {
  rule: string;
  ruleName: string;
  dataset: DatasetName;
  arch: string;
  activation: string;
  epochs: number;
  seed: number;
  backend: string;
  batchSize: number;
  optimizer: OptimizerConfig;
  kernelInit: string;
  loss: string;
  trainCount: number;
  testCount: number;
  /** Fractions in [0, 1] (null for regression). */
  testAccuracy: number | null;
  testError: number | null;
  testLoss: number;
  /** Mean training loss of the last epoch. */
  trainLoss: number;
  /** Training samples over training-loop seconds. */
  samplesPerSecond: number;
  trainSeconds: number;
  samples: number;
  /** The last epoch's angles (empty when angles were off). */
  angleToBackpropDeg: number[];
  history: EpochResult[];
  /** The rule's options, every default filled (its schema's tuned values unless given). */
  ruleOptions: JsonValue;
  /** How the rule's defaults were chosen (from its package). */
  defaultsSource: string;
}

/** What the CLI keeps in a checkpoint's `extra`. */
export interface RunCheckpointExtra {
  kind: 'bioprop-cli-run';
  options: RunOptions;
  history: EpochResult[];
  trainSeconds: number;
  samples: number;
  /** Training seconds already spent in the current (unfinished) epoch. */
  partialEpochSeconds: number;
  /** Present once the run finished. */
  result?: RunResult;
  /** The backend it ran on: a resumed run takes it again unless `--backend` says otherwise (bits differ by backend). */
  backend?: string;
}

/** The tuned optimizer unless the user changed it; a different optimizer needs its own `--lr` (no global guess). */
export function resolveOptimizerConfig(entry: RuleEntry, optimizer: OptimizerName | null, lr: number | null): OptimizerConfig {
  const tuned = entry.defaults.optimizer;
  if (optimizer === null || optimizer === tuned.name) return lr === null ? tuned : { ...tuned, lr };
  if (lr === null) {
    throw new UsageError(
      `--optimizer ${optimizer} is not ${entry.id}'s tuned optimizer (${tuned.name}, lr ${tuned.lr}): give --lr as well`,
    );
  }
  // optimizer-independent settings of the tuned config carry over (KP relies on the decoupled decay)
  const { weightDecay, decoupledDecay, clipNorm, schedule } = tuned;
  const carried = Object.fromEntries(
    Object.entries({ weightDecay, decoupledDecay, clipNorm, schedule }).filter(([, v]) => v !== undefined),
  );
  return { ...carried, name: optimizer, lr } as OptimizerConfig;
}

/** Fill every option left out with the rule's tuned default, or the preset's where it has its own, and the dataset's shape. */
export function resolveConfig(entry: RuleEntry, options: RunOptions, data: DataShape & { task: LoadedData['task']; count?: number }): RunConfig {
  const inputs = data.sampleShape.reduce((a, b) => a * b, 1);
  const arch: ArchSpec = options.arch === null ? { kind: 'widths', widths: defaultArch(options.dataset, inputs, data.outputs) } : parseArch(options.arch);
  if (arch.kind === 'widths') {
    // early: the widths must fit the data
    const w = arch.widths;
    if (w[0] !== inputs) throw new UsageError(`--arch ${w.join('-')} takes ${w[0]} inputs but ${options.dataset} samples have ${inputs} features`);
    if (w[w.length - 1] !== data.outputs) {
      throw new UsageError(
        `--arch ${w.join('-')} has ${w[w.length - 1]} outputs but ${options.dataset} has ${data.outputs} ${data.task === 'classification' ? 'classes' : 'targets'}`,
      );
    }
  }
  const training = presetTraining(arch);
  const perRule = training?.rules?.[entry.id];
  const tuned = perRule?.optimizer ?? training?.optimizer ?? entry.defaults.optimizer;
  let optimizer = resolveOptimizerConfig({ ...entry, defaults: { ...entry.defaults, optimizer: tuned } }, options.optimizer, options.lr);
  const batchSize = options.batchSize ?? perRule?.batchSize ?? training?.batchSize ?? entry.defaults.batchSize;
  if (training?.schedule === 'cosine' && optimizer.schedule === undefined && data.count !== undefined) {
    optimizer = { ...optimizer, schedule: { type: 'cosine', totalSteps: Math.max(1, options.epochs * Math.ceil(data.count / batchSize)) } };
  }
  return {
    rule: entry.id,
    ruleName: entry.name,
    dataset: options.dataset,
    arch,
    activation: options.activation ?? entry.defaults.activation,
    loss: data.task === 'classification' ? 'softmaxCrossEntropy' : 'mse',
    epochs: options.epochs,
    batchSize,
    optimizer,
    // an MLP takes the rule's tuned init; a preset its own, or the one it tunes for this rule
    kernelInit: options.init !== null ? parseInit(options.init) : arch.kind === 'widths' ? entry.defaults.kernelInit : ((perRule?.kernelInit as KernelInit | undefined) ?? null),
    seed: options.seed,
    ruleOptions: ruleOptionsFor(entry, perRule?.ruleOptions, options.ruleOptions),
    standardize: training?.standardize ?? false,
    defaultsSource: training ? `${entry.defaults.source}; preset ${archLabel(arch)}: ${training.source}` : entry.defaults.source,
  };
}

/**
 * A rule's options: the user's over the preset's for this rule, validated and filled by the rule's schema (an
 * OptionError names the key: a usage error, caught before any data is loaded).
 */
export function ruleOptionsFor(entry: RuleEntry, preset: JsonValue | undefined, given: RuleOptions | null | undefined): JsonValue {
  const base = preset !== null && typeof preset === 'object' && !Array.isArray(preset) ? preset : {};
  return entry.options.parse({ ...base, ...(given ?? {}) }, entry.id) as JsonValue;
}

/** A trainer built from a config: network, rule, loss and optimizer, all drawing from the seed's streams. */
export function buildTrainer(entry: RuleEntry, config: RunConfig, data: DataShape): Trainer {
  const random = randomSource(config.seed);
  const network = buildNetwork(config.arch, data, { activation: config.activation, kernelInit: config.kernelInit, random });
  try {
    const rule = entry.create(config.ruleOptions);
    rule.check(network);
    return createTrainer({
      network,
      rule,
      loss: config.loss,
      optimizer: resolveOptimizer(config.optimizer as Parameters<typeof resolveOptimizer>[0]),
      random,
    });
  } catch (err) {
    network.dispose();
    throw err;
  }
}

export interface RunContext {
  entry: RuleEntry;
  options: RunOptions;
  data: LoadedData;
  backend: string;
  progress: Progress;
  signal: AbortSignal;
  /** Save here at every epoch end and at the end (null: only when interrupted, to `interruptDir`). */
  checkpointDir: string | null;
  /** Where a Ctrl-C saves when no `checkpointDir` was given. */
  interruptDir: string;
  /** Continue from this checkpoint (its extra is `resumeExtra`). */
  resumeDir?: string;
  resumeExtra?: RunCheckpointExtra;
  /** Label of progress lines, e.g. `[fa]`. */
  label: string;
}

export type RunOutcome = { status: 'done'; result: RunResult } | { status: 'stopped'; checkpointDir: string; result: null };

const PROBE_SIZE = 256;

/** Train one rule, epoch by epoch: evaluate, measure angles, save checkpoints; stop cleanly on the abort signal. */
export async function runOne(ctx: RunContext): Promise<RunOutcome> {
  const { entry, options, progress } = ctx;
  const shape = { sampleShape: ctx.data.sampleShape, outputs: ctx.data.outputWidth };
  const config = resolveConfig(entry, options, { ...shape, task: ctx.data.task, count: ctx.data.train.count });
  const data = config.standardize ? standardized(ctx.data) : ctx.data;
  const trainer = buildTrainer(entry, config, shape);
  const probeCount = Math.min(PROBE_SIZE, data.train.count);
  const inW = data.inputWidth;
  const outW = data.outputWidth;
  const probeX = tf.tensor(data.train.x.subarray(0, probeCount * inW), [probeCount, ...trainer.network.inputShape]);
  const probeY = tf.tensor2d(data.train.y.subarray(0, probeCount * outW), [probeCount, outW]);
  try {
    let history: EpochResult[] = [];
    let trainSeconds = 0;
    let samples = 0;
    let partialEpochSeconds = 0;
    if (ctx.resumeDir) {
      await restoreTrainer(trainer, ctx.resumeDir);
      const extra = ctx.resumeExtra;
      history = extra?.history ? [...extra.history] : [];
      trainSeconds = extra?.trainSeconds ?? 0;
      samples = extra?.samples ?? 0;
      partialEpochSeconds = trainer.position.batch > 0 ? (extra?.partialEpochSeconds ?? 0) : 0;
    }
    const save = async (dir: string, result?: RunResult) => {
      const extra: RunCheckpointExtra = { kind: 'bioprop-cli-run', options, history, trainSeconds, samples, partialEpochSeconds, result, backend: ctx.backend };
      await saveCheckpoint(dir, { network: trainer.network, boundRule: trainer.boundRule, trainer, extra: extra as unknown as JsonValue });
    };
    const batches = Math.ceil(data.train.count / config.batchSize);
    while (trainer.position.epoch < config.epochs) {
      const epoch = trainer.position.epoch + 1;
      const label = `${ctx.label} epoch ${epoch}/${config.epochs}`;
      let fit;
      if (ctx.signal.aborted) {
        fit = { stopped: true, trainSeconds: 0, samples: 0, epochs: [] };
      } else {
        progress.start(label, batches, trainer.position.batch);
        try {
          fit = await trainer.fit(data.train, {
            epochs: epoch,
            batchSize: config.batchSize,
            signal: ctx.signal,
            onProgress: (p) => progress.update(p.batch, p.loss),
          });
        } finally {
          progress.stop();
        }
      }
      trainSeconds += fit.trainSeconds;
      samples += fit.samples;
      if (fit.stopped) {
        partialEpochSeconds += fit.trainSeconds;
        const dir = ctx.checkpointDir ?? ctx.interruptDir;
        await save(dir);
        return { status: 'stopped', checkpointDir: dir, result: null };
      }
      const record = fit.epochs[fit.epochs.length - 1];
      const evaluation = trainer.evaluate(data.test);
      const angles = options.angles ? probeAngles(trainer, probeX, probeY) : [];
      const item: EpochResult = {
        epoch: record.epoch,
        trainLoss: record.trainLoss,
        testAccuracy: data.task === 'classification' ? evaluation.accuracy : null,
        testLoss: evaluation.loss,
        seconds: record.seconds + partialEpochSeconds,
        angleToBackpropDeg: angles,
      };
      partialEpochSeconds = 0;
      history.push(item);
      progress.note(describeEpoch(ctx.label, config.epochs, item, data.train.count / Math.max(1e-9, item.seconds)));
      if (ctx.checkpointDir) await save(ctx.checkpointDir);
    }
    const last = history[history.length - 1];
    const result: RunResult = {
      rule: config.rule,
      ruleName: config.ruleName,
      dataset: config.dataset,
      arch: archLabel(config.arch),
      activation: config.activation,
      epochs: config.epochs,
      seed: config.seed,
      backend: ctx.backend,
      batchSize: config.batchSize,
      optimizer: config.optimizer,
      kernelInit: config.kernelInit === null ? 'preset' : formatInit(config.kernelInit),
      loss: config.loss,
      trainCount: data.train.count,
      testCount: data.test.count,
      testAccuracy: last?.testAccuracy ?? (data.task === 'classification' ? trainer.evaluate(data.test).accuracy : null),
      testError: null,
      testLoss: last?.testLoss ?? trainer.evaluate(data.test).loss,
      trainLoss: last?.trainLoss ?? NaN,
      samplesPerSecond: trainSeconds > 0 ? samples / trainSeconds : 0,
      trainSeconds,
      samples,
      angleToBackpropDeg: last?.angleToBackpropDeg ?? [],
      history,
      ruleOptions: config.ruleOptions,
      defaultsSource: config.defaultsSource,
    };
    result.testError = result.testAccuracy === null ? null : 1 - result.testAccuracy;
    if (ctx.checkpointDir) await save(ctx.checkpointDir, result);
    return { status: 'done', result };
  } finally {
    probeX.dispose();
    probeY.dispose();
    trainer.network.dispose();
    trainer.dispose();
  }
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

export function describeEpoch(label: string, epochs: number, e: EpochResult, samplesPerSecond: number): string {
  const err = e.testAccuracy === null ? `test loss ${e.testLoss.toFixed(4)}` : `test error ${pct(1 - e.testAccuracy)}`;
  const angles = e.angleToBackpropDeg.length ? `, angle to bp ${e.angleToBackpropDeg.map((a) => `${a.toFixed(1)}°`).join('/')}` : '';
  return `${label} epoch ${e.epoch}/${epochs}: train loss ${e.trainLoss.toFixed(4)}, ${err}${angles}, ${Math.round(samplesPerSecond)} samples/s`;
}
