import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  checkNumber,
  randomSource,
  stepContext,
  type BoundRule,
  type EpochHookContext,
  type JsonValue,
  type Loss,
  type Network,
  type StepHookContext,
  type Tensor,
  type TensorMap,
  type TrainerHooks,
} from '@bioprop/core';
import {
  alignmentCondition,
  signalAngles,
  weightAlignment,
  type AlignmentCondition,
  type SignalAngles,
  type TopSignal,
  type WeightAlignmentEntry,
} from './angles.js';
import type { PinvOptions } from './pinv.js';
import { deferStepMeasurement, probeAlignmentAsync } from './async.js';

/** One measurement: everything is a plain number (JSON-ready). */
export interface AlignmentRecord {
  /** 1-based epoch the measurement belongs to. */
  epoch: number;
  /** Training steps completed when it was taken. */
  step: number;
  /** Batch index within the epoch (step mode), null in epoch mode. */
  batch: number | null;
  /** Per layer: angle of the rule's `δ_l` to backprop's (°). */
  deltaAngleDeg: number[];
  /** Per layer: angle of the rule's kernel update to backprop's (°). */
  updateAngleDeg: number[];
  /** Last hidden layer: angles to pseudobackprop (rule's and backprop's), when the top layer is dense. */
  pbp: SignalAngles['pbp'];
  /** Feedback vs forward weights, for layers whose rule state holds feedback. */
  weights: WeightAlignmentEntry[];
  /** `eᵀWBe` at the top layer, when the rule has feedback there. */
  condition: AlignmentCondition | null;
}

/** A batch held as plain arrays (a `@bioprop/datasets` split, or a slice of one). */
export interface ProbeBatch {
  x: Float32Array;
  y: Float32Array;
  count: number;
}

export interface AlignmentRecorderOptions {
  /**
   * `'step'`: measure on a training step's own batch, trace and result, with backprop evaluated on the weights the
   * rule saw (`paramsBefore`). `'epoch'` (default): once per epoch, on `probe`.
   */
  every?: 'step' | 'epoch';
  /** Step mode: measure every k-th step (default 1). */
  everySteps?: number;
  /**
   * Epoch mode: `'last'` (default) re-runs the rule on the epoch's last training batch with the end-of-epoch weights;
   * a `ProbeBatch` (e.g. the first 256 test samples) measures on the same batch every epoch. The rule's state and
   * meta are restored afterwards and its random streams are not touched, so a run with the recorder trains exactly
   * like one without.
   */
  probe?: 'last' | ProbeBatch;
  /** Measure angles to pseudobackprop (default true). */
  pbp?: boolean;
  /** Measure feedback–forward weight alignment (default true). */
  weights?: boolean;
  /** Measure `eᵀWBe` (default true). */
  condition?: boolean;
  /** Seed of the throwaway random source probe passes use (default 0). */
  seed?: number;
  pinv?: PinvOptions;
  /** Called with every new record (e.g. to print it). */
  onRecord?(record: AlignmentRecord): void;
  /**
   * Read measurements with `await data()` (backends that cannot read synchronously: WebGPU in Node). Default: when
   * the active backend is webgpu. Epoch mode awaits the probe at the epoch's end (`fit` awaits `onEpochEnd`). Step
   * mode builds the measurement in the step and reads it afterwards: records arrive in order, by the epoch's end or
   * `await recorder.flush()`, and have `pbp: null` (the pseudoinverse needs a read first; epoch mode measures it).
   */
  async?: boolean;
}

/** A trainer hook that keeps a history of alignment measurements. */
export interface AlignmentRecorder extends TrainerHooks {
  readonly history: AlignmentRecord[];
  /** The history as JSON. */
  toJSON(): JsonValue;
  /** Release the tensors kept between steps (the last batch in `probe: 'last'` mode). */
  dispose(): void;
  /** Wait until every deferred measurement (step mode on an asynchronous backend) is in `history`. */
  flush(): Promise<void>;
}

interface MeasureParts {
  network: Network;
  boundRule: BoundRule;
  pbp: boolean;
  weights: boolean;
  condition: boolean;
  pinv?: PinvOptions;
}

function measureStep(parts: MeasureParts, ctx: StepHookContext): Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'> {
  let out!: Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'>;
  tf.tidy(() => {
    const top = stepContext({
      network: ctx.network,
      trace: ctx.trace,
      target: ctx.target,
      loss: ctx.lossFn,
      step: ctx.step - 1,
      epoch: ctx.epoch,
      random: randomSource(0),
    });
    out = summarize(parts, ctx.trace, ctx.result, top, ctx.paramsBefore);
  });
  return out;
}

function summarize(
  parts: MeasureParts,
  trace: StepHookContext['trace'],
  result: StepHookContext['result'],
  top: TopSignal,
  params: readonly TensorMap[] | undefined,
): Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'> {
  const angles = signalAngles(parts.network, trace, result, top, { params, pbp: parts.pbp, pinv: parts.pinv });
  return {
    deltaAngleDeg: angles.deltaDeg,
    updateAngleDeg: angles.updateDeg,
    pbp: angles.pbp,
    weights: parts.weights ? weightAlignment(parts.network, parts.boundRule) : [],
    condition: parts.condition ? alignmentCondition(parts.network, parts.boundRule, top.outputError, { params }) : null,
  };
}

export interface ProbeArgs {
  network: Network;
  boundRule: BoundRule;
  loss: Loss;
  input: Tensor;
  target: Tensor;
  /** Step and epoch the rule is told (for rules with schedules). */
  step?: number;
  epoch?: number;
  seed?: number;
  pbp?: boolean;
  weights?: boolean;
  condition?: boolean;
  pinv?: PinvOptions;
}

/**
 * Run the rule on a batch with the network's current weights and measure it against backprop, without training:
 * no optimizer step, the rule's state and meta restored afterwards (rules that learn inside `step`), and a throwaway
 * random source (the run's streams untouched).
 */
export function probeAlignment(args: ProbeArgs): Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'> {
  const { network, boundRule } = args;
  let out!: Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'>;
  tf.tidy(() => {
    const state = boundRule.state();
    // zero-copy snapshots: an `assign` inside the rule's step moves the variable off the snapshot's buffer
    const saved = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, tf.reshape(v, v.shape)]));
    const meta = JSON.stringify(boundRule.getMeta() ?? null);
    const random = randomSource(args.seed ?? 0);
    const n = args.input.shape[0];
    const input = args.input;
    const target = args.target.shape.length === 1 + network.outputShape.length ? args.target : tf.reshape(args.target, [n, ...network.outputShape]);
    const trace = network.forward(input, { training: true, random: random.stream('forward') });
    const ctx = stepContext({ network, trace, target, loss: args.loss, step: args.step ?? 0, epoch: args.epoch ?? 0, random });
    let result;
    try {
      result = boundRule.step(ctx);
    } finally {
      for (const [k, v] of Object.entries(state)) if (!v.isDisposed) v.assign(saved[k]);
      boundRule.setMeta(JSON.parse(meta) as JsonValue);
    }
    out = summarize(
      { network, boundRule, pbp: args.pbp ?? true, weights: args.weights ?? true, condition: args.condition ?? true, pinv: args.pinv },
      trace,
      result,
      ctx,
      undefined,
    );
  });
  return out;
}

/**
 * A trainer hook recording, per step or per epoch, each layer's angle to backprop (teaching signal and update), the
 * last hidden layer's angle to pseudobackprop, feedback–forward weight alignment and `eᵀWBe`:
 * `trainer.addHook(alignmentRecorder({ every: 'epoch' }))`.
 */
export function alignmentRecorder(options: AlignmentRecorderOptions = {}): AlignmentRecorder {
  const every = options.every ?? 'epoch';
  if (every !== 'step' && every !== 'epoch') throw new OptionError(`alignmentRecorder: every must be 'step' or 'epoch', got ${JSON.stringify(every)}`);
  const everySteps = checkNumber('alignmentRecorder everySteps', options.everySteps ?? 1, { min: 1, integer: true });
  const probe = options.probe ?? 'last';
  if (probe !== 'last' && !(probe && probe.x instanceof Float32Array && probe.y instanceof Float32Array && probe.count > 0)) {
    throw new OptionError("alignmentRecorder: probe must be 'last' or { x: Float32Array, y: Float32Array, count }");
  }
  const flags = { pbp: options.pbp ?? true, weights: options.weights ?? true, condition: options.condition ?? true, pinv: options.pinv };
  const history: AlignmentRecord[] = [];
  const useAsync = () => options.async ?? ASYNC_BACKENDS.has(tf.getBackend());
  // deferred step measurements, read one after another so the history keeps the steps' order
  let pending: Promise<void> = Promise.resolve();
  let pendingError: unknown = null;
  let kept: { input: Tensor; target: Tensor } | null = null;
  let loss: Loss | null = null;
  let stepsDone = 0;

  const push = (r: AlignmentRecord) => {
    history.push(r);
    options.onRecord?.(r);
  };
  const release = () => {
    if (kept) {
      kept.input.dispose();
      kept.target.dispose();
      kept = null;
    }
  };

  return {
    history,
    onStep(ctx: StepHookContext) {
      stepsDone = ctx.step;
      loss = ctx.lossFn;
      if (every === 'step') {
        if (ctx.step % everySteps !== 0) return;
        if (useAsync()) {
          const at = { epoch: ctx.epoch + 1, step: ctx.step, batch: ctx.batch };
          const read = deferStepMeasurement(ctx.network, ctx.boundRule, ctx.trace, ctx.result, () => stepTop(ctx), ctx.paramsBefore, flags);
          pending = pending.then(async () => {
            try {
              push({ ...at, ...(await read()) });
            } catch (err) {
              pendingError ??= err;
            }
          });
          return;
        }
        const m = measureStep({ network: ctx.network, boundRule: ctx.boundRule, ...flags }, ctx);
        push({ epoch: ctx.epoch + 1, step: ctx.step, batch: ctx.batch, ...m });
      } else if (probe === 'last') {
        release();
        // copies outlive the trainer's tidy: the epoch's last batch is measured at the epoch's end
        kept = { input: tf.keep(tf.clone(ctx.input)), target: tf.keep(tf.clone(ctx.target)) };
      }
    },
    async onEpochEnd(ctx: EpochHookContext) {
      if (every === 'step') return flush();
      if (!loss) return;
      let m: Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'> | null = null;
      const base = { network: ctx.network, boundRule: ctx.boundRule, loss, step: stepsDone, epoch: ctx.epoch, seed: options.seed, ...flags };
      const measure = (args: ProbeArgs) => (useAsync() ? probeAlignmentAsync(args) : probeAlignment(args));
      if (probe === 'last') {
        if (!kept) return;
        try {
          m = await measure({ ...base, input: kept.input, target: kept.target });
        } finally {
          release();
        }
      } else {
        const input = tf.tensor(probe.x, [probe.count, ...ctx.network.inputShape]);
        const target = tf.tensor(probe.y, [probe.count, ...ctx.network.outputShape]);
        try {
          m = await measure({ ...base, input, target });
        } finally {
          input.dispose();
          target.dispose();
        }
      }
      push({ epoch: ctx.epoch, step: stepsDone, batch: null, ...m });
    },
    toJSON() {
      return JSON.parse(JSON.stringify(history)) as JsonValue;
    },
    dispose: release,
    flush,
  };

  async function flush(): Promise<void> {
    await pending;
    if (pendingError !== null) {
      const err = pendingError;
      pendingError = null;
      throw err;
    }
  }
}

/** Backends whose tensors cannot be read synchronously in every environment (as the trainer's `fit` decides). */
const ASYNC_BACKENDS = new Set(['webgpu']);

/** The step's loss gradient and output error, recomputed from its trace as `measureStep` does. */
function stepTop(ctx: StepHookContext): TopSignal {
  return stepContext({
    network: ctx.network,
    trace: ctx.trace,
    target: ctx.target,
    loss: ctx.lossFn,
    step: ctx.step - 1,
    epoch: ctx.epoch,
    random: randomSource(0),
  });
}
