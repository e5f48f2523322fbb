import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';

/** ‖a − b‖ / max(‖b‖, 1e-12) over flattened values. */
export function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => {
    const num = tf.norm(tf.sub(a, b)).dataSync()[0];
    const den = Math.max(tf.norm(b).dataSync()[0], 1e-12);
    return num / den;
  });
}

import { deltaFromSignal, layerwise } from './rule.js';
import type { Rule } from './types.js';

/** Backprop written from core's pieces (core's tests cannot depend on @bioprop/backprop). */
export function testBackprop(): Rule {
  return layerwise({
    id: 'bp',
    name: 'backprop (test copy)',
    options: {},
    usesSignal: true,
    step(ctx) {
      const delta = deltaFromSignal(ctx);
      const { layer, layerTrace } = ctx;
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined,
      };
    },
  });
}
