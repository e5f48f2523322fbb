import * as tf from '@tensorflow/tfjs-core';
import {
  createTrainer,
  randomSource,
  resolveOptimizer,
  restoreTrainer,
  saveCheckpoint,
  type JsonValue,
  type OptimizerConfig,
  type RuleEntry,
  type Trainer,
} from '@bioprop/core';
import { probeAngles } from './angles.js';
import { defaultArch, type DatasetName, type LoadedData } from './data.js';
import { UsageError } from './errors.js';
import { buildNetwork, formatInit, parseInit, type KernelInit } from './network.js';
import type { Progress } from './progress.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'adam', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** What the user asked for (null: take the rule's tuned default). Saved in checkpoints; `--resume` reads it back. */
export interface RunOptions {
  rule: string;
  dataset: DatasetName;
  dataDir: string | null;
  arch: number[] | null;
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
}

/** The run's settings once the rule's defaults and the dataset filled every gap. */
export interface RunConfig {
  rule: string;
  ruleName: string;
  dataset: DatasetName;
  arch: number[];
  activation: string;
  loss: 'softmaxCrossEntropy' | 'mse';
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  kernelInit: KernelInit;
  seed: number;
  ruleOptions: JsonValue;
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

/** Fill every option left out with the rule's tuned default (and the dataset's widths); check the arch. */
export function resolveConfig(entry: RuleEntry, options: RunOptions, data: Pick<LoadedData, 'inputWidth' | 'outputWidth' | 'task'>): RunConfig {
  const arch = options.arch ?? defaultArch(options.dataset, data.inputWidth, data.outputWidth);
  if (arch[0] !== data.inputWidth) {
    throw new UsageError(
      `--arch ${arch.join('-')} takes ${arch[0]} inputs but ${options.dataset} samples have ${data.inputWidth} features`,
    );
  }
  if (arch[arch.length - 1] !== data.outputWidth) {
    throw new UsageError(
      `--arch ${arch.join('-')} has ${arch[arch.length - 1]} outputs but ${options.dataset} has ${data.outputWidth} ${data.task === 'classification' ? 'classes' : 'targets'}`,
    );
  }
  return {
    rule: entry.id,
    ruleName: entry.name,
    dataset: options.dataset,
    arch,
    activation: options.activation ?? entry.defaults.activation,
    loss: data.task === 'classification' ? 'softmaxCrossEntropy' : 'mse',
    epochs: options.epochs,
    batchSize: options.batchSize ?? entry.defaults.batchSize,
    optimizer: resolveOptimizerConfig(entry, options.optimizer, options.lr),
    kernelInit: options.init === null ? entry.defaults.kernelInit : parseInit(options.init),
    seed: options.seed,
    ruleOptions: entry.defaults.ruleOptions,
  };
}

/** A trainer built from a config: network, rule, loss and optimizer, all drawing from the seed's streams. */
export function buildTrainer(entry: RuleEntry, config: RunConfig): Trainer {
  const random = randomSource(config.seed);
  const network = buildNetwork({ arch: config.arch, activation: config.activation, kernelInit: config.kernelInit, random });
  try {
    const rule = entry.create((config.ruleOptions ?? {}) as Record<string, unknown>);
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
  const { entry, options, data, progress } = ctx;
  const config = resolveConfig(entry, options, data);
  const trainer = buildTrainer(entry, config);
  const probeCount = Math.min(PROBE_SIZE, data.train.count);
  const inW = data.inputWidth;
  const outW = data.outputWidth;
  const probeX = tf.tensor2d(data.train.x.subarray(0, probeCount * inW), [probeCount, inW]);
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
      arch: config.arch.join('-'),
      activation: config.activation,
      epochs: config.epochs,
      seed: config.seed,
      backend: ctx.backend,
      batchSize: config.batchSize,
      optimizer: config.optimizer,
      kernelInit: formatInit(config.kernelInit),
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
      defaultsSource: entry.defaults.source,
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
