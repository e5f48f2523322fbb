import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  deltaFromSignal,
  permutation,
  resolveInitializer,
  glorotInit,
  type Layer,
  type LayerRule,
  type RandomStream,
  type Tensor,
  type TensorMap,
} from '@bioprop/core';
import type { FeedbackAlignmentConfig } from './options.js';

/** Layer state keys (core saves them as `layer{l}/B`, `layer{l}/forwardMask`): `B_l` in the kernel's layout, and the forward kernel's 0/1 mask. */
export const FEEDBACK_KEY = 'B';
export const FORWARD_MASK_KEY = 'forwardMask';

/** A 0/1 mask of `shape` with exactly `round(fraction · size)` zeros, at positions drawn from `stream`. */
export function sparseMask(shape: readonly number[], fraction: number, stream: RandomStream): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const mask = new Float32Array(size).fill(1);
  const zeros = Math.round(fraction * size);
  const order = permutation(size, stream);
  for (let i = 0; i < zeros; i++) mask[order[i]] = 0;
  return tf.tensor(mask, [...shape]);
}

function kernelOf(layer: Layer, index: number): tf.Variable {
  const k = layer.params[layer.kernelName];
  if (!k) throw new RuleSupportError(`feedback alignment: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}"`);
  return k;
}

/**
 * Feedback alignment at one layer: layer l sends `backwardInput(δ_l, B_l)` down instead of
 * `backwardInput(δ_l, kernel_l)`, with `B_l` fixed and random in the kernel's layout, drawn in `init` from the
 * layer's own stream. On any graph: signals cross pooling, batch norm and residual adds by their exact VJPs.
 */
export function feedbackAlignmentRule(o: FeedbackAlignmentConfig): LayerRule {
  const feedbackInit = resolveInitializer(o.feedbackInit, glorotInit());
  return {
    id: 'fa',
    name: 'feedback alignment',
    options: o,
    usesSignal: true,
    graphs: 'any',
    check({ layer, index }) {
      kernelOf(layer, index);
    },
    init({ layer, index, random, needBelow }) {
      const kernel = kernelOf(layer, index);
      // B and the mask are fixed: nothing is learned (update noise on the backward pass leaves them alone)
      const tensors: TensorMap = {};
      // B stands in for the kernel in the signal sent down: layers that send none (layer 0) need none
      if (needBelow) {
        tensors[FEEDBACK_KEY] = tf.tidy(() => {
          const drawn = feedbackInit.init(kernel.shape, layer.fan, random);
          return o.feedbackSparsity > 0 ? tf.mul(drawn, sparseMask(kernel.shape, o.feedbackSparsity, random)) : drawn;
        });
      }
      if (o.forwardSparsity > 0) {
        const mask = sparseMask(kernel.shape, o.forwardSparsity, random);
        tensors[FORWARD_MASK_KEY] = mask;
        tf.tidy(() => kernel.assign(tf.mul(kernel, mask)));
      }
      return { tensors };
    },
    step(ctx) {
      const { layer, layerTrace, state } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      const mask = state.tensors[FORWARD_MASK_KEY];
      if (mask) grads[layer.kernelName] = tf.mul(grads[layer.kernelName], mask);
      const B = state.tensors[FEEDBACK_KEY];
      if (ctx.needBelow && !B) {
        throw new RuleSupportError(`feedback alignment: layer ${ctx.index} (${ctx.layer.name}) must send a signal down but has no feedback weights`);
      }
      return {
        delta,
        grads,
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, B) } : undefined,
      };
    },
    afterUpdate(ctx) {
      const mask = ctx.state.tensors[FORWARD_MASK_KEY];
      if (!mask) return;
      const kernel = ctx.layer.params[ctx.layer.kernelName];
      // decay and adaptive optimizers can move masked entries even with a zero gradient
      kernel.assign(tf.mul(kernel, mask));
    },
    feedbackWeights({ state }) {
      return state.tensors[FEEDBACK_KEY] ?? null;
    },
  };
}

