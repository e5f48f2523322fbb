import * as tf from '@tensorflow/tfjs-core';
import {
  NETWORK_INPUT,
  ShapeError,
  angleAndNorms,
  angleDeg,
  backpropPass,
  NO_DIRECTION_DEG,
  type BoundRule,
  type ForwardTrace,
  type Layer,
  type Network,
  type StepContext,
  type StepResult,
  type Tensor,
  type TensorMap,
} from '@bioprop/core';

/** What the teaching pass starts from: the loss gradient at the output and the output layer's error. */
export type TopSignal = Pick<StepContext, 'gradOutput' | 'outputError' | 'outputBlockGrads'>;
import { pinv, type PinvOptions } from './pinv.js';

/** Layer l's kernel as the rule saw it: `params[l]` when given, else the layer's own. */
export function kernelAt(layer: Layer, l: number, params?: readonly TensorMap[]): Tensor {
  return params?.[l]?.[layer.kernelName] ?? layer.params[layer.kernelName];
}

/**
 * Pseudobackprop's signal for the layer below a dense layer, in our row convention, before `f'`.
 * methods.md: `Δh_PBP = W⁺ e` with `W` the `n_L × n_{L−1}` forward matrix (column vectors). Our kernel is
 * `K = Wᵀ` (`[n_{L−1}, n_L]`) and a batch holds `e_iᵀ` as rows, so row i is `(W⁺ e_i)ᵀ = e_iᵀ (W⁺)ᵀ = e_iᵀ (Wᵀ)⁺`:
 * `ΔH_PBP = E · K⁺` (`[N, n_L]·[n_L, n_{L−1}]`), the pseudoinverse standing where backprop's `E · Kᵀ` has `Kᵀ`.
 * `K⁺` comes from a rank-revealing QR (see `pinv`), never from `Kᵀ`.
 */
export function pseudoBackpropSignal(kernel: Tensor, outputError: Tensor, options: PinvOptions = {}): Tensor {
  if (kernel.rank !== 2) throw new ShapeError(`pseudoBackpropSignal: the kernel must be 2-D (a dense layer), got [${kernel.shape}]`);
  const kPinv = pinv(kernel, options);
  return tf.tidy(() => {
    const e = outputError.rank === 2 ? outputError : tf.reshape(outputError, [outputError.shape[0], -1]);
    if (e.shape[1] !== kernel.shape[1]) {
      throw new ShapeError(`pseudoBackpropSignal: output error [${outputError.shape}] does not match kernel [${kernel.shape}]`);
    }
    return tf.matMul(e, kPinv);
  });
}

export interface SignalAngleOptions {
  /** The parameters the rule saw (`StepHookContext.paramsBefore`): backprop is evaluated with them. */
  params?: readonly TensorMap[];
  /** Also measure the angle to pseudobackprop at the last hidden layer (default true). */
  pbp?: boolean;
  pinv?: PinvOptions;
}

export interface SignalAngles {
  /** Per layer: angle between the rule's `δ_l` and backprop's on the same trace (0 for backprop itself). */
  deltaDeg: number[];
  /** Per layer: angle between the rule's kernel update and backprop's (90 where the rule gives none). */
  updateDeg: number[];
  /**
   * At the layer below a dense output layer (when its block output is that layer's input): the angle between the
   * rule's `δ` and pseudobackprop's (`E·K⁺` through that layer's block), and between backprop's and
   * pseudobackprop's; null otherwise.
   */
  pbp: { layer: number; ruleDeg: number; backpropDeg: number } | null;
}

/** The layer whose block output the output layer reads (the last hidden layer), or null on graphs where none does. */
export function hiddenBelowOutput(network: Network): number | null {
  const t = network.topology;
  const input = t.layers[network.outputLayer].input;
  if (input === NETWORK_INPUT) return null;
  const l = t.layers.findIndex((x) => x.block.end === input);
  return l >= 0 ? l : null;
}

/**
 * Angles between a rule's teaching signals and updates (`result`, from `trace`) and backprop's on the same batch,
 * per layer, plus pseudobackprop's at the last hidden layer. `top` is the step context's loss gradient and output
 * error (a `StepContext` will do).
 */
export function signalAngles(network: Network, trace: ForwardTrace, result: StepResult, top: TopSignal, options: SignalAngleOptions = {}): SignalAngles {
  let out!: SignalAngles;
  tf.tidy(() => {
    const bp = backpropPass(network, trace, top, options.params);
    const deltaDeg = network.layers.map((_, l) => (result.signals[l] ? angleDeg(result.signals[l], bp.signals[l]) : NO_DIRECTION_DEG));
    const updateDeg = network.layers.map((layer, l) => {
      const g = result.grads[l]?.[layer.kernelName];
      return g ? angleDeg(g, bp.grads[l][layer.kernelName]) : NO_DIRECTION_DEG;
    });
    let pbp: SignalAngles['pbp'] = null;
    const topLayer = network.layers[network.outputLayer];
    const kernel = kernelAt(topLayer, network.outputLayer, options.params);
    const below = hiddenBelowOutput(network);
    if (options.pbp !== false && below !== null && kernel.rank === 2 && result.signals[below]) {
      const h = pseudoBackpropSignal(kernel, top.outputError, options.pinv);
      const layer = network.layers[below];
      const pbpDelta = layer.blockVjp(trace, tf.reshape(h, trace.layers[below].output.shape)).delta;
      pbp = { layer: below, ruleDeg: angleDeg(result.signals[below], pbpDelta), backpropDeg: angleDeg(bp.signals[below], pbpDelta) };
    }
    out = { deltaDeg, updateDeg, pbp };
  });
  return out;
}

export interface WeightAlignmentEntry {
  layer: number;
  /** Angle between `B_l` and the kernel it stands in for (the papers' `B` vs `Wᵀ`). */
  angleDeg: number;
  /** `‖B_l‖_F / ‖W_l‖_F`; null when the kernel is zero. */
  normRatio: number | null;
}

/**
 * For every layer whose rule exposes feedback weights (`boundRule.feedbackWeights(l)`, in the kernel's layout):
 * the angle between `B` and the kernel, and `‖B‖/‖W‖`.
 */
export function weightAlignment(network: Network, boundRule: BoundRule, options: { params?: readonly TensorMap[] } = {}): WeightAlignmentEntry[] {
  const out: WeightAlignmentEntry[] = [];
  tf.tidy(() => {
    network.layers.forEach((layer, l) => {
      const feedback = boundRule.feedbackWeights(l);
      if (!feedback) return;
      const kernel = kernelAt(layer, l, options.params);
      const m = angleAndNorms(feedback.dataSync() as ArrayLike<number>, kernel.dataSync() as ArrayLike<number>);
      out.push({ layer: l, angleDeg: m.angleDeg, normRatio: m.normB > 0 && Number.isFinite(m.normA / m.normB) ? m.normA / m.normB : null });
    });
  });
  return out;
}

export interface AlignmentCondition {
  /** The layer whose `W` and `B` were used (the output layer). */
  layer: number;
  /** Mean over the batch of `e_iᵀ W B e_i`. */
  mean: number;
  /** Fraction of the batch's samples with `e_iᵀ W B e_i > 0`. */
  positiveFraction: number;
}

/**
 * Lillicrap's alignment condition `eᵀ W B e` at the output layer, per sample, in the papers' column convention:
 * `e_i = N · outputError_i` is sample i's own loss gradient `∂ℓ_i/∂a_L` (our batch error carries `1/N`),
 * `W = kernelᵀ` (`n_L × n_{L−1}`), `B` the feedback (`n_{L−1} × n_L`, the kernel's layout). In rows:
 * `e_iᵀ W B e_i = ⟨(e K ᵀ)_i, (e Bᵀ)_i⟩`, the dot product of backprop's and the rule's signals to the layer below
 * (before its block): positive means the rule's signal is within 90° of backprop's. Null when the rule has no
 * feedback for the output layer.
 */
export function alignmentCondition(
  network: Network,
  boundRule: BoundRule,
  outputError: Tensor,
  options: { params?: readonly TensorMap[] } = {},
): AlignmentCondition | null {
  const L = network.outputLayer;
  const top = network.layers[L];
  let out: AlignmentCondition | null = null;
  tf.tidy(() => {
    const feedback = boundRule.feedbackWeights(L);
    if (!feedback) return;
    const n = outputError.shape[0];
    const e = tf.mul(outputError, n);
    const viaW = tf.reshape(top.backwardInput(e, kernelAt(top, L, options.params)), [n, -1]);
    const viaB = tf.reshape(top.backwardInput(e, feedback), [n, -1]);
    const per = tf.sum(tf.mul(viaW, viaB), 1);
    const [mean, pos] = tf.stack([tf.mean(per), tf.mean(tf.cast(tf.greater(per, 0), 'float32'))]).dataSync();
    out = { layer: L, mean, positiveFraction: pos };
  });
  return out;
}
