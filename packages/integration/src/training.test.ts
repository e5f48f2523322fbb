// Training on the blas backend through the rule packages: backprop, FA and DFA steps equal the cpu backend's, every
// matrix product runs natively with no kernel falling back, and a step leaks no tensor. Skips with the reason when
// the blas addon is absent (fails under CI=true).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createTrainer, dense, momentum, randomStream, sequential, type Rule, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { beforeAll, describe, expect, it } from 'vitest';
import { blasProblemForTests } from './backends.js';

const problem = await blasProblemForTests();
const blas = problem === null ? await import('@bioprop/tfjs-backend-blas') : null;

const RULES: Record<'bp' | 'fa' | 'dfa', () => Rule> = {
  bp: () => backprop(),
  fa: () => feedbackAlignment(),
  dfa: () => directFeedbackAlignment(),
};
const IN = 40;
const N = 32;

function trainer(rule: keyof typeof RULES, seed: number, activation: string): Trainer {
  const network = sequential({
    inputShape: [IN],
    layers: [dense({ units: 48, activation }), dense({ units: 24, activation }), dense({ units: 10 })],
    seed,
  });
  return createTrainer({ network, rule: RULES[rule](), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.05, momentum: 0.9 }), seed });
}

function batch(seed: number) {
  const r = randomStream(seed, 'batch');
  const x = r.uniformArray(N * IN, -1, 1);
  const y = new Float32Array(N * 10);
  for (let i = 0; i < N; i++) y[i * 10 + Math.floor(r.next() * 10)] = 1;
  return { x, y };
}

/** Run `steps` steps on a backend and return the losses and the final weights (and rule state). */
async function train(backend: string, rule: keyof typeof RULES, activation: string, steps: number) {
  await tf.setBackend(backend);
  const t = trainer(rule, 3, activation);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(100 + s);
    const xt = tf.tensor(x, [N, IN]);
    const yt = tf.tensor(y, [N, 10]);
    losses.push(t.step(xt, yt));
    tf.dispose([xt, yt]);
  }
  const weights = Object.fromEntries(Object.entries(t.network.namedParams()).map(([k, v]) => [k, (v.dataSync() as Float32Array).slice()]));
  t.network.dispose();
  t.dispose();
  return { losses, weights };
}

/** Largest violation of |a − b| ≤ atol + rtol·|b| (0 when within tolerance). */
function excess(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (!(d <= 0)) worst = Math.max(worst, Number.isFinite(d) ? d : Infinity);
  }
  return worst;
}

describe.skipIf(problem !== null)(`training on blas${problem ? ` (${problem})` : ''}`, () => {
  beforeAll(async () => {
    await tf.setBackend('blas');
  });

  for (const rule of ['bp', 'fa', 'dfa'] as const) {
    for (const activation of ['tanh', 'sigmoid', 'relu']) {
      it(`${rule} steps (${activation}) match the cpu backend to 1e-5 relative, every product native`, async () => {
        const cpu = await train('cpu', rule, activation, 4);
        blas!.resetKernelStats();
        const onBlas = await train('blas', rule, activation, 4);
        expect(blas!.kernelStats().native.BatchMatMul).toBeGreaterThan(0);
        expect(blas!.kernelStats().fallback).toEqual({});
        for (let s = 0; s < 4; s++) expect(Math.abs(onBlas.losses[s] - cpu.losses[s])).toBeLessThanOrEqual(1e-5 * Math.abs(cpu.losses[s]));
        for (const [k, w] of Object.entries(cpu.weights)) expect(excess(onBlas.weights[k], w, 1e-5, 1e-6), k).toBe(0);
        await tf.setBackend('blas');
      });
    }

    it(`a ${rule} training step leaks no tensor`, async () => {
      await tf.setBackend('blas');
      const t = trainer(rule, 5, 'tanh');
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
  }
});
