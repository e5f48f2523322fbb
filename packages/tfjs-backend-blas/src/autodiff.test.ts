// Autodiff (tf.grads) through the native kernels equals the cpu backend. Training steps of the rule packages' rules
// on blas (backprop, FA and DFA equal to cpu, no leaks, every rule's conformance) are tested in the private
// @bioprop/integration package: this package depends on no rule package.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { excess, nativeProblem, rng } from './test-helpers.js';

const BACKEND_NAME = 'blas';

describe.skipIf(nativeProblem !== null)('autodiff on blas', () => {
  it('autodiff (tf.grads) through the native kernels equals the cpu backend', async () => {
    const r = rng(9);
    const xv = r.array(16 * 12);
    const wv = r.array(12 * 7, -0.5, 0.5);
    const bv = r.array(7, -0.5, 0.5);
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const out = tf.tidy(() => {
        const f = (w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.sub(tf.softmax(tf.tanh(tf.add(tf.matMul(tf.tensor(xv, [16, 12]), w), b))), 0.1)));
        return tf.grads(f)([tf.tensor(wv, [12, 7]), tf.tensor(bv, [7])]);
      });
      const values = out.map((g) => (g.dataSync() as Float32Array).slice());
      tf.dispose(out);
      return values;
    };
    const cpu = await grads('cpu');
    const blas = await grads(BACKEND_NAME);
    for (let i = 0; i < cpu.length; i++) expect(excess(blas[i], cpu[i], 1e-5, 1e-7)).toBe(0);
  });
});
