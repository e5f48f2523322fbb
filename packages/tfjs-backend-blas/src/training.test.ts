// Training on the blas backend: a backprop step equals the cpu backend's, autodiff runs through the native
// kernels, nothing leaks, and the conformance suites of backprop, FA and DFA pass with blas active.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { createTrainer, dense, momentum, sequential, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';
import { runConformance } from '@bioprop/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { excess, nativeProblem, pkg, rng } from './test-helpers.js';

const BACKEND_NAME = 'blas';

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend(BACKEND_NAME);
});

const IN = 40;
const N = 32;

function trainer(seed: number, activation: string): Trainer {
  const network = sequential({
    inputShape: [IN],
    layers: [dense({ units: 48, activation }), dense({ units: 24, activation }), dense({ units: 10 })],
    seed,
  });
  return createTrainer({ network, rule: backprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.05, momentum: 0.9 }), seed });
}

function batch(seed: number) {
  const r = rng(seed);
  const x = r.array(N * IN, -1, 1);
  const y = new Float32Array(N * 10);
  for (let i = 0; i < N; i++) y[i * 10 + r.int(0, 9)] = 1;
  return { x, y };
}

/** Run `steps` steps on a backend and return the losses and the final weights. */
async function train(backend: string, activation: string, steps: number) {
  await tf.setBackend(backend);
  const t = trainer(3, activation);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(100 + s);
    const xt = tf.tensor(x, [N, IN]);
    const yt = tf.tensor(y, [N, 10]);
    losses.push(t.step(xt, yt));
    xt.dispose();
    yt.dispose();
  }
  const weights = Object.fromEntries(Object.entries(t.network.namedParams()).map(([k, v]) => [k, (v.dataSync() as Float32Array).slice()]));
  t.network.dispose();
  t.dispose();
  return { losses, weights };
}

describe.skipIf(nativeProblem !== null)('training on blas', () => {
  for (const activation of ['tanh', 'sigmoid', 'relu']) {
    it(`backprop steps (${activation}) match the cpu backend to 1e-5 relative`, async () => {
      const cpu = await train('cpu', activation, 4);
      pkg.resetKernelStats();
      const blas = await train(BACKEND_NAME, activation, 4);
      expect(pkg.kernelStats().native.BatchMatMul).toBeGreaterThan(0);
      expect(pkg.kernelStats().fallback).toEqual({});
      for (let s = 0; s < 4; s++) expect(Math.abs(blas.losses[s] - cpu.losses[s])).toBeLessThanOrEqual(1e-5 * Math.abs(cpu.losses[s]));
      for (const [k, w] of Object.entries(cpu.weights)) expect(excess(blas.weights[k], w, 1e-5, 1e-6), k).toBe(0);
      await tf.setBackend(BACKEND_NAME);
    });
  }

  it('a training step leaks no tensor', async () => {
    await tf.setBackend(BACKEND_NAME);
    const t = trainer(5, 'tanh');
    const { x, y } = batch(7);
    const xt = tf.tensor(x, [N, IN]);
    const yt = tf.tensor(y, [N, 10]);
    t.step(xt, yt);
    const before = tf.memory().numTensors;
    t.step(xt, yt);
    t.step(xt, yt);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xt, yt]);
    t.network.dispose();
    t.dispose();
  });

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

// the shared conformance suite of the rule packages, run with blas as the active backend
if (nativeProblem === null) {
  runConformance({ name: 'backprop on the blas backend', createRule: () => backprop(), backend: false });
  runConformance({ name: 'feedback alignment on the blas backend', createRule: () => feedbackAlignment(), backend: false });
  runConformance({ name: 'direct feedback alignment on the blas backend', createRule: () => directFeedbackAlignment(), backend: false });
} else {
  describe.skip(`conformance on the blas backend (${nativeProblem})`, () => {});
}
