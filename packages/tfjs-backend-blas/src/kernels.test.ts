// Every native kernel against the cpu backend's kernel it replaces: seeded random shapes, broadcasts,
// transposes and batch dims, plus special values. Tolerances are float32 rounding (exact where both round once).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElementwiseKernelSet } from './index.js';
import { excess, nativeProblem, onBackend, pkg, rng } from './test-helpers.js';

const BACKEND_NAME = 'blas';
// without the addon (no OpenBLAS here) every suite is skipped with the reason, except under CI=true
const suite = describe.skipIf(nativeProblem !== null);

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 88.8, -104, 1e30];

/** Values for a tensor: uniform in [lo, hi], sometimes salted with special values. */
function values(r: ReturnType<typeof rng>, n: number, lo = -3, hi = 3, specials = false): Float32Array {
  const v = r.array(n, lo, hi);
  if (specials) for (let i = 0; i < v.length; i++) if (r.next() < 0.1) v[i] = r.pick(SPECIALS);
  return v;
}

/** Compare blas with cpu on the same function; returns the two results for extra checks. */
async function compare(f: () => tf.Tensor, rtol: number, atol: number | ArrayLike<number>, label: string) {
  const cpu = await onBackend('cpu', f);
  const blas = await onBackend(BACKEND_NAME, f);
  expect(blas.shape, `${label}: shape`).toEqual(cpu.shape);
  expect(blas.dtype, `${label}: dtype`).toBe(cpu.dtype);
  expect(excess(blas.values, cpu.values, rtol, atol), `${label}: max excess over tolerance`).toBe(0);
  return { cpu, blas };
}

function broadcastPair(r: ReturnType<typeof rng>): [number[], number[]] {
  const rank = r.int(0, 4);
  const base = Array.from({ length: rank }, () => r.int(1, 6));
  const a = base.map((d) => (r.next() < 0.3 ? 1 : d)).slice(r.int(0, rank));
  const b = base.map((d) => (r.next() < 0.3 ? 1 : d)).slice(r.int(0, rank));
  return [a, b];
}

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend(BACKEND_NAME);
});

suite('registration', () => {
  it('registers every cpu kernel under blas, with the native ones replacing theirs', () => {
    const cpu = new Set(tf.getKernelsForBackend('cpu').map((k) => k.kernelName));
    const blas = new Map(tf.getKernelsForBackend(BACKEND_NAME).map((k) => [k.kernelName, k]));
    expect([...cpu].filter((k) => !blas.has(k))).toEqual([]);
    for (const name of pkg.NATIVE_KERNEL_NAMES) {
      expect(blas.get(name)?.kernelFunc, name).toBeDefined();
      expect(blas.get(name)!.kernelFunc).not.toBe(tf.getKernel(name, 'cpu').kernelFunc);
    }
  });

  it('converts bool and int32 to float32 for real (later ops stay native), float32 → float32 shares the buffer', async () => {
    pkg.resetKernelStats();
    await compare(() => tf.cast(tf.tensor([true, false, true], [3], 'bool'), 'float32'), 0, 0, 'bool → float32');
    await compare(() => tf.cast(tf.tensor([1, -2, 3], [3], 'int32'), 'float32'), 0, 0, 'int32 → float32');
    await compare(() => tf.mul(tf.cast(tf.greater(tf.tensor([1, -2, 3]), 0), 'float32'), 2), 0, 0, 'relu mask');
    await compare(() => tf.cast(tf.tensor([1.5, -2]), 'float32'), 0, 0, 'float32 → float32');
    await compare(() => tf.cast(tf.tensor([1.5, -2]), 'int32'), 0, 0, 'float32 → int32 (cpu kernel)');
    expect(pkg.kernelStats().fallback.Multiply).toBeUndefined();
    expect(pkg.kernelStats().native.Cast).toBe(4);
    expect(pkg.kernelStats().fallback.Cast).toBe(1);
  });

  it('runs every other dtype through the cpu kernels (int32, bool)', async () => {
    await compare(() => tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([10], [1], 'int32')), 0, 0, 'int32 add');
    await compare(() => tf.sum(tf.tensor([true, false, true], [3], 'bool')), 0, 0, 'bool sum');
    await compare(() => tf.matMul(tf.tensor([[1, 2]], [1, 2], 'int32'), tf.tensor([[3], [4]], [2, 1], 'int32')), 0, 0, 'int32 matMul');
    await compare(() => tf.transpose(tf.tensor([[1, 2, 3]], [1, 3], 'int32')), 0, 0, 'int32 transpose');
  });
});

const KERNEL_SETS: ElementwiseKernelSet[] = ['avx2+fma', 'baseline'];
const defaultSet = (nativeProblem ? 'baseline' : pkg.blasInfo().elementwiseKernels) as ElementwiseKernelSet;

for (const set of KERNEL_SETS) {
suite(`elementwise kernels: ${set}`, () => {
  let available = true;
  beforeAll(() => {
    available = pkg.useElementwiseKernels(set);
    if (!available) console.warn(`${set} kernels are not available on this CPU: testing ${defaultSet} again`);
  });
  it('runs on that kernel set', () => {
    expect(pkg.blasInfo().elementwiseKernels).toBe(available ? set : defaultSet);
  });
  afterAll(() => {
    pkg.useElementwiseKernels(defaultSet);
  });

suite('binary elementwise with broadcasting', () => {
  const exact: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['Add', tf.add],
    ['Sub', tf.sub],
    ['Multiply', tf.mul],
    ['RealDiv', tf.div],
    ['Maximum', tf.maximum],
    ['Minimum', tf.minimum],
  ];
  const compares: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['Greater', tf.greater],
    ['GreaterEqual', tf.greaterEqual],
    ['Less', tf.less],
    ['LessEqual', tf.lessEqual],
    ['Equal', tf.equal],
    ['NotEqual', tf.notEqual],
  ];

  it('equals the cpu backend exactly (arithmetic, comparisons) on random broadcast shapes', async () => {
    pkg.resetKernelStats();
    const r = rng(1);
    for (let t = 0; t < 60; t++) {
      const [as, bs] = broadcastPair(r);
      const av = values(r, size(as), -3, 3, true);
      // small integers make equality comparisons meaningful
      const bv = t % 2 ? values(r, size(bs), -3, 3, true) : Float32Array.from(values(r, size(bs)), Math.round);
      for (const [name, op] of [...exact, ...compares]) {
        await compare(() => op(tf.tensor(av, as), tf.tensor(bv, bs)), 0, 0, `${name} [${as}] ∘ [${bs}]`);
      }
    }
    // every float32 case ran natively
    for (const [name] of [...exact, ...compares]) {
      expect(pkg.kernelStats().native[name], name).toBeGreaterThanOrEqual(60);
      expect(pkg.kernelStats().fallback[name], name).toBeUndefined();
    }
  });

  it('SquaredDifference within one rounding', async () => {
    const r = rng(2);
    for (let t = 0; t < 30; t++) {
      const [as, bs] = broadcastPair(r);
      const av = values(r, size(as));
      const bv = values(r, size(bs));
      await compare(() => tf.squaredDifference(tf.tensor(av, as), tf.tensor(bv, bs)), 3e-7, 0, `[${as}] sqdiff [${bs}]`);
    }
  });

  it('handles the training-step shapes (bias row, column, scalar, same shape)', async () => {
    const r = rng(3);
    const x = values(r, 128 * 1000);
    const cases: [number[], number[]][] = [
      [[128, 1000], [1000]],
      [[128, 1000], [1, 1000]],
      [[128, 10], [128, 1]],
      [[], [128, 1000]],
      [[128, 1000], [128, 1000]],
    ];
    for (const [as, bs] of cases) {
      const bv = values(r, size(bs));
      for (const [name, op] of exact) await compare(() => op(tf.tensor(x.subarray(0, size(as)), as), tf.tensor(bv, bs)), 0, 0, `${name} [${as}] ∘ [${bs}]`);
    }
  });

  it('AddN sums in the same order as the cpu backend', async () => {
    const r = rng(4);
    for (let t = 0; t < 10; t++) {
      const shape = Array.from({ length: r.int(0, 3) }, () => r.int(1, 7));
      const parts = Array.from({ length: r.int(1, 4) }, () => values(r, size(shape)));
      await compare(() => tf.addN(parts.map((p) => tf.tensor(p, shape))), 0, 0, `addN ${parts.length}×[${shape}]`);
    }
  });
});

suite('unary elementwise', () => {
  const ops: [string, (x: tf.Tensor) => tf.Tensor, number, [number, number]][] = [
    ['Tanh', tf.tanh, 1e-6, [-10, 10]],
    ['Sigmoid', tf.sigmoid, 1e-6, [-30, 30]],
    ['Exp', tf.exp, 1e-6, [-90, 89]],
    ['Log', tf.log, 1e-6, [0, 50]],
    ['Elu', tf.elu, 1e-6, [-5, 5]],
    ['Relu', tf.relu, 0, [-3, 3]],
    ['Relu6', tf.relu6, 0, [-3, 9]],
    ['Neg', tf.neg, 0, [-3, 3]],
    ['Square', tf.square, 0, [-3, 3]],
    ['Sqrt', tf.sqrt, 0, [0, 9]],
    ['Abs', tf.abs, 0, [-3, 3]],
    ['Reciprocal', tf.reciprocal, 0, [-3, 3]],
    ['Rsqrt', tf.rsqrt, 2e-7, [0, 9]],
    ['Sign', tf.sign, 0, [-3, 3]],
    ['LeakyRelu', (x) => tf.leakyRelu(x, 0.13), 0, [-3, 3]],
    ['ClipByValue', (x) => tf.clipByValue(x, -0.5, 1.25), 0, [-3, 3]],
    ['Step', (x) => tf.step(x, 0.25), 0, [-3, 3]],
  ];

  it('matches the cpu backend on random shapes, including NaN, ±inf, ±0 and extremes', async () => {
    pkg.resetKernelStats();
    const r = rng(5);
    for (const [name, op, rtol, [lo, hi]] of ops) {
      for (let t = 0; t < 6; t++) {
        const shape = Array.from({ length: r.int(0, 3) }, () => r.int(1, 40));
        const xv = values(r, size(shape), lo, hi, t % 2 === 1);
        await compare(() => op(tf.tensor(xv, shape)), rtol, rtol ? 1e-7 : 0, `${name} [${shape}]`);
      }
    }
    for (const [name] of ops) {
      expect(pkg.kernelStats().native[name], name).toBeGreaterThanOrEqual(6);
      expect(pkg.kernelStats().fallback[name], name).toBeUndefined();
    }
  });

  it('tanh and exp stay within float32 rounding over a dense sweep', async () => {
    const xs = Float32Array.from({ length: 200_001 }, (_, i) => -20 + i * 2e-4);
    await compare(() => tf.tanh(tf.tensor(xs)), 1e-6, 1e-9, 'tanh sweep');
    await compare(() => tf.exp(tf.tensor(xs)), 1e-6, 1e-38, 'exp sweep');
    await compare(() => tf.sigmoid(tf.tensor(xs)), 1e-6, 1e-9, 'sigmoid sweep');
  });
});

suite('softmax', () => {
  it('Softmax along the last axis on random shapes', async () => {
    const r = rng(8);
    for (let t = 0; t < 20; t++) {
      const shape = Array.from({ length: r.int(1, 3) }, () => r.int(1, 30));
      const xv = values(r, size(shape), -20, 20);
      await compare(() => tf.softmax(tf.tensor(xv, shape)), 2e-6, 1e-9, `softmax [${shape}]`);
      await compare(() => tf.logSoftmax(tf.tensor(xv, shape)), 2e-6, 2e-6, `logSoftmax [${shape}]`);
    }
  });
});
});
}

suite('reductions', () => {
  it('Sum, Mean, Max, Min over random axes (contiguous natively, others through cpu)', async () => {
    pkg.resetKernelStats();
    const r = rng(6);
    for (let t = 0; t < 40; t++) {
      const rank = r.int(1, 4);
      const shape = Array.from({ length: rank }, () => r.int(1, 9));
      const axes = [...Array(rank).keys()].filter(() => r.next() < 0.5);
      const axis = axes.length ? axes.map((a) => (r.next() < 0.3 ? a - rank : a)) : undefined;
      const keep = r.next() < 0.5;
      const xv = values(r, size(shape), -3, 3, t % 5 === 4);
      const absSum = (await onBackend('cpu', () => tf.sum(tf.abs(tf.tensor(xv, shape)), axis, keep))).values;
      const n = size(shape) / Math.max(1, absSum.length);
      await compare(() => tf.sum(tf.tensor(xv, shape), axis, keep), 0, Float32Array.from(absSum, (s) => 1e-6 * s + 1e-30), `sum [${shape}] ${axis}`);
      await compare(() => tf.mean(tf.tensor(xv, shape), axis, keep), 0, Float32Array.from(absSum, (s) => (1e-6 * s) / n + 1e-30), `mean [${shape}] ${axis}`);
      await compare(() => tf.max(tf.tensor(xv, shape), axis, keep), 0, 0, `max [${shape}] ${axis}`);
      await compare(() => tf.min(tf.tensor(xv, shape), axis, keep), 0, 0, `min [${shape}] ${axis}`);
    }
    // both paths were exercised
    expect(pkg.kernelStats().native.Sum).toBeGreaterThan(20);
    expect(pkg.kernelStats().fallback.Sum).toBeGreaterThan(0);
  });

  it('sums a bias gradient [128, 1000] over the batch', async () => {
    const xv = values(rng(7), 128 * 1000);
    await compare(() => tf.sum(tf.tensor(xv, [128, 1000]), 0), 1e-6, 1e-5, 'bias grad');
  });
});

suite('transpose', () => {
  it('Transpose with random permutations of random shapes is exact', async () => {
    const r = rng(9);
    for (let t = 0; t < 60; t++) {
      const rank = r.int(1, 5);
      const shape = Array.from({ length: rank }, () => r.int(1, 7));
      const perm = [...Array(rank).keys()].sort(() => r.next() - 0.5);
      const xv = values(r, size(shape));
      await compare(() => tf.transpose(tf.tensor(xv, shape), perm), 0, 0, `transpose [${shape}] (${perm})`);
    }
    const big = values(r, 130 * 785);
    await compare(() => tf.transpose(tf.tensor(big, [130, 785])), 0, 0, 'transpose [130, 785]');
  });
});

suite('matrix multiply', () => {
  /** Per-element tolerance of a product: a few float32 roundings of Σ|a||b|. */
  async function productBound(a: tf.Tensor | (() => tf.Tensor), b: () => tf.Tensor, ta: boolean, tb: boolean): Promise<Float32Array> {
    const r = await onBackend('cpu', () => tf.matMul(tf.abs(typeof a === 'function' ? a() : a), tf.abs(b()), ta, tb));
    return Float32Array.from(r.values as Float32Array, (v) => 4e-6 * v + 1e-30);
  }

  it('BatchMatMul: every transpose combination, random sizes and broadcast batch dims', async () => {
    pkg.resetKernelStats();
    const r = rng(10);
    for (let t = 0; t < 48; t++) {
      const [m, n, k] = [r.int(1, 40), r.int(1, 40), r.int(1, 60)];
      const ta = t % 2 === 1;
      const tb = (t >> 1) % 2 === 1;
      // batch dims: none, equal, or broadcast from one side (what the cpu kernel computes correctly)
      const batch = t % 3 === 0 ? [] : [r.int(1, 3), r.int(2, 3)];
      const aBatch = batch.length && r.next() < 0.3 ? [1, batch[1]] : batch;
      const bBatch = batch.length && aBatch === batch && r.next() < 0.4 ? [] : batch;
      const aShape = [...aBatch, ...(ta ? [k, m] : [m, k])];
      const bShape = [...bBatch, ...(tb ? [n, k] : [k, n])];
      const av = values(r, size(aShape));
      const bv = values(r, size(bShape));
      const A = () => tf.tensor(av, aShape);
      const B = () => tf.tensor(bv, bShape);
      await compare(() => tf.matMul(A(), B(), ta, tb), 0, await productBound(A, B, ta, tb), `matMul [${aShape}]${ta ? 'ᵀ' : ''} · [${bShape}]${tb ? 'ᵀ' : ''}`);
    }
    expect(pkg.kernelStats().native.BatchMatMul).toBeGreaterThanOrEqual(48);
    expect(pkg.kernelStats().fallback.BatchMatMul).toBeUndefined();
  });

  it('broadcasts batch dims from both sides like NumPy (checked against explicit broadcastTo)', async () => {
    const r = rng(12);
    const av = values(r, 2 * 1 * 3 * 4);
    const bv = values(r, 1 * 3 * 4 * 5);
    const blas = await onBackend(BACKEND_NAME, () => tf.matMul(tf.tensor(av, [2, 1, 3, 4]), tf.tensor(bv, [1, 3, 4, 5])));
    const ref = await onBackend('cpu', () => tf.matMul(tf.broadcastTo(tf.tensor(av, [2, 1, 3, 4]), [2, 3, 3, 4]), tf.broadcastTo(tf.tensor(bv, [1, 3, 4, 5]), [2, 3, 4, 5])));
    expect(blas.shape).toEqual([2, 3, 3, 5]);
    expect(excess(blas.values, ref.values, 1e-5, 1e-5)).toBe(0);
  });

  it('the training-step products, with every transpose flag', async () => {
    const r = rng(13);
    const [m, k, n] = [64, 300, 200];
    const xv = values(r, m * k, -1, 1);
    const wv = values(r, k * n, -0.1, 0.1);
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const aShape = ta ? [k, m] : [m, k];
      const bShape = tb ? [n, k] : [k, n];
      const A = () => tf.tensor(xv, aShape);
      const B = () => tf.tensor(wv, bShape);
      await compare(() => tf.matMul(A(), B(), ta, tb), 0, await productBound(A, B, ta, tb), `matMul ${ta}${tb}`);
    }
  });

  it('multiplies pending transposes through the sgemm flags, and computes them when read', async () => {
    const r = rng(15);
    const [m, k, n] = [17, 23, 11];
    const av = values(r, m * k);
    const bv = values(r, k * n);
    const bound = Float32Array.from({ length: m * n }, () => 1e-4);
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      // transpose(x) then the flag: four ways to say A·B
      const A = () => (ta ? tf.tensor(av, [m, k]) : tf.transpose(tf.tensor(av, [k, m])));
      const B = () => (tb ? tf.tensor(bv, [k, n]) : tf.transpose(tf.tensor(bv, [n, k])));
      await compare(() => tf.matMul(ta ? tf.transpose(A()) : A(), tb ? tf.transpose(B()) : B(), ta, tb), 0, bound, `lazy ${ta}${tb}`);
    }
    // a pending transpose used by an elementwise op, read back, and reshaped into a batch of one
    await compare(() => tf.add(tf.transpose(tf.tensor(av, [m, k])), 1), 0, 0, 'lazy then add');
    await compare(() => tf.transpose(tf.tensor(av, [m, k])), 0, 0, 'lazy read');
    await compare(() => tf.matMul(tf.reshape(tf.transpose(tf.tensor(av, [m, k])), [1, k, m]), tf.tensor(av, [1, m, k])), 0, Float32Array.from({ length: k * k }, () => 1e-4), 'lazy batch of one');
  });

  it('_FusedMatMul with bias broadcasts and every activation', async () => {
    const r = rng(14);
    const activations = ['linear', 'relu', 'relu6', 'sigmoid', 'elu', 'leakyrelu', 'prelu'] as const;
    for (let t = 0; t < 28; t++) {
      const [m, n, k] = [r.int(1, 20), r.int(1, 20), r.int(1, 30)];
      const ta = r.next() < 0.5;
      const tb = r.next() < 0.5;
      const activation = activations[t % activations.length];
      const biasShape = r.pick([[n], [1, n], [m, n], [1], null]);
      const av = values(r, m * k);
      const bv = values(r, k * n);
      const biasv = biasShape ? values(r, size(biasShape)) : null;
      const alpha = values(r, n);
      const f = () =>
        tf.fused.matMul({
          a: tf.tensor(av, ta ? [k, m] : [m, k]),
          b: tf.tensor(bv, tb ? [n, k] : [k, n]),
          transposeA: ta,
          transposeB: tb,
          bias: biasv ? tf.tensor(biasv, biasShape!) : undefined,
          activation,
          preluActivationWeights: activation === 'prelu' ? tf.tensor(alpha, [n]) : undefined,
          leakyreluAlpha: 0.17,
        });
      const bound = await productBound(() => tf.tensor(av, ta ? [k, m] : [m, k]), () => tf.tensor(bv, tb ? [n, k] : [k, n]), ta, tb);
      const atol = Float32Array.from(bound, (v) => 2 * v + 1e-6);
      await compare(f, 1e-6, atol, `fused ${activation} bias [${biasShape}]`);
    }
  });
});

suite('elementwise kernels split across threads', () => {
  beforeAll(() => pkg.setBlasThreads({ elementwise: 2 }));
  afterAll(() => pkg.setBlasThreads({ elementwise: 1 }));

  it('large inputs give the same results as the cpu backend', async () => {
    expect(pkg.blasInfo().elementwiseThreads).toBe(2);
    const r = rng(16);
    const big = values(r, 600 * 700);
    const row = values(r, 700);
    await compare(() => tf.add(tf.tensor(big, [600, 700]), tf.tensor(row, [700])), 0, 0, 'add row');
    await compare(() => tf.mul(tf.tensor(big, [600, 700]), tf.tensor(big.subarray(0, 600), [600, 1])), 0, 0, 'mul column');
    await compare(() => tf.greater(tf.tensor(big, [600, 700]), 0.5), 0, 0, 'greater');
    await compare(() => tf.tanh(tf.tensor(big, [600, 700])), 1e-6, 1e-9, 'tanh');
    await compare(() => tf.addN([tf.tensor(big, [600, 700]), tf.tensor(big, [600, 700])]), 0, 0, 'addN');
    await compare(() => tf.softmax(tf.tensor(big, [600, 700])), 2e-6, 1e-9, 'softmax');
    await compare(() => tf.max(tf.tensor(big, [600, 700]), 1), 0, 0, 'max rows');
    await compare(() => tf.min(tf.tensor(big, [600, 700]), 0), 0, 0, 'min columns');
    await compare(() => tf.sum(tf.tensor(big, [600, 700]), 0), 1e-6, 1e-4, 'sum columns');
    await compare(() => tf.transpose(tf.tensor(big, [600, 700])), 0, 0, 'transpose');
    await compare(() => tf.transpose(tf.tensor(big, [6, 100, 700]), [0, 2, 1]), 0, 0, 'batched transpose');
    await compare(() => tf.transpose(tf.tensor(big, [6, 100, 700]), [1, 0, 2]), 0, 0, 'general transpose');
    await compare(() => tf.transpose(tf.tensor(big, [6, 100, 700]), [2, 1, 0]), 0, 0, 'reversing transpose');
  });
});
