import * as tf from '@tensorflow/tfjs-core';
import {
  ShapeError,
  backpropSignals,
  type BoundRule,
  type ForwardTrace,
  type Layer,
  type Network,
  type StepResult,
  type Tensor,
  type TensorMap,
} from '@bioprop/core';
import { pinv, type PinvOptions } from './pinv.js';

/** The angle reported when either vector has no direction (zero norm, or non-finite entries). */
export const NO_DIRECTION_DEG = 90;

/** The angle between two equally long arrays and their Euclidean norms, in float64 (see `angleDeg`). */
export function angleAndNorms(va: ArrayLike<number>, vb: ArrayLike<number>): { angleDeg: number; normA: number; normB: number } {
  if (va.length !== vb.length) throw new ShapeError(`angle: lengths differ (${va.length} vs ${vb.length})`);
  // scale by the largest entry first so the squares neither underflow nor overflow
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < va.length; i++) {
    const x = Math.abs(va[i]);
    const y = Math.abs(vb[i]);
    // a NaN entry makes the whole vector directionless
    if (Number.isNaN(x)) ma = NaN;
    else if (x > ma) ma = x;
    if (Number.isNaN(y)) mb = NaN;
    else if (y > mb) mb = y;
  }
  if (!(ma > 0 && mb > 0 && Number.isFinite(ma) && Number.isFinite(mb))) {
    const norm = (v: ArrayLike<number>, m: number) => {
      if (!(m > 0 && Number.isFinite(m))) return m === 0 ? 0 : NaN;
      let t = 0;
      for (let i = 0; i < v.length; i++) t += (v[i] / m) ** 2;
      return m * Math.sqrt(t);
    };
    return { angleDeg: NO_DIRECTION_DEG, normA: norm(va, ma), normB: norm(vb, mb) };
  }
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < va.length; i++) {
    sa += (va[i] / ma) ** 2;
    sb += (vb[i] / mb) ** 2;
  }
  const ka = 1 / (ma * Math.sqrt(sa));
  const kb = 1 / (mb * Math.sqrt(sb));
  let d = 0;
  let s = 0;
  for (let i = 0; i < va.length; i++) {
    const u = va[i] * ka;
    const v = vb[i] * kb;
    d += (u - v) ** 2;
    s += (u + v) ** 2;
  }
  return { angleDeg: (2 * Math.atan2(Math.sqrt(d), Math.sqrt(s)) * 180) / Math.PI, normA: ma * Math.sqrt(sa), normB: mb * Math.sqrt(sb) };
}

/**
 * Angle in degrees between two tensors of the same size, flattened. Computed on the host in float64 as
 * `2·atan2(‖â − b̂‖, ‖â + b̂‖)` on the unit vectors (accurate near 0° and 180°, where `acos` of a rounded cosine is
 * not; identical tensors give exactly 0°). A zero or non-finite vector has no direction: the angle is then defined as
 * 90° (orthogonal: "no information"), so the result is always a number in [0, 180], never NaN.
 */
export function angleDeg(a: Tensor, b: Tensor): number {
  if (a.size !== b.size) throw new ShapeError(`angleDeg: sizes differ ([${a.shape}] vs [${b.shape}])`);
  return angleAndNorms(a.dataSync() as ArrayLike<number>, b.dataSync() as ArrayLike<number>).angleDeg;
}

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
   * At the last hidden layer (index L−2) under a dense top layer: the angle between the rule's `δ` and
   * pseudobackprop's `(E·K_L⁺) ⊙ f'(a_{L−1})`, and between backprop's and pseudobackprop's; null otherwise.
   */
  pbp: { layer: number; ruleDeg: number; backpropDeg: number } | null;
}

/**
 * Angles between a rule's teaching signals and updates (`result`, from `trace` and `outputError`) and backprop's
 * on the same batch, per layer, plus pseudobackprop's at the last hidden layer.
 */
export function signalAngles(
  network: Network,
  trace: ForwardTrace,
  result: StepResult,
  outputError: Tensor,
  options: SignalAngleOptions = {},
): SignalAngles {
  let out!: SignalAngles;
  tf.tidy(() => {
    const L = network.layers.length;
    const bpDeltas = backpropSignals(network, trace, outputError, options.params);
    // what `backpropGrads` returns, without running the backward pass a second time
    const bpGrads = network.layers.map((layer, l) => layer.paramGrads(trace.layers[l].input, bpDeltas[l]));
    const deltaDeg = network.layers.map((_, l) => (result.signals[l] ? angleDeg(result.signals[l], bpDeltas[l]) : NO_DIRECTION_DEG));
    const updateDeg = network.layers.map((layer, l) => {
      const g = result.grads[l]?.[layer.kernelName];
      return g ? angleDeg(g, bpGrads[l][layer.kernelName]) : NO_DIRECTION_DEG;
    });
    let pbp: SignalAngles['pbp'] = null;
    const top = network.layers[L - 1];
    const kernel = kernelAt(top, L - 1, options.params);
    if (options.pbp !== false && L >= 2 && kernel.rank === 2 && result.signals[L - 2]) {
      const below = trace.layers[L - 2];
      const h = pseudoBackpropSignal(kernel, outputError, options.pinv);
      const pbpDelta = tf.mul(tf.reshape(h, below.pre.shape), network.layers[L - 2].activation.derivative(below.pre, below.output));
      pbp = { layer: L - 2, ruleDeg: angleDeg(result.signals[L - 2], pbpDelta), backpropDeg: angleDeg(bpDeltas[L - 2], pbpDelta) };
    }
    out = { deltaDeg, updateDeg, pbp };
  });
  return out;
}

/** Where a layer's feedback weights were found in `boundRule.state()`. */
export interface FeedbackLocation {
  key: string;
  /** The feedback in layer l's kernel layout (a new tensor when transposed). */
  feedback: Tensor;
  transposed: boolean;
}

/**
 * Layer l's feedback weights in its kernel's layout, from a bound rule's state, or null. Convention (what core's
 * layer-wise binding produces): `layer{l}/feedback`, shaped like layer l's kernel, stands where backprop uses that
 * kernel to send `δ_l` down (FA and the learned-feedback rules). For the top layer of a DFA binding, the last hidden
 * layer's `layer{L−2}/directFeedback` (`[n_L, n_{L−1}]`) is its transpose.
 */
export function feedbackFor(network: Network, boundRule: BoundRule, l: number): FeedbackLocation | null {
  const state = boundRule.state();
  const layer = network.layers[l];
  const kernel = layer.params[layer.kernelName];
  if (!kernel) return null;
  const key = `layer${l}/feedback`;
  const b = state[key];
  if (b && b.shape.join() === kernel.shape.join()) return { key, feedback: b, transposed: false };
  const L = network.layers.length;
  const dKey = `layer${l - 1}/directFeedback`;
  const d = state[dKey];
  if (l === L - 1 && l > 0 && d && kernel.rank === 2 && d.rank === 2 && d.shape[0] === kernel.shape[1] && d.shape[1] === kernel.shape[0]) {
    return { key: dKey, feedback: tf.transpose(d), transposed: true };
  }
  return null;
}

export interface WeightAlignmentEntry {
  layer: number;
  /** Where the feedback was found, e.g. `layer2/feedback`. */
  key: string;
  /** Angle between `B_l` and the kernel it stands in for (the papers' `B` vs `Wᵀ`). */
  angleDeg: number;
  /** `‖B_l‖_F / ‖W_l‖_F`; null when the kernel is zero. */
  normRatio: number | null;
}

/** For every layer with feedback weights (see `feedbackFor`): angle between `B` and the kernel, and `‖B‖/‖W‖`. */
export function weightAlignment(network: Network, boundRule: BoundRule, options: { params?: readonly TensorMap[] } = {}): WeightAlignmentEntry[] {
  const out: WeightAlignmentEntry[] = [];
  tf.tidy(() => {
    network.layers.forEach((layer, l) => {
      const found = feedbackFor(network, boundRule, l);
      if (!found) return;
      const kernel = kernelAt(layer, l, options.params);
      const m = angleAndNorms(found.feedback.dataSync() as ArrayLike<number>, kernel.dataSync() as ArrayLike<number>);
      out.push({
        layer: l,
        key: found.key,
        angleDeg: m.angleDeg,
        normRatio: m.normB > 0 && Number.isFinite(m.normA / m.normB) ? m.normA / m.normB : null,
      });
    });
  });
  return out;
}

export interface AlignmentCondition {
  /** The layer whose `W` and `B` were used (the top layer, index L−1). */
  layer: number;
  /** Mean over the batch of `e_iᵀ W B e_i`. */
  mean: number;
  /** Fraction of the batch's samples with `e_iᵀ W B e_i > 0`. */
  positiveFraction: number;
}

/**
 * Lillicrap's alignment condition `eᵀ W B e` at the top layer, per sample, in the papers' column convention:
 * `e_i = N · outputError_i` is sample i's own loss gradient `∂ℓ_i/∂a_L` (our batch error carries `1/N`),
 * `W = kernelᵀ` (`n_L × n_{L−1}`), `B` the feedback (`n_{L−1} × n_L`, the kernel's layout). In rows:
 * `e_iᵀ W B e_i = ⟨(e K ᵀ)_i, (e Bᵀ)_i⟩`, the dot product of backprop's and the rule's signals to the layer below
 * (before `f'`): positive means the rule's signal is within 90° of backprop's. Null when the rule has no feedback
 * for the top layer.
 */
export function alignmentCondition(
  network: Network,
  boundRule: BoundRule,
  outputError: Tensor,
  options: { params?: readonly TensorMap[] } = {},
): AlignmentCondition | null {
  const L = network.layers.length;
  const top = network.layers[L - 1];
  let out: AlignmentCondition | null = null;
  tf.tidy(() => {
    const found = feedbackFor(network, boundRule, L - 1);
    if (!found) return;
    const n = outputError.shape[0];
    const e = tf.mul(outputError, n);
    const viaW = tf.reshape(top.backwardInput(e, kernelAt(top, L - 1, options.params)), [n, -1]);
    const viaB = tf.reshape(top.backwardInput(e, found.feedback), [n, -1]);
    const per = tf.sum(tf.mul(viaW, viaB), 1);
    const [mean, pos] = tf.stack([tf.mean(per), tf.mean(tf.cast(tf.greater(per, 0), 'float32'))]).dataSync();
    out = { layer: L - 1, mean, positiveFraction: pos };
  });
  return out;
}
