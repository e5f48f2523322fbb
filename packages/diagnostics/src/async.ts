import * as tf from '@tensorflow/tfjs-core';
import {
  NO_DIRECTION_DEG,
  ShapeError,
  angleAndNorms,
  backpropPass,
  randomSource,
  stepContext,
  type BoundRule,
  type ForwardTrace,
  type JsonValue,
  type Network,
  type StepResult,
  type Tensor,
  type TensorMap,
} from '@bioprop/core';
import {
  hiddenBelowOutput,
  kernelAt,
  type AlignmentCondition,
  type SignalAngleOptions,
  type SignalAngles,
  type TopSignal,
  type WeightAlignmentEntry,
} from './angles.js';
import { pinvArray, type PinvOptions } from './pinv.js';
import type { AlignmentRecord, ProbeArgs } from './recorder.js';

// The asynchronous diagnostics: the same tensors as the synchronous functions, read with `await data()` (WebGPU in
// Node cannot read synchronously), then the same float64 host arithmetic, so the numbers are the same bit for bit.

/** `pinv` reading the matrix with `await data()`. */
export async function pinvAsync(matrix: Tensor, options: PinvOptions = {}): Promise<tf.Tensor2D> {
  if (matrix.rank !== 2) throw new ShapeError(`pinv: expected a 2-D tensor, got shape [${matrix.shape}]`);
  const [rows, cols] = matrix.shape as [number, number];
  const { pinv: p } = pinvArray(await matrix.data(), rows, cols, options);
  return tf.tensor2d(Float32Array.from(p), [cols, rows]);
}

/** Pairs of tensors whose angle is wanted, and other tensors to read; every tensor here is the plan's own. */
interface Plan {
  delta: (Tensor[] | null)[];
  update: (Tensor[] | null)[];
  pbp: { layer: number; rule: Tensor[]; backprop: Tensor[] } | null;
  weights: { layer: number; pair: Tensor[] }[];
  /** `[mean, positive fraction]` of `eᵀWBe`. */
  condition: Tensor | null;
}

type MeasureFlags = { pbp: boolean; weights: boolean; condition: boolean };

/** A copy that shares the buffer (no data moves) and belongs to the plan: disposing it leaves the caller's tensor alone. */
const own = (t: Tensor) => tf.clone(t);
const pair = (a: Tensor, b: Tensor) => [own(a), own(b)];

/**
 * The tensors `signalAngles`, `weightAlignment` and `alignmentCondition` read, built without reading any. `kPinv` is
 * the output kernel's pseudoinverse (computed beforehand with an asynchronous read), or null for no pseudobackprop.
 * Call inside `tf.tidy` and return the plan from it.
 */
function buildPlan(
  network: Network,
  boundRule: BoundRule | null,
  trace: ForwardTrace,
  result: StepResult,
  top: TopSignal,
  params: readonly TensorMap[] | undefined,
  kPinv: Tensor | null,
  flags: MeasureFlags,
): Plan {
  const bp = backpropPass(network, trace, top, params);
  const delta = network.layers.map((_, l) => (result.signals[l] ? pair(result.signals[l], bp.signals[l]) : null));
  const update = network.layers.map((layer, l) => {
    const g = result.grads[l]?.[layer.kernelName];
    return g ? pair(g, bp.grads[l][layer.kernelName]) : null;
  });
  let pbp: Plan['pbp'] = null;
  const L = network.outputLayer;
  const topLayer = network.layers[L];
  const kernel = kernelAt(topLayer, L, params);
  const below = hiddenBelowOutput(network);
  if (flags.pbp && kPinv && below !== null && kernel.rank === 2 && result.signals[below]) {
    const e = top.outputError.rank === 2 ? top.outputError : tf.reshape(top.outputError, [top.outputError.shape[0], -1]);
    if (e.shape[1] !== kernel.shape[1]) {
      throw new ShapeError(`pseudoBackpropSignal: output error [${top.outputError.shape}] does not match kernel [${kernel.shape}]`);
    }
    const h = tf.matMul(e, kPinv);
    const pbpDelta = network.layers[below].blockVjp(trace, tf.reshape(h, trace.layers[below].output.shape)).delta;
    pbp = { layer: below, rule: pair(result.signals[below], pbpDelta), backprop: pair(bp.signals[below], pbpDelta) };
  }
  const weights: Plan['weights'] = [];
  let condition: Tensor | null = null;
  if (boundRule) {
    if (flags.weights) {
      network.layers.forEach((layer, l) => {
        const feedback = boundRule.feedbackWeights(l);
        // the synchronous weightAlignment compares B with the layer's current kernel
        if (feedback) weights.push({ layer: l, pair: pair(feedback, kernelAt(layer, l)) });
      });
    }
    if (flags.condition) condition = conditionTensor(network, boundRule, top.outputError, params);
  }
  return { delta, update, pbp, weights, condition };
}

/** `[mean, positive fraction]` of `eᵀWBe` at the output layer, as `alignmentCondition` computes it; null without feedback there. */
function conditionTensor(network: Network, boundRule: BoundRule, outputError: Tensor, params: readonly TensorMap[] | undefined): Tensor | null {
  const L = network.outputLayer;
  const top = network.layers[L];
  const feedback = boundRule.feedbackWeights(L);
  if (!feedback) return null;
  const n = outputError.shape[0];
  const e = tf.mul(outputError, n);
  const viaW = tf.reshape(top.backwardInput(e, kernelAt(top, L, params)), [n, -1]);
  const viaB = tf.reshape(top.backwardInput(e, feedback), [n, -1]);
  const per = tf.sum(tf.mul(viaW, viaB), 1);
  return tf.stack([tf.mean(per), tf.mean(tf.cast(tf.greater(per, 0), 'float32'))]);
}

function planTensors(plan: Plan): Tensor[] {
  return [
    ...plan.delta.flat().filter((t): t is Tensor => t !== null),
    ...plan.update.flat().filter((t): t is Tensor => t !== null),
    ...(plan.pbp ? [...plan.pbp.rule, ...plan.pbp.backprop] : []),
    ...plan.weights.flatMap((w) => w.pair),
    ...(plan.condition ? [plan.condition] : []),
  ];
}

interface Measured {
  angles: SignalAngles;
  weights: WeightAlignmentEntry[];
  condition: AlignmentCondition | null;
}

/** Read every tensor of the plan (`await data()`), then dispose it, and compute the numbers on the host. */
async function readPlan(plan: Plan, network: Network): Promise<Measured> {
  const tensors = planTensors(plan);
  let values: Map<Tensor, ArrayLike<number>>;
  try {
    const read = await Promise.all(tensors.map((t) => t.data()));
    values = new Map(tensors.map((t, i) => [t, read[i] as ArrayLike<number>]));
  } finally {
    tf.dispose(tensors);
  }
  const angle = (p: Tensor[] | null) => {
    if (!p) return NO_DIRECTION_DEG;
    const [a, b] = [values.get(p[0])!, values.get(p[1])!];
    if (a.length !== b.length) throw new ShapeError(`angleDeg: sizes differ ([${p[0].shape}] vs [${p[1].shape}])`);
    return angleAndNorms(a, b).angleDeg;
  };
  const weights = plan.weights.map(({ layer, pair: p }) => {
    const m = angleAndNorms(values.get(p[0])!, values.get(p[1])!);
    return { layer, angleDeg: m.angleDeg, normRatio: m.normB > 0 && Number.isFinite(m.normA / m.normB) ? m.normA / m.normB : null };
  });
  let condition: AlignmentCondition | null = null;
  if (plan.condition) {
    const v = values.get(plan.condition)!;
    const [mean, pos] = [v[0], v[1]];
    condition = { layer: network.outputLayer, mean, positiveFraction: pos };
  }
  return {
    angles: {
      deltaDeg: plan.delta.map(angle),
      updateDeg: plan.update.map(angle),
      pbp: plan.pbp ? { layer: plan.pbp.layer, ruleDeg: angle(plan.pbp.rule), backpropDeg: angle(plan.pbp.backprop) } : null,
    },
    weights,
    condition,
  };
}

/** The output kernel's pseudoinverse when pseudobackprop can be measured on this network, else null. */
async function outputPinv(network: Network, params: readonly TensorMap[] | undefined, wanted: boolean, options?: PinvOptions): Promise<Tensor | null> {
  const L = network.outputLayer;
  const kernel = kernelAt(network.layers[L], L, params);
  if (!wanted || hiddenBelowOutput(network) === null || kernel.rank !== 2) return null;
  return pinvAsync(kernel, options);
}

/** `signalAngles` for backends that cannot read synchronously: the same angles, read with `await data()`. */
export async function signalAnglesAsync(
  network: Network,
  trace: ForwardTrace,
  result: StepResult,
  top: TopSignal,
  options: SignalAngleOptions = {},
): Promise<SignalAngles> {
  const kPinv = await outputPinv(network, options.params, options.pbp !== false, options.pinv);
  try {
    const flags = { pbp: options.pbp !== false, weights: false, condition: false };
    const plan = tf.tidy(() => buildPlan(network, null, trace, result, top, options.params, kPinv, flags) as unknown as tf.TensorContainer) as unknown as Plan;
    return (await readPlan(plan, network)).angles;
  } finally {
    kPinv?.dispose();
  }
}

/** `weightAlignment` read with `await data()`. */
export async function weightAlignmentAsync(network: Network, boundRule: BoundRule, options: { params?: readonly TensorMap[] } = {}): Promise<WeightAlignmentEntry[]> {
  const pairs = tf.tidy(() => {
    const out: { layer: number; pair: Tensor[] }[] = [];
    network.layers.forEach((layer, l) => {
      const feedback = boundRule.feedbackWeights(l);
      if (feedback) out.push({ layer: l, pair: pair(feedback, kernelAt(layer, l, options.params)) });
    });
    return out as unknown as tf.TensorContainer;
  }) as unknown as Plan['weights'];
  return (await readPlan({ delta: [], update: [], pbp: null, weights: pairs, condition: null }, network)).weights;
}

/** `alignmentCondition` read with `await data()`. */
export async function alignmentConditionAsync(
  network: Network,
  boundRule: BoundRule,
  outputError: Tensor,
  options: { params?: readonly TensorMap[] } = {},
): Promise<AlignmentCondition | null> {
  const condition = tf.tidy(() => conditionTensor(network, boundRule, outputError, options.params) ?? undefined);
  if (!condition) return null;
  return (await readPlan({ delta: [], update: [], pbp: null, weights: [], condition }, network)).condition;
}

type Measurement = Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'>;

const toRecord = (m: Measured): Measurement => ({
  deltaAngleDeg: m.angles.deltaDeg,
  updateAngleDeg: m.angles.updateDeg,
  pbp: m.angles.pbp,
  weights: m.weights,
  condition: m.condition,
});

/**
 * `probeAlignment` for backends that cannot read synchronously: the rule runs on the batch with the current weights
 * (state, meta and the run's random streams restored or untouched, as in `probeAlignment`), and the measurements are
 * read with `await data()`. The same numbers as `probeAlignment` on a backend that can read either way.
 */
export async function probeAlignmentAsync(args: ProbeArgs): Promise<Measurement> {
  const { network, boundRule } = args;
  const flags = { pbp: args.pbp ?? true, weights: args.weights ?? true, condition: args.condition ?? true };
  // the probe measures with the network's own weights: the kernel's pseudoinverse can be read before the rule runs
  const kPinv = await outputPinv(network, undefined, flags.pbp, args.pinv);
  try {
    const plan = tf.tidy(() => {
      const state = boundRule.state();
      const saved = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, tf.reshape(v, v.shape)]));
      const meta = JSON.stringify(boundRule.getMeta() ?? null);
      const random = randomSource(args.seed ?? 0);
      const n = args.input.shape[0];
      const target = args.target.shape.length === 1 + network.outputShape.length ? args.target : tf.reshape(args.target, [n, ...network.outputShape]);
      const trace = network.forward(args.input, { training: true, random: random.stream('forward') });
      const ctx = stepContext({ network, trace, target, loss: args.loss, step: args.step ?? 0, epoch: args.epoch ?? 0, random });
      let result: StepResult;
      try {
        result = boundRule.step(ctx);
      } finally {
        for (const [k, v] of Object.entries(state)) if (!v.isDisposed) v.assign(saved[k]);
        boundRule.setMeta(JSON.parse(meta) as JsonValue);
      }
      return buildPlan(network, boundRule, trace, result, ctx, undefined, kPinv, flags) as unknown as tf.TensorContainer;
    }) as unknown as Plan;
    return toRecord(await readPlan(plan, network));
  } finally {
    kPinv?.dispose();
  }
}

/**
 * A step's measurement whose reads are deferred (the recorder's step mode on an asynchronous backend): the tensors are
 * built now, inside the trainer's step, and read later. Pseudobackprop needs a read of the kernel before it can be
 * built, so it is not measured here (null); the epoch mode measures it.
 */
export function deferStepMeasurement(
  network: Network,
  boundRule: BoundRule,
  trace: ForwardTrace,
  result: StepResult,
  /** The step's loss gradient and output error, made inside the measurement's scope. */
  top: () => TopSignal,
  params: readonly TensorMap[] | undefined,
  flags: MeasureFlags,
): () => Promise<Measurement> {
  const plan = tf.tidy(
    () => buildPlan(network, boundRule, trace, result, top(), params, null, { ...flags, pbp: false }) as unknown as tf.TensorContainer,
  ) as unknown as Plan;
  // the trainer's tidy must not free them when the hook returns
  for (const t of planTensors(plan)) tf.keep(t);
  return async () => toRecord(await readPlan(plan, network));
}
