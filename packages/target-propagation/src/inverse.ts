import * as tf from '@tensorflow/tfjs-core';
import type { Activation, ForwardTrace, Layer, Loss, Tensor, TensorMap } from '@bioprop/core';

/** Keys of one layer's inverse in its rule state (the layer-wise binding shows them as `layer<l>/<key>`). */
export const INVERSE_KERNEL = 'inverseKernel';
export const INVERSE_BIAS = 'inverseBias';
/** AO-SDTP: the inverse's weights from the auxiliary features z, `[n_{L-1}, auxUnits]`. */
export const INVERSE_AUX_KERNEL = 'auxKernel';
/** AO-SDTP: the fixed random projection R of `z = σ(h_{L-1} R)`, never trained. */
export const AUX_PROJECTION = 'auxProjection';
/** Name of the inverse weights' own optimizer in the layer state (its slots: `layer<l>/optimizers/inverse/…`). */
export const INVERSE_OPTIMIZER = 'inverse';

/**
 * `h_L` as the TP family sees the top: the network ends in a linear layer whose output `a_L` feeds the loss, so
 * for the cross-entropies `h_L` is the distribution the loss compares with `y` — `softmax(a_L)` or `σ(a_L)` —
 * and for any other loss it is the network output itself. Targets `ĥ_L = y` live in the same space.
 */
export function outputSpace(loss: Loss, output: Tensor): Tensor {
  if (loss.name === 'softmaxCrossEntropy') return tf.softmax(output);
  if (loss.name === 'sigmoidCrossEntropy') return tf.sigmoid(output);
  return output;
}

/** What one layer's inverse `g_l` reads. */
export interface InverseMap {
  /** Layer l: its transposed kernel map and its block. */
  readonly layer: Layer;
  /** σ of `g_l`: the activation in the block of the layer below, whose output `g_l` reconstructs (linear if none). */
  readonly activation: Activation;
  /** `inverseKernel` V (in the forward kernel's layout), `inverseBias` c (shaped like `h_{l-1}`), AO-SDTP's `auxKernel`. */
  readonly weights: Readonly<Record<string, Tensor>>;
  /** The forward pass whose block (max pooling's choice of maxima) the inverse routes through. */
  readonly trace: ForwardTrace;
}

const flat = (t: Tensor): Tensor => (t.rank === 2 ? t : tf.reshape(t, [t.shape[0], -1]));

/**
 * `S_l(u)`: a value at the block output `h_l` taken back to the kernel output's space (`a_l`) through the block's
 * structural adjoint at the trace: max pooling puts each value at its window's maximum (zeros elsewhere), average
 * pooling spreads it over its window, flatten reshapes, batch norm applies its VJP at the trace's statistics,
 * elementwise activations are skipped (V learns the rest of the map). On a block of activations only it is `u` itself.
 */
export function blockAdjoint(inv: InverseMap, u: Tensor): Tensor {
  return inv.layer.blockVjp(inv.trace, u, { structural: true }).delta;
}

/**
 * `g_l(u) = σ(Lᵀ(S_l(u); V) + c)`: the block's structural adjoint, then the transpose of layer l's own linear map
 * with the inverse kernel V, so a dense layer gets a dense inverse `u·Vᵀ`, a conv layer a transposed convolution,
 * a locally connected layer a transposed locally connected map. AO-SDTP adds `z·V_zᵀ` from the auxiliary features.
 * Returns the pre-activation, the output, and `S_l(u)` (the input the V-gradient needs).
 */
export function inverseForward(inv: InverseMap, u: Tensor, z?: Tensor): { pre: Tensor; out: Tensor; code: Tensor } {
  const { layer, weights } = inv;
  const n = u.shape[0];
  const code = blockAdjoint(inv, u);
  let pre = tf.reshape(layer.backwardInput(code, weights[INVERSE_KERNEL]), [n, ...layer.inputShape]);
  if (z) pre = tf.add(pre, tf.reshape(tf.matMul(z, tf.transpose(weights[INVERSE_AUX_KERNEL])), [n, ...layer.inputShape]));
  pre = tf.add(pre, weights[INVERSE_BIAS]);
  return { pre, out: inv.activation.apply(pre, { training: false }), code };
}

/** AO-SDTP's fixed random features of the top layer's input: `z = σ(flat(h_{L-1})·R)`. */
export function auxFeatures(input: Tensor, projection: Tensor, activation: Activation): Tensor {
  return activation.apply(tf.matMul(flat(input), projection), { training: false });
}

/**
 * Gradients of the denoising inverse loss `½‖h − g(u)‖²` (batch mean) with respect to V, c (and V_z), given
 * `u = f(h + ε)`, keyed like the state. The transposed map is linear in V, so `∇V` is the layer's own `paramGrads`
 * with the roles of input and δ swapped: `⟨∂ℒ/∂pre, Lᵀ(S(u); V)⟩ = ⟨L(∂ℒ/∂pre; V) − b, S(u)⟩`.
 */
export function inverseGrads(inv: InverseMap, target: Tensor, u: Tensor, z: Tensor | undefined): { grads: TensorMap; loss: Tensor } {
  const n = target.shape[0];
  const { pre, out, code } = inverseForward(inv, u, z);
  const diff = tf.sub(out, tf.reshape(target, out.shape));
  const dPre = tf.div(tf.mul(diff, inv.activation.derivative(pre, out)), n);
  const grads: TensorMap = {
    [INVERSE_KERNEL]: inv.layer.paramGrads(dPre, code)[inv.layer.kernelName],
    [INVERSE_BIAS]: tf.sum(dPre, 0),
  };
  if (z) grads[INVERSE_AUX_KERNEL] = tf.matMul(tf.transpose(flat(dPre)), z);
  return { grads, loss: tf.div(tf.sum(tf.square(diff)), 2 * n) };
}
