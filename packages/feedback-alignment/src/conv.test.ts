// Feedback alignment on conv2d and locally connected layers: B in the kernel's layout works through backwardInput.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  conv2d,
  dense,
  locallyConnected2d,
  randomSource,
  resolveBackend,
  sequential,
  softmaxCrossEntropyLoss,
  stepContext,
  type Network,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { expectClose, runConformance } from '@bioprop/testing';
import { FEEDBACK_KEY, feedbackAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

/** 8×8×1 → conv 3×3×4 → locally connected 3×3×3 → dense 5. */
const convNet = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      conv2d({ filters: 4, kernelSize: 3, activation: 'tanh' }),
      locallyConnected2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      dense({ units: 5 }),
    ],
    seed,
  });

describe('feedback alignment on conv2d and locally connected layers', () => {
  it('stores B in each kernel’s layout, and with B := kernel gives exactly backprop’s signals and updates', () => {
    const network = convNet(2);
    const s = randomSource(4).stream('data');
    const x = tf.tensor(s.normalArray(6 * 64), [6, 8, 8, 1]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5), 'float32'));
    const fa = feedbackAlignment().bind(network, randomSource(1));
    const bp = backprop().bind(network, randomSource(1));
    const state = fa.state();
    expect(state[`layer1/${FEEDBACK_KEY}`].shape).toEqual(network.layers[1].params.kernel.shape);
    expect(state[`layer2/${FEEDBACK_KEY}`].shape).toEqual(network.layers[2].params.kernel.shape);
    tf.tidy(() => {
      const trace = network.forward(x);
      const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
      const random = fa.step(ctx);
      // random B: the conv layer's signal differs from backprop's
      expect(tf.max(tf.abs(tf.sub(random.signals[0], bp.step(ctx).signals[0]))).dataSync()[0]).toBeGreaterThan(1e-4);
      network.layers.forEach((layer, l) => state[`layer${l}/${FEEDBACK_KEY}`]?.assign(layer.params.kernel));
      const a = fa.step(ctx);
      const b = bp.step(ctx);
      network.layers.forEach((_, l) => {
        expect(a.signals[l].shape).toEqual(trace.layers[l].pre.shape);
        expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
        expectClose(a.grads[l].kernel, b.grads[l].kernel, 1e-6, `∇kernel_${l}`);
      });
    });
    fa.dispose();
    bp.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });
});

runConformance({ name: 'feedback alignment, conv2d + locally connected', createRule: () => feedbackAlignment(), network: convNet });
runConformance({
  name: 'sparse feedback alignment, conv2d + locally connected',
  createRule: () => feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 }),
  network: convNet,
});
