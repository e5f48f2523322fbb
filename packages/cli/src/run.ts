import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  createTrainer,
  perLayer,
  randomSource,
  resolveOptimizer,
  type JsonValue,
  type OptimizerConfig,
  type Rule,
  type RuleEntry,
  type TrainData,
  type Trainer,
} from '@bioprop/core';
import { restoreTrainer, saveCheckpoint } from '@bioprop/core/node';
import { probeSignals } from './angles.js';
import { defaultArch, standardizer, type DatasetName, type LoadedData } from './data.js';
import { UsageError } from './errors.js';
import { RULE_TRAINING_KEYS, SAME_OPTIMIZER_DEFAULTS, parseExperiment, ruleLabel, type Experiment, type LeafRule, type LossChoice, type Normalize, type RuleOptions, type RuleRef } from './experiment.js';
import { archLabel, buildNetwork, formatInit, parseArch, parseInit, presetTraining, type ArchSpec, type DataShape, type KernelInit } from './network.js';
import type { Progress } from './progress.js';
import type { RuleRegistry } from './rules.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'adam', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
export type { RuleOptions };

/** One run of an experiment: the experiment, one of its rules and one of its seeds. Saved in checkpoints. */
export interface RunSpec {
  experiment: Experiment;
  rule: RuleRef;
  seed: number;
}

/** The flags of train, compare and bench for one rule (null: the rule's tuned default). */
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
  angles: boolean;
  ruleOptions?: RuleOptions | null;
}

/** The run config of one rule from flags (bench): the same resolution as an experiment with that one rule. */
export function resolveConfig(entry: RuleEntry, options: RunOptions, data: DataShape & { task: LoadedData['task']; count?: number }): RunConfig {
  const registry: RuleRegistry = {
    rules: new Map([[entry.id, { entry, package: entry.id }]]),
    missing: [],
    entry: () => entry,
    ids: () => [entry.id],
  };
  const experiment = experimentFromFlags({ ...options, rules: [{ id: entry.id, options: options.ruleOptions ?? undefined }], seeds: [options.seed] });
  return resolveRun({ experiment, rule: experiment.rules[0], seed: options.seed }, registry, data).config;
}

/** An experiment from command-line flags: what train, compare and bench build (one path through the code). */
export function experimentFromFlags(
  flags: Omit<RunOptions, 'rule' | 'ruleOptions' | 'seed'> & {
    rules: RuleRef[];
    seeds: number[];
    name?: string;
    loss?: LossChoice;
    sameOptimizer?: boolean;
    maxSteps?: number | null;
    allowDivergence?: boolean;
    validation?: number;
    normalize?: Normalize;
    alignment?: boolean;
    plugins?: string[];
    backend?: string;
  },
): Experiment {
  let optimizer: OptimizerConfig | null = null;
  if (flags.optimizer !== null) {
    if (flags.lr === null) throw new UsageError(`--optimizer ${flags.optimizer} needs --lr as well (no global guess across rules)`);
    optimizer = { name: flags.optimizer, lr: flags.lr } as OptimizerConfig;
  }
  const doc: Record<string, unknown> = {
    name: flags.name ?? (flags.rules.length === 1 ? `${ruleLabel(flags.rules[0])}-${flags.dataset}` : `compare-${flags.dataset}`),
    data: {
      name: flags.dataset,
      dir: flags.dataDir,
      limitTrain: flags.limitTrain,
      limitTest: flags.limitTest,
      validation: flags.validation ?? 0,
      normalize: flags.normalize ?? 'auto',
    },
    arch: flags.arch,
    activation: flags.activation,
    rules: flags.rules,
    plugins: flags.plugins ?? [],
    optimizer,
    lr: optimizer ? null : flags.lr,
    sameOptimizer: flags.sameOptimizer ?? false,
    init: flags.init,
    loss: flags.loss ?? 'auto',
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    seeds: flags.seeds,
    backend: flags.backend ?? 'auto',
    maxSteps: flags.maxSteps ?? null,
    divergenceFactor: flags.allowDivergence ? null : 100,
    metrics: { angles: flags.angles, alignment: flags.alignment ?? false, everySteps: 10 },
  };
  return parseExperiment(doc, 'options');
}

/** The folder and results key of one run: `<label>-seed<seed>`. */
export const runKey = (label: string, seed: number) => `${label}-seed${seed}`;

/** The run's settings once the rule's defaults, the preset's and the dataset filled every gap. */
export interface RunConfig {
  label: string;
  /** The rule id (`per-layer` for a composition). */
  rule: string;
  ruleName: string;
  dataset: DatasetName;
  arch: ArchSpec;
  activation: string;
  loss: 'softmaxCrossEntropy' | 'mse' | 'cauchy';
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** Kernel init; null: the preset's own. */
  kernelInit: KernelInit | null;
  seed: number;
  /** The rule's options with every default filled by its schema (what `entry.create` receives). */
  ruleOptions: JsonValue;
  /** Inputs standardized with the training set's mean and standard deviation. */
  standardize: boolean;
  /** Each rule its tuned optimizer (`tuned`), or one for every rule (`same`). */
  mode: 'tuned' | 'same';
  /** The trainer's divergence watch (null: off). */
  divergenceFactor: number | null;
  /** Where the defaults came from: the rule's package, the preset, or the same-optimizer mode. */
  defaultsSource: string;
}

/** Per-layer feedback–forward alignment and the other probes `metrics.alignment` asks for. */
export interface AlignmentProbe {
  /** Per layer with feedback weights: angle between B and the kernel (°) and ‖B‖/‖W‖. */
  weights: { layer: number; angleDeg: number; normRatio: number | null }[];
  /** The last hidden layer's angle to pseudobackprop (rule's and backprop's), when the output layer is dense. */
  pbp: { layer: number; ruleDeg: number; backpropDeg: number } | null;
  /** eᵀWBe at the output layer: its batch mean and the fraction of samples where it is positive. */
  condition: { layer: number; mean: number; positiveFraction: number } | null;
}

/** One epoch of a run. */
export interface EpochResult {
  epoch: number;
  trainLoss: number;
  /** Fraction in [0, 1]; null for regression (the linear task). */
  testAccuracy: number | null;
  testLoss: number;
  /** On the held-out validation samples (null without a validation split, or for regression). */
  validationError: number | null;
  /** Training-step seconds of this epoch (no evaluation, no data loading). */
  seconds: number;
  /** Per layer, degrees between the rule's teaching signal and backprop's on the probe batch (0 for backprop). */
  angleToBackpropDeg: number[];
  alignment?: AlignmentProbe;
  /** Steps run in this epoch when `maxSteps` cut it short. */
  steps?: number;
}

/** The results JSON of one run (`results.json` of a run folder holds one per rule and seed). */
export interface RunResult {
  /** How the rule is named in tables (its id unless the experiment labels it). */
  label: string;
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
  mode: 'tuned' | 'same';
  trainCount: number;
  validationCount: number;
  testCount: number;
  /** Fractions in [0, 1] (null for regression). */
  testAccuracy: number | null;
  testError: number | null;
  testLoss: number;
  /** Lowest validation error over the epochs and its epoch (null without a validation split). */
  bestValidationError: number | null;
  bestValidationEpoch: number | null;
  /** Mean training loss of the last epoch. */
  trainLoss: number;
  /** Training samples over training-loop seconds. */
  samplesPerSecond: number;
  trainSeconds: number;
  samples: number;
  /** Set when `maxSteps` ended the run before its last epoch. */
  stoppedBy: 'maxSteps' | null;
  /** The last epoch's angles (empty when angles were off). */
  angleToBackpropDeg: number[];
  history: EpochResult[];
  /** The rule's options, every default filled (its schema's tuned values unless given). */
  ruleOptions: JsonValue;
  /** How the defaults were chosen. */
  defaultsSource: string;
}

/** What the CLI keeps in a checkpoint's `extra`. */
export interface RunCheckpointExtra {
  kind: 'bioprop-cli-run';
  version: 2;
  spec: RunSpec;
  history: EpochResult[];
  trainSeconds: number;
  samples: number;
  /** Training seconds already spent in the current (unfinished) epoch. */
  partialEpochSeconds: number;
  /** Present once the run finished. */
  result?: RunResult;
  /** The backend it ran on. */
  backend?: string;
}

/** The rule (or per-layer composition) of a run, its primary entry (whose defaults apply) and its filled options. */
export interface ResolvedRule {
  label: string;
  id: string;
  name: string;
  entry: RuleEntry;
  options: JsonValue;
  create(): Rule;
}

/** Resolve a rule reference against the installed rules; options are validated by each rule's schema. */
export function resolveRule(ref: RuleRef, registry: RuleRegistry, presetOptions?: (id: string) => JsonValue | undefined): ResolvedRule {
  const leaf = (l: LeafRule, path: string) => {
    const entry = registry.entry(l.id);
    const options = ruleOptionsFor(entry, presetOptions?.(l.id), l.options ?? null, path);
    return { entry, options, create: () => entry.create(options) };
  };
  if ('id' in ref) {
    const one = leaf(ref, ref.label ?? ref.id);
    return { label: ruleLabel(ref), id: ref.id, name: one.entry.name, entry: one.entry, options: one.options, create: one.create };
  }
  const p = ref.perLayer;
  if (Array.isArray(p)) {
    const leaves = p.map((l, i) => leaf(l, `${ref.label}.perLayer[${i}]`));
    return {
      label: ref.label,
      id: 'per-layer',
      name: `per layer: ${p.map((l) => l.id).join(', ')}`,
      entry: leaves[0].entry,
      options: { layers: leaves.map((l, i) => ({ id: p[i].id, options: l.options })) },
      create: () => perLayer(leaves.map((l) => l.create())),
    };
  }
  const base = leaf(p.default, `${ref.label}.perLayer.default`);
  const layers = Object.entries(p.layers).map(([k, l]) => [Number(k), leaf(l, `${ref.label}.perLayer.layers.${k}`), l.id] as const);
  return {
    label: ref.label,
    id: 'per-layer',
    name: `per layer: ${p.default.id} by default, ${layers.map(([k, , id]) => `${id} at layer ${k}`).join(', ')}`,
    entry: base.entry,
    options: { default: { id: p.default.id, options: base.options }, layers: Object.fromEntries(layers.map(([k, l, id]) => [k, { id, options: l.options }])) },
    create: () => perLayer({ default: base.create(), layers: Object.fromEntries(layers.map(([k, l]) => [k, l.create()])) }),
  };
}

/** Architecture of an experiment (null: the dataset's default MLP for this data). */
export function experimentArch(exp: Experiment, data: DataShape): ArchSpec {
  if (exp.arch === null) {
    const inputs = data.sampleShape.reduce((a, b) => a * b, 1);
    return { kind: 'widths', widths: defaultArch(exp.data.name, inputs, data.outputs) };
  }
  return typeof exp.arch === 'string' ? parseArch(exp.arch) : { kind: 'layers', layers: exp.arch, label: 'layer list' };
}

/** Fill every setting left out with the rule's tuned default, or the preset's where it has its own, and the dataset's. */
export function resolveRun(
  spec: RunSpec,
  registry: RuleRegistry,
  data: DataShape & { task: LoadedData['task']; count?: number },
): { config: RunConfig; rule: ResolvedRule } {
  const exp = spec.experiment;
  const arch = experimentArch(exp, data);
  if (arch.kind === 'widths') {
    const inputs = data.sampleShape.reduce((a, b) => a * b, 1);
    const w = arch.widths;
    if (w[0] !== inputs) throw new UsageError(`arch ${w.join('-')} takes ${w[0]} inputs but ${exp.data.name} samples have ${inputs} features`);
    if (w[w.length - 1] !== data.outputs) {
      throw new UsageError(`arch ${w.join('-')} has ${w[w.length - 1]} outputs but ${exp.data.name} has ${data.outputs} ${data.task === 'classification' ? 'classes' : 'targets'}`);
    }
  }
  const training = presetTraining(arch);
  const same = exp.sameOptimizer;
  const rule = resolveRule(spec.rule, registry, same ? undefined : (id) => training?.rules?.[id]?.ruleOptions);
  const entry = rule.entry;
  const perRule = same ? undefined : training?.rules?.[rule.id];
  const tuned = perRule?.optimizer ?? training?.optimizer ?? entry.defaults.optimizer;
  // the experiment's own settings for this rule win over its settings for every rule (parseExperiment refuses them
  // with sameOptimizer)
  const own = spec.rule;
  let optimizer: OptimizerConfig;
  if (own.optimizer) optimizer = own.optimizer;
  else if (exp.optimizer) optimizer = exp.optimizer;
  else if (same) optimizer = training?.optimizer ?? SAME_OPTIMIZER_DEFAULTS.optimizer;
  else optimizer = exp.lr === null ? tuned : { ...tuned, lr: exp.lr };
  if (same && exp.lr !== null && !exp.optimizer) optimizer = { ...optimizer, lr: exp.lr };
  const batchSize = own.batchSize ?? exp.batchSize ?? perRule?.batchSize ?? training?.batchSize ?? (same ? SAME_OPTIMIZER_DEFAULTS.batchSize : entry.defaults.batchSize);
  if (training?.schedule === 'cosine' && optimizer.schedule === undefined && data.count !== undefined) {
    optimizer = { ...optimizer, schedule: { type: 'cosine', totalSteps: Math.max(1, exp.epochs * Math.ceil(data.count / batchSize)) } };
  }
  const init = own.init ?? exp.init;
  const kernelInit =
    init !== null
      ? parseInit(init)
      : arch.kind !== 'widths'
        ? ((perRule?.kernelInit as KernelInit | undefined) ?? null)
        : same
          ? parseInit(SAME_OPTIMIZER_DEFAULTS.init)
          : entry.defaults.kernelInit;
  const loss = exp.loss !== 'auto' ? exp.loss : data.task === 'classification' ? 'softmaxCrossEntropy' : 'mse';
  const standardize = exp.data.normalize === 'auto' ? (training?.standardize ?? false) : exp.data.normalize === 'standardize';
  const ownKeys = RULE_TRAINING_KEYS.filter((k) => own[k] !== undefined);
  const source = same
    ? `one optimizer for every rule: ${exp.optimizer ? 'as given' : training?.optimizer ? `the preset's (${training.source})` : 'Adam 1e-3'}, batch ${batchSize}`
    : (training ? `${entry.defaults.source}; preset ${archLabel(arch)}: ${training.source}` : entry.defaults.source) +
      (ownKeys.length ? `; ${ownKeys.join(', ')} as the experiment gives for ${rule.label}` : '');
  return {
    rule,
    config: {
      label: rule.label,
      rule: rule.id,
      ruleName: rule.name,
      dataset: exp.data.name,
      arch,
      activation: exp.activation ?? entry.defaults.activation,
      loss,
      epochs: exp.epochs,
      batchSize,
      optimizer,
      kernelInit,
      seed: spec.seed,
      ruleOptions: rule.options,
      standardize,
      mode: same ? 'same' : 'tuned',
      divergenceFactor: exp.divergenceFactor,
      defaultsSource: source,
    },
  };
}

/**
 * A rule's options: the user's over the preset's for this rule, validated and filled by the rule's schema (an
 * OptionError names the key: a usage error, caught before any data is loaded).
 */
export function ruleOptionsFor(entry: RuleEntry, preset: JsonValue | undefined, given: RuleOptions | null | undefined, path = entry.id): JsonValue {
  const base = preset !== null && typeof preset === 'object' && !Array.isArray(preset) ? preset : {};
  try {
    return entry.options.parse({ ...base, ...(given ?? {}) }, path) as JsonValue;
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.message);
    throw e;
  }
}

/** A trainer built from a config: network, rule, loss and optimizer, all drawing from the seed's streams. */
export function buildTrainer(ruleOrEntry: ResolvedRule | RuleEntry, config: RunConfig, data: DataShape): Trainer {
  const rule = 'label' in ruleOrEntry ? ruleOrEntry : { create: () => ruleOrEntry.create(config.ruleOptions) };
  const random = randomSource(config.seed);
  const network = buildNetwork(config.arch, data, { activation: config.activation, kernelInit: config.kernelInit, random });
  try {
    const r = rule.create();
    r.check(network);
    return createTrainer({
      network,
      rule: r,
      loss: config.loss,
      optimizer: resolveOptimizer(config.optimizer as Parameters<typeof resolveOptimizer>[0]),
      random,
      divergence: config.divergenceFactor === null ? false : { factor: config.divergenceFactor },
    });
  } catch (err) {
    network.dispose();
    throw err;
  }
}

export interface RunContext {
  spec: RunSpec;
  registry: RuleRegistry;
  /** The experiment's data (validation not yet split off). */
  data: LoadedData;
  backend: string;
  progress: Progress;
  signal: AbortSignal;
  /** Save here at every epoch end and at the end. */
  checkpointDir: string;
  /** Continue from the checkpoint in `checkpointDir` (its extra is this). */
  resumeExtra?: RunCheckpointExtra;
  /** Each metrics line (JSON Lines in the run folder). */
  metrics?: (line: Record<string, JsonValue>) => void;
  /** Called once the run's position is known (0, or its checkpoint's step), before it logs any metrics. */
  onStart?: (step: number) => void;
  /** Label of progress lines, e.g. `[fa seed 1]`. */
  tag: string;
}

export type RunOutcome = { status: 'done'; result: RunResult } | { status: 'stopped'; checkpointDir: string; result: null };

const PROBE_SIZE = 256;

/** Split off the last `n` training samples as a validation set. */
export function splitValidation(data: LoadedData, n: number): { data: LoadedData; validation: TrainData | null } {
  if (n <= 0) return { data, validation: null };
  const train = data.train;
  if (n >= train.count) throw new UsageError(`data.validation (${n}) must be smaller than the ${train.count} training samples`);
  const keep = train.count - n;
  const inW = train.x.length / Math.max(1, train.count);
  const outW = train.y.length / Math.max(1, train.count);
  const slice = (from: number, to: number): TrainData => ({ ...train, x: train.x.subarray(from * inW, to * inW), y: train.y.subarray(from * outW, to * outW), count: to - from });
  return { data: { ...data, train: slice(0, keep) }, validation: slice(keep, train.count) };
}

/** Train one rule with one seed, epoch by epoch: evaluate, probe, save checkpoints; stop cleanly on the abort signal. */
export async function runOne(ctx: RunContext): Promise<RunOutcome> {
  const { spec, progress } = ctx;
  const exp = spec.experiment;
  const split = splitValidation(ctx.data, exp.data.validation);
  const shape = { sampleShape: ctx.data.sampleShape, outputs: ctx.data.outputWidth };
  const { config, rule } = resolveRun(spec, ctx.registry, { ...shape, task: ctx.data.task, count: split.data.train.count });
  const norm = config.standardize ? standardizer(split.data.train) : null;
  const data = norm ? { ...split.data, train: norm(split.data.train), test: norm(split.data.test) } : split.data;
  const validation = split.validation && norm ? norm(split.validation) : split.validation;
  const trainer = buildTrainer(rule, config, shape);
  const classification = data.task === 'classification';
  const probeCount = Math.min(PROBE_SIZE, data.train.count);
  const inW = data.inputWidth;
  const outW = data.outputWidth;
  const probeX = tf.tensor(data.train.x.subarray(0, probeCount * inW), [probeCount, ...trainer.network.inputShape]);
  const probeY = tf.tensor2d(data.train.y.subarray(0, probeCount * outW), [probeCount, outW]);
  const key = runKey(config.label, config.seed);
  try {
    let history: EpochResult[] = [];
    let trainSeconds = 0;
    let samples = 0;
    let partialEpochSeconds = 0;
    if (ctx.resumeExtra) {
      // the position must fit this run's epochs (a tampered manifest cannot skip or repeat batches)
      await restoreTrainer(trainer, ctx.checkpointDir, { batchesPerEpoch: Math.ceil(data.train.count / config.batchSize) });
      const extra = ctx.resumeExtra;
      history = [...extra.history];
      trainSeconds = extra.trainSeconds;
      samples = extra.samples;
      partialEpochSeconds = trainer.position.batch > 0 ? extra.partialEpochSeconds : 0;
    }
    ctx.onStart?.(trainer.position.step);
    const save = async (result?: RunResult) => {
      const extra: RunCheckpointExtra = { kind: 'bioprop-cli-run', version: 2, spec, history, trainSeconds, samples, partialEpochSeconds, result, backend: ctx.backend };
      await saveCheckpoint(ctx.checkpointDir, { network: trainer.network, boundRule: trainer.boundRule, trainer, extra: extra as unknown as JsonValue });
    };
    const batches = Math.ceil(data.train.count / config.batchSize);
    const every = exp.metrics.everySteps;
    let stoppedBy: 'maxSteps' | null = null;
    let lossSum = 0;
    let lossCount = 0;
    while (trainer.position.epoch < config.epochs) {
      const epoch = trainer.position.epoch + 1;
      const label = `${ctx.tag} epoch ${epoch}/${config.epochs}`;
      let fit;
      lossSum = 0;
      lossCount = 0;
      if (ctx.signal.aborted) {
        fit = { stopped: true, stoppedBy: 'signal' as const, trainSeconds: 0, samples: 0, epochs: [] };
      } else {
        progress.start(label, batches, trainer.position.batch);
        try {
          fit = await trainer.fit(data.train, {
            epochs: epoch,
            batchSize: config.batchSize,
            signal: ctx.signal,
            maxSteps: exp.maxSteps ?? undefined,
            onProgress: (p) => {
              progress.update(p.batch, p.loss);
              lossSum += p.loss;
              lossCount += 1;
              const step = trainer.position.step;
              if (ctx.metrics && step % every === 0) ctx.metrics({ run: key, type: 'step', step, epoch: p.epoch + 1, loss: p.loss });
            },
          });
        } finally {
          progress.stop();
        }
      }
      trainSeconds += fit.trainSeconds;
      samples += fit.samples;
      const cut = fit.stopped && fit.stoppedBy === 'maxSteps';
      if (fit.stopped && !cut) {
        partialEpochSeconds += fit.trainSeconds;
        await save();
        return { status: 'stopped', checkpointDir: ctx.checkpointDir, result: null };
      }
      const record = fit.epochs[fit.epochs.length - 1];
      // a run cut by maxSteps mid-epoch records what it trained (the mean loss of the steps it ran)
      const trainLoss = record?.trainLoss ?? (lossCount ? lossSum / lossCount : NaN);
      // evaluateAsync reads with await data(): the same numbers as evaluate on every backend, and it works on WebGPU
      const evaluation = await trainer.evaluateAsync(data.test);
      const validationError = validation && classification ? 1 - (await trainer.evaluateAsync(validation)).accuracy : null;
      const probe = exp.metrics.angles || exp.metrics.alignment ? await probeSignals(trainer, probeX, probeY, exp.metrics.alignment) : null;
      const item: EpochResult = {
        epoch: record?.epoch ?? epoch,
        trainLoss,
        testAccuracy: classification ? evaluation.accuracy : null,
        testLoss: evaluation.loss,
        validationError,
        seconds: (record?.seconds ?? fit.trainSeconds) + partialEpochSeconds,
        angleToBackpropDeg: exp.metrics.angles && probe ? probe.deltaAngleDeg : [],
      };
      if (probe?.alignment) item.alignment = probe.alignment;
      if (cut) item.steps = trainer.position.batch;
      partialEpochSeconds = 0;
      history.push(item);
      ctx.metrics?.({ run: key, type: 'epoch', step: trainer.position.step, ...(item as unknown as Record<string, JsonValue>) });
      progress.note(describeEpoch(ctx.tag, config.epochs, item, data.train.count / Math.max(1e-9, item.seconds)));
      if (cut) {
        stoppedBy = 'maxSteps';
        break;
      }
      await save();
    }
    const last = history[history.length - 1];
    const withValidation = history.filter((h) => h.validationError !== null);
    const best = withValidation.length ? withValidation.reduce((a, b) => ((b.validationError as number) < (a.validationError as number) ? b : a)) : null;
    const final = last ? null : await trainer.evaluateAsync(data.test);
    const testAccuracy = last?.testAccuracy ?? (classification ? final!.accuracy : null);
    const result: RunResult = {
      label: config.label,
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
      mode: config.mode,
      trainCount: data.train.count,
      validationCount: validation?.count ?? 0,
      testCount: data.test.count,
      testAccuracy,
      testError: testAccuracy === null ? null : 1 - testAccuracy,
      testLoss: last?.testLoss ?? final!.loss,
      bestValidationError: best?.validationError ?? null,
      bestValidationEpoch: best?.epoch ?? null,
      trainLoss: last?.trainLoss ?? NaN,
      samplesPerSecond: trainSeconds > 0 ? samples / trainSeconds : 0,
      trainSeconds,
      samples,
      stoppedBy,
      angleToBackpropDeg: last?.angleToBackpropDeg ?? [],
      history,
      ruleOptions: config.ruleOptions,
      defaultsSource: config.defaultsSource,
    };
    await save(result);
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
  const val = e.validationError === null ? '' : `, validation error ${pct(e.validationError)}`;
  const angles = e.angleToBackpropDeg.length ? `, angle to bp ${e.angleToBackpropDeg.map((a) => `${a.toFixed(1)}°`).join('/')}` : '';
  const cut = e.steps !== undefined ? ` (stopped after ${e.steps} steps: maxSteps)` : '';
  return `${label} epoch ${e.epoch}/${epochs}${cut}: train loss ${e.trainLoss.toFixed(4)}, ${err}${val}${angles}, ${Math.round(samplesPerSecond)} samples/s`;
}
