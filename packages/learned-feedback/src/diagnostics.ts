import * as tf from '@tensorflow/tfjs-core';
import type { BoundRule, Network, Tensor } from '@bioprop/core';
import { FEEDBACK_KEY } from './feedback.js';

/** Angle in degrees between two tensors, flattened (NaN when either is zero). */
export function angleDegrees(a: Tensor, b: Tensor): number {
  const [dot, na, nb] = tf.tidy(() => [tf.sum(tf.mul(a, b)), tf.norm(a), tf.norm(b)].map((t) => t.dataSync()[0]));
  const cos = dot / (na * nb);
  return (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI;
}

/**
 * Per layer, the angle between B and the forward kernel (B vs Wᵀ in the papers' terms), in degrees; NaN for layers
 * without feedback weights (layer 0, or layers of another rule in a `perLayer` composition).
 */
export function feedbackAngles(network: Network, bound: BoundRule): number[] {
  const state = bound.state();
  return network.layers.map((layer, l) => {
    const B = state[`layer${l}/${FEEDBACK_KEY}`];
    return B ? angleDegrees(B, layer.params[layer.kernelName]) : NaN;
  });
}

/** The feedback weights of every layer (undefined where a layer has none). Views of the rule state: do not dispose. */
export function feedbackWeights(network: Network, bound: BoundRule): (Tensor | undefined)[] {
  const state = bound.state();
  return network.layers.map((_, l) => state[`layer${l}/${FEEDBACK_KEY}`]);
}
