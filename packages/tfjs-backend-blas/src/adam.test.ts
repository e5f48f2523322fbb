// The fused Adam kernel (core's BiopropAdamStep) against core's tf-op Adam: the same optimizer stepped on the cpu
// backend (no fused kernel there: the tf-op path) and on blas (the fused kernel) must agree to float32 rounding.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ADAM_STEP_KERNEL, adam, type AdamOptions } from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { excess, nativeProblem, pkg, rng } from './test-helpers.js';

const BACKEND_NAME = 'blas';
const suite = describe.skipIf(nativeProblem !== null);

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend(BACKEND_NAME);
});

const SHAPES: Record<string, number[]> = { kernel: [37, 23], bias: [23], conv: [5, 4, 3], one: [1] };
const STEPS = 6;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Run {
  weights: Record<string, Float32Array>;
  slots: Record<string, Float32Array>;
  /** The applied steps of every apply call, per variable. */
  steps: Record<string, Float32Array>[];
  fusedCalls: number;
}

/** `STEPS` Adam steps on one backend from the same seeded weights and gradients (gradients change every step). */
async function runAdam(backend: string, options: AdamOptions, seed: number): Promise<Run> {
  await tf.setBackend(backend);
  pkg.resetKernelStats();
  const r = rng(seed);
  const vars = Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, tf.variable(tf.tensor(r.array(size(s), -1, 1), s))]));
  const opt = adam(options).create();
  const steps: Run['steps'] = [];
  for (let t = 0; t < STEPS; t++) {
    // gradients over several magnitudes, so ε and the bias corrections both matter somewhere
    const gradValues = Object.entries(SHAPES).map(([k, s]) => [k, r.array(size(s), -1, 1).map((x, i) => x * 10 ** -((i + t) % 7))] as const);
    const applied = tf.tidy(() => {
      const grads = Object.fromEntries(gradValues.map(([k, v]) => [k, tf.tensor(v, SHAPES[k])]));
      return opt.apply(vars, grads);
    });
    steps.push(Object.fromEntries(Object.entries(applied).map(([k, s]) => [k, (s.dataSync() as Float32Array).slice()])));
    tf.dispose(Object.values(applied));
  }
  const run: Run = {
    weights: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, (v.dataSync() as Float32Array).slice()])),
    slots: Object.fromEntries(Object.entries(opt.slots()).map(([k, v]) => [k, (v.dataSync() as Float32Array).slice()])),
    steps,
    fusedCalls: pkg.kernelStats().native[ADAM_STEP_KERNEL] ?? 0,
  };
  opt.dispose();
  tf.dispose(Object.values(vars));
  return run;
}

/** Largest violation of a relative tolerance over every weight, slot and applied step of two runs. */
function worst(a: Run, b: Run, rtol: number): number {
  let w = 0;
  const pairs: [Record<string, Float32Array>, Record<string, Float32Array>][] = [[a.weights, b.weights], [a.slots, b.slots], ...a.steps.map((s, i) => [s, b.steps[i]] as [Record<string, Float32Array>, Record<string, Float32Array>])];
  for (const [x, y] of pairs) {
    expect(Object.keys(x).sort()).toEqual(Object.keys(y).sort());
    for (const k of Object.keys(x)) w = Math.max(w, excess(x[k], y[k], rtol, 0));
  }
  return w;
}

suite('fused Adam (BiopropAdamStep) on blas', () => {
  it('is registered under the name core calls, for blas only', () => {
    expect(pkg.ADAM_STEP_KERNEL).toBe(ADAM_STEP_KERNEL);
    expect(tf.getKernel(ADAM_STEP_KERNEL, BACKEND_NAME)).toBeDefined();
    expect(tf.getKernel(ADAM_STEP_KERNEL, 'cpu')).toBeUndefined();
  });

  const cases: [string, AdamOptions][] = [
    ['plain', { lr: 1e-2 }],
    ['decoupled decay', { lr: 3e-3, decoupledDecay: 0.01 }],
    ['clipNorm', { lr: 1e-2, clipNorm: 0.5 }],
    ['coupled weightDecay', { lr: 1e-2, weightDecay: 1e-3 }],
    ['all of them, other betas and ε, lr schedule', { lr: 5e-3, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, decoupledDecay: 0.05, clipNorm: 2, weightDecay: 1e-2, schedule: { type: 'step', every: 2, gamma: 0.5 } }],
  ];
  for (const [label, options] of cases) {
    it(`equals core's tf-op Adam on cpu: ${label}`, async () => {
      const cpu = await runAdam('cpu', options, 11);
      const blas = await runAdam(BACKEND_NAME, options, 11);
      expect(cpu.fusedCalls).toBe(0);
      expect(blas.fusedCalls).toBe(STEPS * Object.keys(SHAPES).length);
      expect(worst(blas, cpu, 1e-6)).toBe(0);
      // without clipping the two paths round the same ops in the same order: bit for bit (clipNorm's global norm
      // is a sum, which blas accumulates in another order)
      if (options.clipNorm === undefined) expect(worst(blas, cpu, 0)).toBe(0);
    });
  }

  it('is bit-identical to the tf-op path with either elementwise kernel set', async () => {
    const options: AdamOptions = { lr: 3e-3, beta1: 0.85, decoupledDecay: 0.02, weightDecay: 1e-3 };
    const cpu = await runAdam('cpu', options, 5);
    try {
      for (const set of ['baseline', 'avx2+fma'] as const) {
        if (!pkg.useElementwiseKernels(set)) continue;
        const blas = await runAdam(BACKEND_NAME, options, 5);
        expect(blas.fusedCalls, set).toBeGreaterThan(0);
        expect(worst(blas, cpu, 0), set).toBe(0);
      }
    } finally {
      if (!pkg.useElementwiseKernels('avx2+fma')) pkg.useElementwiseKernels('baseline');
    }
  });

  it('leaks no tensors and leaves the variables float32 of their shape', async () => {
    await tf.setBackend(BACKEND_NAME);
    const w = tf.variable(tf.ones([3, 4]));
    const opt = adam({ lr: 0.1, decoupledDecay: 0.1 }).create();
    const step = () => tf.dispose(Object.values(tf.tidy(() => opt.apply({ w }, { w: tf.fill([3, 4], 0.5) }))));
    step(); // creates the slots
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
    expect(w.shape).toEqual([3, 4]);
    expect(w.dtype).toBe('float32');
    opt.dispose();
    w.dispose();
  });

  it('throws a clear error on non-float32 inputs and mismatched shapes', async () => {
    await tf.setBackend(BACKEND_NAME);
    const attrs = { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, c1: 0.1, c2: 0.001, decay: 0 };
    const f = tf.ones([4]);
    const i = tf.ones([4], 'int32');
    expect(() => tf.engine().runKernel(ADAM_STEP_KERNEL, { w: f, g: i, m: f, v: f }, attrs)).toThrow(/input g is int32; only float32/);
    expect(() => tf.engine().runKernel(ADAM_STEP_KERNEL, { w: f, g: tf.ones([2, 2]), m: f, v: f }, attrs)).toThrow(/input g has shape \[2,2\], w has \[4\]/);
    tf.dispose([f, i]);
  });
});
