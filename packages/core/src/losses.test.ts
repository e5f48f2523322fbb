import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { relErr } from './test-utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinActivations, resolveActivation } from './activations.js';
import { OptionError, ShapeError } from './errors.js';
import { builtinLosses, resolveLoss } from './losses.js';
import { randomStream } from './random.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const r = randomStream(11, 'test');
const rand = (shape: number[], lo = -2, hi = 2) => tf.tensor(r.uniformArray(shape.reduce((a, b) => a * b, 1), lo, hi), shape);

describe('losses: gradOutput is the gradient of the batch-mean value', () => {
  for (const name of Object.keys(builtinLosses)) {
    it(name, () => {
      const loss = resolveLoss(name);
      const out = rand([7, 5]);
      // probabilities for the cross-entropies, arbitrary targets for the others
      const target = name.includes('Entropy') ? tf.softmax(rand([7, 5])) : rand([7, 5]);
      const auto = tf.grad((o: tf.Tensor) => loss.value(o, target))(out);
      expect(relErr(loss.gradOutput(out, target), auto)).toBeLessThan(1e-5);
    });
  }

  it('cauchy is Σ log(1 + (y − z)²) averaged over the batch', () => {
    const z = tf.tensor2d([[0, 1], [2, -1]]);
    const y = tf.tensor2d([[1, 1], [0, 0]]);
    const want = (Math.log(2) + Math.log(1) + Math.log(5) + Math.log(2)) / 2;
    expect(resolveLoss('cauchy').value(z, y).dataSync()[0]).toBeCloseTo(want, 5);
  });

  it('a shape mismatch names both shapes', () => {
    expect(() => resolveLoss('mse').value(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(ShapeError);
    expect(() => resolveLoss('mse').value(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(/\[2,3\].*\[2,4\]/);
  });

  it('an unknown loss is an error listing the known ones', () => {
    expect(() => resolveLoss('hinge')).toThrow(OptionError);
    expect(() => resolveLoss('hinge')).toThrow(/cauchy/);
  });
});

describe('activations: derivative equals autodiff (sign: straight-through surrogate)', () => {
  for (const [name, act] of Object.entries(builtinActivations)) {
    it(name, () => {
      // keep away from the kinks of relu/relu6 where the derivative is not defined
      const a = tf.tensor1d([-3.1, -0.7, -0.2, 0.3, 0.9, 2.5, 5.5, 6.7]);
      const h = act.apply(a, { training: true });
      const d = act.derivative(a, h);
      if (name === 'sign') {
        expect(Array.from(d.dataSync())).toEqual([0, 1, 1, 1, 1, 0, 0, 0]);
        return;
      }
      const auto = tf.grad((x: tf.Tensor) => tf.sum(act.apply(x, { training: true })))(a);
      expect(relErr(d, auto)).toBeLessThan(1e-5);
    });
  }

  it('an unknown name is an error listing the known ones', () => {
    expect(() => resolveActivation('swish')).toThrow(OptionError);
    expect(() => resolveActivation('swish')).toThrow(/unknown activation "swish".*tanh/);
  });
});
