// Direct feedback alignment on conv2d and locally connected layers: D_l is [n_L, prod(blockOutputShape_l)].
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
import { expectClose, runConformance } from '@bioprop/testing';
import { DIRECT_FEEDBACK_KEY, directFeedbackAlignment } from './index.js';

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

describe('direct feedback alignment on conv2d and locally connected layers', () => {
  it('D_l is [n_L, prod(blockOutputShape_l)] and δ_l = reshape(e·D_l) ⊙ f′(a_l)', () => {
    const network = convNet(3);
    const s = randomSource(5).stream('data');
    const x = tf.tensor(s.normalArray(6 * 64), [6, 8, 8, 1]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), 5), 'float32'));
    const dfa = directFeedbackAlignment().bind(network, randomSource(2));
    const D = (l: number) => dfa.state()[`layer${l}/${DIRECT_FEEDBACK_KEY}`];
    expect(D(0).shape).toEqual([5, 6 * 6 * 4]);
    expect(D(1).shape).toEqual([5, 4 * 4 * 3]);
    tf.tidy(() => {
      const trace = network.forward(x);
      const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
      const r = dfa.step(ctx);
      for (const l of [0, 1]) {
        const t = trace.layers[l];
        const want = tf.mul(tf.reshape(tf.matMul(ctx.outputError, D(l)), t.pre.shape), tf.sub(1, tf.square(t.output)));
        expect(r.signals[l].shape).toEqual(t.pre.shape);
        expectClose(r.signals[l], want, 1e-6, `δ_${l}`);
        expectClose(r.grads[l].kernel, network.layers[l].paramGrads(t.input, want).kernel, 1e-6, `∇kernel_${l}`);
      }
    });
    dfa.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });
});

runConformance({ name: 'direct feedback alignment, conv2d + locally connected', createRule: () => directFeedbackAlignment(), network: convNet });
