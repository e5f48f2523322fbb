import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  conv2d,
  dense,
  locallyConnected2d,
  randomSource,
  resolveBackend,
  sequential,
  softmaxCrossEntropyLoss,
  stepContext,
  type Tensor,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { relativeError } from '@bioprop/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Core's backprop through the new layer kinds equals autodiff of the loss (cpu: wasm has no Conv2DBackpropFilter).
describe('backprop on a conv + locally connected + dense net equals tf.grads of the loss', () => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await resolveBackend('cpu');
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  it('every parameter gradient, to float32 rounding', () => {
    const network = sequential({
      inputShape: [9, 8, 2],
      layers: [
        conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
        locallyConnected2d({ filters: 5, kernelSize: [2, 3], strides: 1, padding: 'valid', activation: 'tanh' }),
        dense({ units: 6, activation: 'tanh' }),
        dense({ units: 3 }),
      ],
      seed: 4,
    });
    const loss = softmaxCrossEntropyLoss();
    const bound = backprop().bind(network, randomSource(1));
    tf.tidy(() => {
      const x = tf.tensor(randomSource(2).stream('x').normalArray(5 * 9 * 8 * 2), [5, 9, 8, 2]);
      const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3), 'float32');
      const trace = network.forward(x);
      const result = bound.step(stepContext({ network, trace, target: y, loss, step: 0, epoch: 0, random: randomSource(3) }));
      const names = Object.keys(network.namedParams());
      const params = Object.values(network.namedParams());
      const auto = tf.grads((...ps: Tensor[]) => {
        const overrides = network.layers.map((layer) => Object.fromEntries(Object.keys(layer.params).map((k) => [k, ps[names.indexOf(`${layer.name}/${k}`)]])));
        let h: Tensor = x;
        network.layers.forEach((layer, l) => {
          h = layer.activation.apply(layer.linear(h, overrides[l]), { training: true });
        });
        return loss.value(h, y) as tf.Scalar;
      })(params);
      names.forEach((name, i) => {
        const [module, k] = name.split('/');
        const l = network.layers.findIndex((layer) => layer.name === module);
        expect(relativeError(result.grads[l][k], auto[i]), name).toBeLessThan(1e-5);
      });
    });
    bound.dispose();
    network.dispose();
  });
});
