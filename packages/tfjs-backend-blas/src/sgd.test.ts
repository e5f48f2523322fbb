// The fused SGD / momentum kernel (core's BiopropSgdStep) against core's tf-op SGD and momentum: the same optimizer
// stepped on the cpu backend (no fused kernel there), on blas with the kernel unregistered (blas' own elementwise
// kernels through the tf-op path) and on blas with it must agree bit for bit.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { SGD_STEP_KERNEL, adam, momentum, sgd, type MomentumOptions, type OptimizerSpec } from '@bioprop/core';
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

/** Runs `f` on blas with the fused kernel unregistered (core then takes its tf-op path), and registers it again. */
async function withoutFusedKernel<T>(f: () => Promise<T>): Promise<T> {
  const config = tf.getKernel(SGD_STEP_KERNEL, BACKEND_NAME)!;
  tf.unregisterKernel(SGD_STEP_KERNEL, BACKEND_NAME);
  try {
    return await f();
  } finally {
    tf.registerKernel(config);
  }
}

/** `STEPS` steps on one backend from the same seeded weights and gradients (gradients change every step). */
async function runOptimizer(backend: string, spec: OptimizerSpec, seed: number): Promise<Run> {
  await tf.setBackend(backend);
  pkg.resetKernelStats();
  const r = rng(seed);
  const vars = Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, tf.variable(tf.tensor(r.array(size(s), -1, 1), s))]));
  const opt = spec.create();
  opt.initSlots(vars);
  const steps: Run['steps'] = [];
  for (let t = 0; t < STEPS; t++) {
    // gradients over several magnitudes (and some zeros of either sign), so every rounding shows somewhere
    const gradValues = Object.entries(SHAPES).map(
      ([k, s]) => [k, r.array(size(s), -1, 1).map((x, i) => (i % 11 === 3 ? (i % 2 ? -0 : 0) : x * 10 ** -((i + t) % 7)))] as const,
    );
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
    fusedCalls: pkg.kernelStats().native[SGD_STEP_KERNEL] ?? 0,
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

/** Bit-for-bit equality, −0 against +0 included (excess treats them as equal). */
function sameBits(a: Run, b: Run): boolean {
  const all = (r: Run) => [r.weights, r.slots, ...r.steps].flatMap((m) => Object.keys(m).sort().map((k) => new Uint32Array(m[k].buffer, m[k].byteOffset, m[k].length)));
  const x = all(a);
  const y = all(b);
  return x.length === y.length && x.every((u, i) => u.length === y[i].length && u.every((bits, j) => bits === y[i][j]));
}

suite('fused SGD and momentum (BiopropSgdStep) on blas', () => {
  it('is registered under the name core calls, for blas only', () => {
    expect(pkg.SGD_STEP_KERNEL).toBe(SGD_STEP_KERNEL);
    expect(tf.getKernel(SGD_STEP_KERNEL, BACKEND_NAME)).toBeDefined();
    expect(tf.getKernel(SGD_STEP_KERNEL, 'cpu')).toBeUndefined();
  });

  const cases: [string, () => OptimizerSpec, boolean][] = [
    ['sgd', () => sgd({ lr: 0.05 }), true],
    ['sgd, decoupled decay, lr schedule', () => sgd({ lr: 0.1, decoupledDecay: 0.01, schedule: { type: 'cosine', totalSteps: 4, minFactor: 0.1 } }), true],
    ['momentum', () => momentum({ lr: 0.03, momentum: 0.9 }), true],
    ['momentum 0', () => momentum({ lr: 0.03, momentum: 0 }), true],
    ['nesterov', () => momentum({ lr: 0.02, momentum: 0.85, nesterov: true }), true],
    ['momentum, decoupled decay and coupled weightDecay', () => momentum({ lr: 0.03, decoupledDecay: 0.05, weightDecay: 1e-3 } as MomentumOptions), true],
    ['nesterov with everything, clipNorm', () => momentum({ lr: 0.1, momentum: 0.7, nesterov: true, decoupledDecay: 0.02, weightDecay: 1e-2, clipNorm: 0.5, schedule: { type: 'step', every: 2, gamma: 0.5 } }), false],
  ];
  for (const [label, spec, exact] of cases) {
    it(`equals core's tf-op path on blas bit for bit, and on cpu: ${label}`, async () => {
      const cpu = await runOptimizer('cpu', spec(), 11);
      const ops = await withoutFusedKernel(() => runOptimizer(BACKEND_NAME, spec(), 11));
      const fused = await runOptimizer(BACKEND_NAME, spec(), 11);
      expect(cpu.fusedCalls).toBe(0);
      expect(ops.fusedCalls).toBe(0);
      expect(fused.fusedCalls).toBe(STEPS * Object.keys(SHAPES).length);
      // blas' tf ops and the fused loop round the same operations in the same order
      expect(sameBits(fused, ops)).toBe(true);
      expect(worst(fused, cpu, 1e-6)).toBe(0);
      // clipNorm's global norm is a sum, which blas accumulates in another order than cpu
      if (exact) expect(sameBits(fused, cpu)).toBe(true);
    });
  }

  it('is bit-identical to the tf-op path with either elementwise kernel set', async () => {
    const spec = () => momentum({ lr: 0.07, momentum: 0.8, nesterov: true, decoupledDecay: 0.03 });
    const cpu = await runOptimizer('cpu', spec(), 5);
    try {
      for (const set of ['baseline', 'avx2+fma'] as const) {
        if (!pkg.useElementwiseKernels(set)) continue;
        const blas = await runOptimizer(BACKEND_NAME, spec(), 5);
        expect(blas.fusedCalls, set).toBeGreaterThan(0);
        expect(sameBits(blas, cpu), set).toBe(true);
      }
    } finally {
      if (!pkg.useElementwiseKernels('avx2+fma')) pkg.useElementwiseKernels('baseline');
    }
  });

  it('leaks no tensors and leaves the variables float32 of their shape', async () => {
    await tf.setBackend(BACKEND_NAME);
    for (const spec of [sgd({ lr: 0.1 }), momentum({ lr: 0.1, decoupledDecay: 0.1 })]) {
      const w = tf.variable(tf.ones([3, 4]));
      const opt = spec.create();
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
    }
  });

  it('throws a clear error on non-float32 inputs and mismatched shapes', async () => {
    await tf.setBackend(BACKEND_NAME);
    const attrs = { lr: 0.1, momentum: 0.9, nesterov: false, decay: 0 };
    const f = tf.ones([4]);
    const i = tf.ones([4], 'int32');
    expect(() => tf.engine().runKernel(SGD_STEP_KERNEL, { w: f, g: i, v: f }, attrs)).toThrow(/input g is int32; only float32/);
    expect(() => tf.engine().runKernel(SGD_STEP_KERNEL, { w: f, g: f, v: tf.ones([2, 2]) }, attrs)).toThrow(/input v has shape \[2,2\], w has \[4\]/);
    expect(() => tf.engine().runKernel(SGD_STEP_KERNEL, { w: f, g: f }, { ...attrs, lr: NaN })).toThrow(/attr lr must be a finite number/);
    tf.dispose([f, i]);
  });
});

suite('fused optimizer kernels update variables in place only when nothing else refers to them', () => {
  const specs: [string, () => OptimizerSpec][] = [
    ['momentum', () => momentum({ lr: 0.1, momentum: 0.9 })],
    ['sgd', () => sgd({ lr: 0.1 })],
    ['adam', () => adam({ lr: 0.1 })],
  ];
  for (const [label, spec] of specs) {
    it(`${label}: in place once the variable holds the backend's own buffer; snapshots, read arrays and plain tensors stay untouched`, async () => {
      await tf.setBackend(BACKEND_NAME);
      const r = rng(3);
      const w = tf.variable(tf.tensor(r.array(40), [8, 5]));
      const opt = spec().create();
      opt.initSlots({ w });
      const grad = () => tf.tensor(r.array(40), [8, 5]);
      const step = () => tf.dispose(Object.values(tf.tidy(() => opt.apply({ w }, { w: grad() }))));
      step(); // w's initial data is the caller's array: a fresh output
      step();
      const id = w.dataId;
      step();
      expect(w.dataId, 'updated in place').toBe(id);
      // a snapshot sharing w's data (the trainer's paramsBefore does this): the next step must not change it
      const snapshot = tf.reshape(w, w.shape);
      // read through a copy: reading the snapshot itself would pin its buffer for good (and so forbid in place anyway)
      const copied = tf.add(snapshot, 0);
      const before = copied.dataSync().slice();
      copied.dispose();
      step();
      expect(Array.from(snapshot.dataSync())).toEqual(Array.from(before));
      expect(w.dataId).not.toBe(id);
      snapshot.dispose();
      // a pending transpose of w (blas computes it on first read, from w's buffer): still w's old values when read
      step();
      const transposed = tf.transpose(w);
      const expected = tf.tidy(() => tf.transpose(tf.add(w, 0)).dataSync().slice());
      step();
      expect(Array.from(transposed.dataSync())).toEqual(Array.from(expected));
      transposed.dispose();
      // an array read out with dataSync is the caller's for good: never overwritten
      const read = w.dataSync();
      const copy = read.slice();
      step();
      step();
      expect(Array.from(read)).toEqual(Array.from(copy));
      opt.dispose();
      w.dispose();
    });
  }

  it('steps read late (after later updates) are the steps applied then: their sources stay untouched until read', async () => {
    const run = async (backend: string, readAtOnce: boolean) => {
      await tf.setBackend(backend);
      const out: number[][] = [];
      for (const spec of [momentum({ lr: 0.1, momentum: 0.9 }), momentum({ lr: 0.1, momentum: 0.8, nesterov: true, decoupledDecay: 0.1 }), sgd({ lr: 0.2 })]) {
        const r = rng(8);
        const w = tf.variable(tf.tensor(r.array(12), [3, 4]));
        const opt = spec.create();
        opt.initSlots({ w });
        const kept: tf.Tensor[] = [];
        for (let t = 0; t < 4; t++) {
          const applied = tf.tidy(() => opt.apply({ w }, { w: tf.tensor(r.array(12), [3, 4]) }));
          if (readAtOnce) out.push(Array.from(applied.w.dataSync()));
          kept.push(applied.w);
        }
        if (!readAtOnce) out.push(...kept.map((k) => Array.from(k.dataSync())));
        out.push(Array.from(w.dataSync()));
        tf.dispose(kept);
        opt.dispose();
        w.dispose();
      }
      return out;
    };
    const late = await run(BACKEND_NAME, false);
    expect(late).toEqual(await run(BACKEND_NAME, true));
    expect(late).toEqual(await run('cpu', true));
  });

  it('leaves inputs alone without the inPlace attr', async () => {
    await tf.setBackend(BACKEND_NAME);
    const w = tf.add(tf.ones([6]), 1); // the backend's own buffer, one handle
    const v = tf.add(tf.ones([6]), 2);
    const g = tf.fill([6], 0.5);
    const outs = tf.engine().runKernel<tf.Tensor[]>(SGD_STEP_KERNEL, { w, g, v }, { lr: 0.1, momentum: 0.9, nesterov: false, decay: 0 });
    expect(Array.from(w.dataSync())).toEqual([2, 2, 2, 2, 2, 2]);
    expect(Array.from(v.dataSync())).toEqual([3, 3, 3, 3, 3, 3]);
    expect(outs[0].dataId).not.toBe(w.dataId);
    tf.dispose([w, v, g, ...outs]);
  });
});
