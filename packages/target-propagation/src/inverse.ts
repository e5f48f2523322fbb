import * as tf from '@tensorflow/tfjs-core';
import type { Activation, Layer, Loss, Optimizer, Tensor, TensorMap, Variable, VariableMap } from '@bioprop/core';

/** State keys of one layer's inverse (inside the layer-wise rule they appear as `layer<l>/<key>`). */
export const INVERSE_KERNEL = 'inverse/kernel';
export const INVERSE_BIAS = 'inverse/bias';
/** AO-SDTP: the inverse's weights from the auxiliary features z, `[n_{L-1}, auxUnits]`. */
export const INVERSE_AUX_KERNEL = 'inverse/auxKernel';
/** AO-SDTP: the fixed random projection R of `z = σ(h_{L-1} R)`, never trained. */
export const AUX_PROJECTION = 'aux/projection';
/** Prefix of the inverse optimizer's slots and its step counter. */
export const INVERSE_OPTIMIZER = 'inverseOptimizer/';
export const INVERSE_OPTIMIZER_STEPS = `${INVERSE_OPTIMIZER}steps`;

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

/** What one layer's inverse `g_l` reads: the forward layer (for the transposed map) and the output nonlinearity. */
export interface InverseMap {
  readonly layer: Layer;
  /** σ of `g_l`: the activation of the layer below, whose output `g_l` reconstructs. */
  readonly activation: Activation;
  readonly state: VariableMap;
}

const flat = (t: Tensor): Tensor => (t.rank === 2 ? t : tf.reshape(t, [t.shape[0], -1]));

/**
 * `g_l(u) = σ(Lᵀ(u; V) + c)`: the transpose of layer l's own linear map with the inverse kernel V (stored in the
 * layer's kernel layout), so a dense layer gets a dense inverse `u·Vᵀ`, a conv layer a transposed convolution,
 * a locally connected layer a transposed locally connected map. AO-SDTP adds `z·V_zᵀ` from the auxiliary features.
 */
export function inverseForward(inv: InverseMap, u: Tensor, z?: Tensor): { pre: Tensor; out: Tensor } {
  const { layer, state } = inv;
  const n = u.shape[0];
  let pre = tf.reshape(layer.backwardInput(u, state[INVERSE_KERNEL]), [n, ...layer.inputShape]);
  if (z) pre = tf.add(pre, tf.reshape(tf.matMul(z, tf.transpose(state[INVERSE_AUX_KERNEL])), [n, ...layer.inputShape]));
  pre = tf.add(pre, state[INVERSE_BIAS]);
  return { pre, out: inv.activation.apply(pre, { training: false }) };
}

/** AO-SDTP's fixed random features of the top layer's input: `z = σ(flat(h_{L-1})·R)`. */
export function auxFeatures(input: Tensor, projection: Tensor, activation: Activation): Tensor {
  return activation.apply(tf.matMul(flat(input), projection), { training: false });
}

/**
 * Gradients of the denoising inverse loss `½‖h − g(u)‖²` (batch mean) with respect to V, c (and V_z), given
 * `u = f(h + ε)`. The transposed map is linear in V, so `∇V` is the layer's own `paramGrads` with the roles of
 * input and δ swapped: `⟨∂ℒ/∂pre, Lᵀ(u; V)⟩ = ⟨L(∂ℒ/∂pre; V) − b, u⟩`.
 */
export function inverseGrads(inv: InverseMap, target: Tensor, u: Tensor, z: Tensor | undefined): { grads: TensorMap; loss: Tensor } {
  const n = target.shape[0];
  const { pre, out } = inverseForward(inv, u, z);
  const diff = tf.sub(out, target);
  const dPre = tf.div(tf.mul(diff, inv.activation.derivative(pre, out)), n);
  const grads: TensorMap = {
    kernel: inv.layer.paramGrads(dPre, u)[inv.layer.kernelName],
    bias: tf.sum(dPre, 0),
  };
  if (z) grads.auxKernel = tf.matMul(tf.transpose(flat(dPre)), z);
  return { grads, loss: tf.div(tf.sum(tf.square(diff)), 2 * n) };
}

/** The inverse weights as the optimizer sees them (its slots are keyed by these names). */
export function inverseVariables(state: VariableMap): VariableMap {
  const vars: VariableMap = { kernel: state[INVERSE_KERNEL], bias: state[INVERSE_BIAS] };
  if (state[INVERSE_AUX_KERNEL]) vars.auxKernel = state[INVERSE_AUX_KERNEL];
  return vars;
}

/**
 * Make the optimizer create every slot now (one zero step on zero-valued copies, then its counter reset), so the
 * rule's `state()` has the same keys before and after training and a checkpoint loads into a fresh binding.
 */
export function materializeSlots(optimizer: Optimizer, vars: VariableMap): VariableMap {
  const dummies: VariableMap = {};
  for (const [k, v] of Object.entries(vars)) dummies[k] = tf.tidy(() => tf.variable(tf.zerosLike(v), false, undefined, 'float32'));
  try {
    tf.tidy(() => {
      const zeros: TensorMap = {};
      for (const [k, v] of Object.entries(vars)) zeros[k] = tf.zerosLike(v);
      optimizer.apply(dummies, zeros);
    });
  } finally {
    for (const d of Object.values(dummies)) d.dispose();
  }
  optimizer.setMeta({ steps: 0 });
  const out: VariableMap = {};
  for (const [id, slot] of Object.entries(optimizer.slots())) out[`${INVERSE_OPTIMIZER}${id}`] = slot;
  out[INVERSE_OPTIMIZER_STEPS] = tf.tidy(() => tf.variable(tf.scalar(0), false, undefined, 'float32'));
  return out;
}

/** One step of the inverse optimizer; its step counter lives in the state so a restored run continues exactly. */
export function applyInverseStep(optimizer: Optimizer, state: VariableMap, grads: TensorMap): void {
  const counter = state[INVERSE_OPTIMIZER_STEPS] as Variable;
  const steps = counter.dataSync()[0];
  optimizer.setMeta({ steps });
  optimizer.apply(inverseVariables(state), grads);
  counter.assign(tf.scalar(steps + 1));
}
