// The native layer kernels against what they replace: MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad, PadV2 and Tile
// against the cpu backend's kernels (bit for bit: same arithmetic in the same order), and core's fused batch norm,
// relu and tanh VJPs and relu → max pooling VJP against the tf-op path they stand in for (bit for bit on blas, within
// rounding of cpu).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import {
  ActivationModule,
  BATCH_NORM_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  BatchNorm,
  LOCALLY_CONNECTED_FILTER_GRAD_KERNEL,
  LOCALLY_CONNECTED_INPUT_GRAD_KERNEL,
  LOCALLY_CONNECTED_KERNEL,
  LocallyConnected2dLayer,
  RELU_GRAD_KERNEL,
  TANH_GRAD_KERNEL,
  patchGeometry,
  preset,
  resolveActivation,
  sequential,
  type Tensor,
} from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadNativeAddon } from './native.js';
import { excess, nativeProblem, onBackend, pkg, rng } from './test-helpers.js';

const suite = describe.skipIf(nativeProblem !== null);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
type Rng = ReturnType<typeof rng>;

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend('blas');
});

/** Index of the first element where a and b differ (Object.is: −0 ≠ +0, NaN = NaN), or −1. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/** Run f on cpu and on blas; both results must be identical, element for element and in shape. */
async function exact(f: () => tf.Tensor, label: string) {
  const cpu = await onBackend('cpu', f);
  const blas = await onBackend('blas', f);
  expect(blas.shape, `${label}: shape`).toEqual(cpu.shape);
  const at = firstDifference(blas.values, cpu.values);
  expect(at, `${label}: first difference at ${at} (blas ${blas.values[at]}, cpu ${cpu.values[at]})`).toBe(-1);
}

/** Values with many ties (a few integers), signed zeros, ±∞ and NaN: max pooling's corner cases. */
function tiedValues(r: Rng, n: number): Float32Array {
  const pool = [-2, -1, -0, 0, 1, 2, 2, 1, -Infinity, Infinity, NaN, 0.5];
  return Float32Array.from({ length: n }, () => (r.next() < 0.7 ? r.pick(pool.slice(0, 8)) : r.pick(pool)));
}

interface PoolCase {
  shape: [number, number, number, number];
  filter: [number, number];
  strides: [number, number];
  pad: 'valid' | 'same' | number;
  rounding?: 'floor' | 'round' | 'ceil';
}

function randomPool(r: Rng): PoolCase {
  const h = r.int(1, 10);
  const w = r.int(1, 10);
  const pad = r.pick(['valid', 'same', 'same', 1] as const);
  const filter: [number, number] = pad === 'valid' ? [r.int(1, Math.min(4, h)), r.int(1, Math.min(4, w))] : [r.int(1, 4), r.int(1, 4)];
  // strides below the window overlap the windows (gradients then add up)
  const strides: [number, number] = [r.int(1, 3), r.int(1, 3)];
  if (pad === 1) {
    filter[0] = Math.max(filter[0], 2);
    filter[1] = Math.max(filter[1], 2);
  }
  return { shape: [r.int(1, 3), h, w, r.int(1, 7)], filter, strides, pad, rounding: pad === 1 ? r.pick(['floor', 'ceil'] as const) : undefined };
}

const pooledShape = (c: PoolCase): number[] => tf.backend_util.computePool2DInfo(c.shape, c.filter, c.strides, 1, c.pad, c.rounding).outShape;

const poolLabel = (c: PoolCase) => `x [${c.shape}] window ${c.filter} strides ${c.strides} pad ${c.pad}${c.rounding ? ` ${c.rounding}` : ''}`;

suite('MaxPool and MaxPoolGrad', () => {
  it('equal the cpu kernels bit for bit on random windows, strides, paddings, ties, ±0, ±∞ and NaN (recorded maxima or not)', async () => {
    pkg.resetKernelStats();
    const r = rng(51);
    let overlapping = 0;
    let cases = 0;
    for (let t = 0; t < 120; t++) {
      const c = randomPool(r);
      const outShape = pooledShape(c);
      // empty outputs (tfjs' numeric-padding arithmetic can give 0 columns) and the identity stay with the cpu kernel
      if (size(outShape) === 0 || (c.filter[0] === 1 && c.filter[1] === 1 && outShape.join() === c.shape.join())) continue;
      if (c.filter[0] > c.strides[0] || c.filter[1] > c.strides[1]) overlapping++;
      cases++;
      const xv = tiedValues(r, size(c.shape));
      const x = () => tf.tensor4d(xv, c.shape);
      const pool = () => tf.maxPool(x(), c.filter, c.strides, c.pad, c.rounding);
      await exact(pool, `maxPool ${poolLabel(c)}`);
      const dyv = r.array(size(outShape));
      for (let i = 0; i < dyv.length; i++) if (r.next() < 0.05) dyv[i] = -0;
      const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad, dimRoundingMode: c.rounding };
      const grad = (input: tf.Tensor, output: tf.Tensor) => tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor(dyv, outShape), input, output }, attrs as never) as tf.Tensor;
      // the output pooled from this very x: blas reads where MaxPool recorded each maximum
      await exact(() => {
        const input = x();
        return grad(input, tf.maxPool(input as tf.Tensor4D, c.filter, c.strides, c.pad, c.rounding));
      }, `maxPoolGrad ${poolLabel(c)}`);
      // an output pooled from other data (the cpu kernel ignores it): blas must search x itself
      const otherv = tiedValues(r, size(c.shape));
      await exact(() => grad(x(), tf.maxPool(tf.tensor4d(otherv, c.shape), c.filter, c.strides, c.pad, c.rounding)), `maxPoolGrad ${poolLabel(c)}, output of other data`);
    }
    expect(overlapping, 'cases with overlapping windows').toBeGreaterThan(20);
    const stats = pkg.kernelStats();
    // per case MaxPool ran on blas three times: compared, and for the outputs the two gradients read
    expect(stats.native.MaxPoolGrad).toBe(2 * cases);
    expect(stats.native.MaxPool).toBe(3 * cases);
    expect(stats.fallback.MaxPool).toBeUndefined();
    expect(stats.fallback.MaxPoolGrad).toBeUndefined();
  });

  it('route each window to its first maximum (ties), and a NaN-only window nowhere', async () => {
    await tf.setBackend('blas');
    // two 2×2 windows: ties (the first in row-major order gets the gradient), then NaNs only (no pixel above −∞)
    const dx = tf.tidy(() => {
      const x = tf.tensor4d([3, 3, NaN, NaN, 3, 3, NaN, NaN], [1, 2, 4, 1]);
      const y = tf.maxPool(x, 2, 2, 'valid');
      return tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor4d([5, 7], [1, 1, 2, 1]), input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' } as never) as Tensor;
    });
    expect(Array.from(dx.dataSync())).toEqual([5, 0, 0, 0, 0, 0, 0, 0]);
    dx.dispose();
  });

  it('reads the maxima MaxPool recorded for that input instead of searching it again', async () => {
    await tf.setBackend('blas');
    const backend = tf.backend() as unknown as { data: { get(id: object): { values: Float32Array } } };
    for (const [window, shape] of [
      [2, [1, 4, 4, 2]],
      [3, [1, 5, 5, 2]],
    ] as const) {
      const dx = tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from({ length: size(shape) }, (_, i) => i), [...shape]);
        const y = tf.maxPool(x, window, 2, 'valid');
        // overwrite x's data behind tfjs' back: a search would now find other maxima, the record still holds
        backend.data.get(x.dataId).values.reverse();
        return tf.engine().runKernel('MaxPoolGrad', { dy: tf.onesLike(y), input: x, output: y }, { filterSize: window, strides: 2, pad: 'valid' } as never) as Tensor;
      });
      const values = Array.from(dx.dataSync());
      dx.dispose();
      // increasing values: every window's maximum is its last pixel (bottom-right), for each of the 2 channels
      const expected = new Array<number>(size(shape)).fill(0);
      const [, h, w, c] = shape;
      for (let oy = 0; oy + window <= h; oy += 2) {
        for (let ox = 0; ox + window <= w; ox += 2) for (let ch = 0; ch < c; ch++) expected[((oy + window - 1) * w + ox + window - 1) * c + ch] = 1;
      }
      expect(values, `${window}×${window} windows`).toEqual(expected);
    }
  });

  it('autodiff through maxPool agrees with cpu, and the 1×1 identity stays with the cpu kernel', async () => {
    pkg.resetKernelStats();
    const r = rng(52);
    const xv = r.array(2 * 9 * 8 * 3);
    const grad = () => tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'))))(tf.tensor4d(xv, [2, 9, 8, 3]));
    const cpu = await onBackend('cpu', grad);
    const blas = await onBackend('blas', grad);
    expect(firstDifference(blas.values, cpu.values)).toBe(-1);
    await onBackend('blas', () => tf.maxPool(tf.tensor4d(xv, [2, 9, 8, 3]), 1, 1, 'valid'));
    expect(pkg.kernelStats().fallback.MaxPool).toBe(1);
  });
});

suite('AvgPool and AvgPoolGrad', () => {
  it('equal the cpu kernels bit for bit on random windows, strides and paddings', async () => {
    pkg.resetKernelStats();
    const r = rng(53);
    let cases = 0;
    for (let t = 0; t < 80; t++) {
      const c = randomPool(r);
      const outShape = pooledShape(c);
      // empty outputs (tfjs' numeric-padding arithmetic can give 0 columns) and the identity stay with the cpu kernel
      if (size(outShape) === 0 || (c.filter[0] === 1 && c.filter[1] === 1 && outShape.join() === c.shape.join())) continue;
      cases++;
      const xv = r.array(size(c.shape));
      const pool = () => tf.avgPool(tf.tensor4d(xv, c.shape), c.filter, c.strides, c.pad, c.rounding);
      await exact(pool, `avgPool ${poolLabel(c)}`);
      const dyv = r.array(size(outShape));
      const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad, dimRoundingMode: c.rounding };
      await exact(() => tf.engine().runKernel('AvgPoolGrad', { dy: tf.tensor(dyv, outShape), input: tf.tensor4d(xv, c.shape) }, attrs as never), `avgPoolGrad ${poolLabel(c)}`);
    }
    expect(pkg.kernelStats().native.AvgPool).toBe(cases);
    // with a dimRoundingMode the cpu kernel's loops ignore it: those stay with the cpu kernel
    const rounded = pkg.kernelStats().fallback.AvgPoolGrad ?? 0;
    expect(rounded).toBeGreaterThan(0);
    expect(pkg.kernelStats().native.AvgPoolGrad).toBe(cases - rounded);
  });
});

suite('PadV2 and Tile', () => {
  it('PadV2 equals the cpu kernel on random ranks, paddings and constants', async () => {
    pkg.resetKernelStats();
    const r = rng(54);
    for (let t = 0; t < 40; t++) {
      const shape = Array.from({ length: r.int(1, 5) }, () => r.int(1, 5));
      const paddings = shape.map(() => [r.int(0, 2), r.int(0, 2)] as [number, number]);
      const value = r.pick([0, 0, -1.5, NaN]);
      const xv = r.array(size(shape));
      await exact(() => tf.pad(tf.tensor(xv, shape), paddings, value), `pad [${shape}] by ${JSON.stringify(paddings)} with ${value}`);
    }
    expect(pkg.kernelStats().native.PadV2).toBe(40);
  });

  it('Tile equals the cpu kernel on random ranks and repetitions (broadcastTo included)', async () => {
    pkg.resetKernelStats();
    const r = rng(55);
    for (let t = 0; t < 40; t++) {
      const shape = Array.from({ length: r.int(1, 4) }, () => r.int(1, 4));
      const reps = shape.map(() => r.int(1, 3));
      const xv = r.array(size(shape));
      await exact(() => tf.tile(tf.tensor(xv, shape), reps), `tile [${shape}] by [${reps}]`);
    }
    // core's globalAvgPool2d VJP: [N, 1, 1, C] broadcast over the image
    const gv = r.array(3 * 5);
    await exact(() => tf.broadcastTo(tf.tensor(gv, [3, 1, 1, 5]), [3, 4, 6, 5]), 'broadcastTo [3,1,1,5] → [3,4,6,5]');
    expect(pkg.kernelStats().native.Tile).toBe(41);
  });
});

/** Core's batch-norm formulas through tf ops (the path the fused kernels replace), in training mode. */
function batchNormOps(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, g: tf.Tensor, epsilon: number) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const invStd = tf.rsqrt(tf.add(variance, epsilon));
  const xhat = tf.mul(tf.sub(x, mean), invStd);
  const y = tf.add(tf.mul(xhat, gamma), beta);
  const m = g.size / g.shape[g.rank - 1];
  const dBeta = tf.sum(g, axes);
  const dGamma = tf.sum(tf.mul(g, xhat), axes);
  const dx = tf.mul(tf.mul(gamma, invStd), tf.sub(tf.sub(g, tf.div(dBeta, m)), tf.mul(xhat, tf.div(dGamma, m))));
  return [y, xhat, mean, variance, invStd, dx, dGamma, dBeta];
}

const BN_SHAPES: number[][] = [
  [4, 5, 6, 3],
  [2, 7, 5, 1],
  [3, 4, 4, 16],
  [37, 10],
  [5, 1],
  [1, 3, 3, 8],
  [3, 1],
];

suite("core's batch norm through the fused kernels", () => {
  it('uses the names blas registers', () => {
    expect(BATCH_NORM_TRAIN_KERNEL).toBe(pkg.BATCH_NORM_TRAIN_KERNEL);
    expect(BATCH_NORM_GRAD_KERNEL).toBe(pkg.BATCH_NORM_GRAD_KERNEL);
    expect(RELU_GRAD_KERNEL).toBe(pkg.RELU_GRAD_KERNEL);
    for (const k of [BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_GRAD_KERNEL, RELU_GRAD_KERNEL]) {
      expect(tf.getKernel(k, 'blas'), k).toBeDefined();
      expect(tf.getKernel(k, 'cpu'), k).toBeUndefined();
    }
  });

  it('the kernels equal the tf-op formulas on blas bit for bit (one channel, many, dense and image inputs)', async () => {
    await tf.setBackend('blas');
    const r = rng(61);
    for (const shape of BN_SHAPES) {
      const c = shape[shape.length - 1];
      const xv = r.array(size(shape), -4, 6);
      const gv = r.array(size(shape));
      const gammaV = r.array(c, 0.5, 2);
      const betaV = r.array(c);
      const epsilon = r.pick([1e-5, 1e-3]);
      const [ops, fused] = tf.tidy(() => {
        const x = tf.tensor(xv, shape);
        const gamma = tf.tensor(gammaV, [c]);
        const beta = tf.tensor(betaV, [c]);
        const g = tf.tensor(gv, shape);
        const viaOps = batchNormOps(x, gamma, beta, g, epsilon).map((t) => t.dataSync().slice());
        const fwd = tf.engine().runKernel<Tensor[]>(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta }, { epsilon });
        const bwd = tf.engine().runKernel<Tensor[]>(BATCH_NORM_GRAD_KERNEL, { dy: g, xhat: fwd[1], gamma, invStd: fwd[4] }, {});
        return [viaOps, [...fwd, ...bwd].map((t) => t.dataSync().slice())];
      });
      ['y', 'xhat', 'mean', 'variance', 'invStd', 'dx', 'dGamma', 'dBeta'].forEach((what, i) => {
        expect(firstDifference(fused[i], ops[i]), `[${shape}] ${what}`).toBe(-1);
      });
    }
  });

  it("the module's forward and VJP on blas (fused) equal cpu (tf ops) within rounding, and leak nothing", async () => {
    const r = rng(62);
    for (const shape of BN_SHAPES) {
      const c = shape[shape.length - 1];
      const xv = r.array(size(shape), -4, 6);
      const gv = r.array(size(shape));
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        pkg.resetKernelStats();
        const bn = new BatchNorm('bn', shape.slice(1), 0.1, 1e-5);
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => {
          const trace = bn.forward([tf.tensor(xv, shape)], { training: true });
          const vjp = bn.vjp(tf.tensor(gv, shape), trace);
          bn.commit(trace);
          return [trace.output, vjp.inputs[0], vjp.params!.gamma, vjp.params!.beta, bn.buffers.runningMean, bn.buffers.runningVar].map((t) => t.dataSync().slice());
        });
        expect(tf.memory().numTensors, `${backend} [${shape}]: no leaked tensors`).toBe(before);
        for (const v of [...Object.values(bn.params), ...Object.values(bn.buffers)]) v.dispose();
        return out;
      };
      const cpu = await run('cpu');
      const blas = await run('blas');
      expect(pkg.kernelStats().native[BATCH_NORM_TRAIN_KERNEL], `[${shape}] fused forward`).toBe(1);
      expect(pkg.kernelStats().native[BATCH_NORM_GRAD_KERNEL], `[${shape}] fused VJP`).toBe(1);
      ['output', 'dx', 'dGamma', 'dBeta', 'runningMean', 'runningVar'].forEach((what, i) => {
        let scale = 0;
        for (const v of cpu[i]) scale = Math.max(scale, Math.abs(v));
        expect(excess(blas[i], cpu[i], 1e-5, 1e-5 * scale), `[${shape}] ${what}`).toBe(0);
      });
    }
  });

  it('under a gradient tape the module takes the tf-op path, so autodiff through it works on blas', async () => {
    const r = rng(63);
    const shape = [4, 3, 3, 5];
    const xv = r.array(size(shape));
    const wv = r.array(size(shape));
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      pkg.resetKernelStats();
      const bn = new BatchNorm('bn', shape.slice(1), 0.1, 1e-5);
      const out = tf.tidy(() => {
        // a weighted sum: Σy² would be constant (its gradient all rounding noise)
        const f = (x: tf.Tensor) => tf.sum(tf.mul(bn.forward([x], { training: true }).output, tf.tensor(wv, shape)));
        return tf.grad(f)(tf.tensor(xv, shape)).dataSync().slice();
      });
      for (const v of [...Object.values(bn.params), ...Object.values(bn.buffers)]) v.dispose();
      return out;
    };
    const cpu = await grads('cpu');
    const blas = await grads('blas');
    expect(pkg.kernelStats().native[BATCH_NORM_TRAIN_KERNEL]).toBeUndefined();
    let scale = 0;
    for (const v of cpu) scale = Math.max(scale, Math.abs(v));
    expect(excess(blas, cpu, 1e-4, 1e-5 * scale)).toBe(0);
  });
});

suite("core's relu VJP through the fused kernel", () => {
  it('equals g ⊙ 1_{a>0} through tf ops bit for bit (NaN, ±∞, ±0 in both), and cpu', async () => {
    const r = rng(64);
    const shape = [3, 5, 4, 7];
    const specials = [NaN, Infinity, -Infinity, 0, -0];
    const salt = (v: Float32Array) => v.map((x) => (r.next() < 0.15 ? r.pick(specials) : x));
    const av = salt(r.array(size(shape)));
    const gv = salt(r.array(size(shape)));
    const relu = new ActivationModule('relu', shape.slice(1), resolveActivation('relu'));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      pkg.resetKernelStats();
      return tf.tidy(() => {
        const a = tf.tensor(av, shape);
        const g = tf.tensor(gv, shape);
        const trace = relu.forward([a], { training: true });
        const viaModule = relu.vjp(g, trace).inputs[0].dataSync().slice();
        const viaOps = tf.mul(g, tf.cast(tf.greater(a, 0), 'float32')).dataSync().slice();
        return { viaModule, viaOps };
      });
    };
    const blas = await run('blas');
    expect(pkg.kernelStats().native[RELU_GRAD_KERNEL]).toBe(1);
    const cpu = await run('cpu');
    expect(firstDifference(blas.viaModule, blas.viaOps)).toBe(-1);
    expect(firstDifference(blas.viaModule, cpu.viaModule)).toBe(-1);
  });
});

suite("core's tanh VJP through the fused kernel", () => {
  it('equals g ⊙ (1 − h²) through tf ops bit for bit (NaN, ±∞, ±0 and |h| near 1 in both), and cpu', async () => {
    const r = rng(65);
    const shape = [4, 6, 5, 3];
    const specials = [NaN, Infinity, -Infinity, 0, -0];
    const salt = (v: Float32Array) => v.map((x) => (r.next() < 0.15 ? r.pick(specials) : x));
    // pre-activations from −12 to 12: h = tanh(a) rounds to ±1 at the ends, where 1 − h² cancels
    const av = salt(r.array(size(shape), -12, 12));
    const gv = salt(r.array(size(shape)));
    const tanh = new ActivationModule('tanh', shape.slice(1), resolveActivation('tanh'));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      pkg.resetKernelStats();
      return tf.tidy(() => {
        const a = tf.tensor(av, shape);
        const g = tf.tensor(gv, shape);
        const trace = tanh.forward([a], { training: true });
        const viaModule = tanh.vjp(g, trace).inputs[0].dataSync().slice();
        const viaOps = tf.mul(g, tf.sub(1, tf.square(trace.output))).dataSync().slice();
        // the same VJP from a given h (cpu's tanh rounds differently from blas'): compare the kernel alone across backends
        const h = tf.tensor(av.map((x) => Math.tanh(x)), shape);
        const fromH = tanh.vjp(g, { inputs: [a], output: h }).inputs[0].dataSync().slice();
        return { viaModule, viaOps, fromH };
      });
    };
    const blas = await run('blas');
    expect(pkg.kernelStats().native[TANH_GRAD_KERNEL]).toBe(2);
    const cpu = await run('cpu');
    expect(pkg.kernelStats().native[TANH_GRAD_KERNEL]).toBeUndefined();
    expect(firstDifference(blas.viaModule, blas.viaOps)).toBe(-1);
    expect(firstDifference(blas.fromH, cpu.fromH)).toBe(-1);
  });

  it('takes the tf-op path under a recording tape, with the same values', async () => {
    await tf.setBackend('blas');
    const tanh = new ActivationModule('tanh', [7], resolveActivation('tanh'));
    const r = rng(66);
    const a = tf.tensor(r.array(21), [3, 7]);
    const g = tf.tensor(r.array(21), [3, 7]);
    const trace = tanh.forward([a], { training: true });
    const plain = tanh.vjp(g, trace).inputs[0];
    pkg.resetKernelStats();
    // under tf.grad the module's VJP must be differentiable (a second-order use): the fused kernel has no gradient
    const dg = tf.grad((gg: tf.Tensor) => tf.sum(tanh.vjp(gg, trace).inputs[0]))(g);
    expect(pkg.kernelStats().native[TANH_GRAD_KERNEL]).toBeUndefined();
    expect(firstDifference(dg.dataSync(), tf.sub(1, tf.square(trace.output)).dataSync())).toBe(-1);
    expect(plain.shape).toEqual([3, 7]);
    tf.dispose([a, g, trace.output, plain, dg]);
  });
});

suite("core's relu → max pooling VJP through the fused kernel", () => {
  /** Bit-for-bit equality, Object.is per element (−0 ≠ +0, NaN = NaN). */
  const same = (a: ArrayLike<number>, b: ArrayLike<number>, label: string) => {
    const at = firstDifference(a, b);
    expect(at, `${label}: first difference at ${at} (${a[at]} vs ${b[at]})`).toBe(-1);
  };

  it('equals MaxPoolGrad then ReluGrad on blas bit for bit: random windows, strides, paddings, ties, ±0, ±∞, NaN (recorded maxima or not)', async () => {
    await tf.setBackend('blas');
    const r = rng(77);
    let cases = 0;
    let plain = 0;
    for (let t = 0; t < 100; t++) {
      // every 4th case the common 2×2 stride-2 window (its own loops)
      const c: PoolCase = t % 4 === 0 ? { shape: [r.int(1, 3), 2 * r.int(1, 5) + r.int(0, 1), 2 * r.int(1, 5) + r.int(0, 1), r.int(1, 7)], filter: [2, 2], strides: [2, 2], pad: 'valid' } : randomPool(r);
      const outShape = pooledShape(c);
      if (size(outShape) === 0 || (c.filter[0] === 1 && c.filter[1] === 1 && outShape.join() === c.shape.join())) continue;
      if (t % 4 === 0) plain++;
      cases++;
      // pre-activations with ties, signed zeros, ±∞ and NaN; the pool reads relu(a) as blas computes it
      const av = tiedValues(r, size(c.shape));
      const dyv = tiedValues(r, size(outShape)).map((v) => (Number.isFinite(v) ? v * 0.37 : v));
      const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad, dimRoundingMode: c.rounding };
      for (const recorded of [true, false]) {
        const [fused, twoStep] = tf.tidy(() => {
          const a = tf.tensor4d(av, c.shape);
          const h = tf.relu(a);
          // recorded: the pool's own output (blas kept where each maximum is); else one pooled from a copy of h
          const y = tf.maxPool((recorded ? h : tf.add(h, 0)) as tf.Tensor4D, c.filter, c.strides, c.pad, c.rounding);
          const dy = tf.tensor(dyv, outShape);
          const f = tf.engine().runKernel(pkg.MAX_POOL_RELU_GRAD_KERNEL, { dy, input: h, output: y }, attrs as never) as tf.Tensor;
          const g = tf.engine().runKernel('MaxPoolGrad', { dy, input: h, output: y }, attrs as never) as tf.Tensor;
          const two = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: g, x: a }, {}) as tf.Tensor;
          return [f.dataSync().slice(), two.dataSync().slice()];
        });
        same(fused, twoStep, `${poolLabel(c)}${recorded ? '' : ', searched'}`);
      }
    }
    expect(cases).toBeGreaterThan(60);
    expect(plain).toBeGreaterThan(15);
  });

  it("core's LeNet-5 blocks use it: their VJPs equal the unfused path bit for bit, and cpu within rounding", async () => {
    const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
    const r = rng(78);
    const xv = r.array(4 * 28 * 28, 0, 1);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const network = sequential({ inputShape, layers, seed: 4 });
      pkg.resetKernelStats();
      const out = tf.tidy(() => {
        const trace = network.forward(tf.tensor(xv, [4, 28, 28, 1]), { training: true });
        // the two conv blocks (conv → relu → maxPool2d): their VJPs from a seeded gradient at the block output
        return [0, 1].map((l) => {
          const shape = trace.layers[l].output.shape;
          const g = tf.tensor(rng(90 + l).array(size(shape)), shape);
          return network.layers[l].blockVjp(trace, g).delta.dataSync().slice();
        });
      });
      const stats = pkg.kernelStats();
      network.dispose();
      return { out, fused: stats.native[pkg.MAX_POOL_RELU_GRAD_KERNEL] ?? 0, maxPoolGrad: stats.native.MaxPoolGrad ?? 0 };
    };
    const fused = await run('blas');
    expect(fused.fused).toBe(2);
    expect(fused.maxPoolGrad).toBe(0);
    const config = tf.getKernel(pkg.MAX_POOL_RELU_GRAD_KERNEL, 'blas')!;
    tf.unregisterKernel(pkg.MAX_POOL_RELU_GRAD_KERNEL, 'blas');
    let unfused: Awaited<ReturnType<typeof run>>;
    try {
      // a fresh backend instance: core decides once per instance whether the kernel is there
      tf.removeBackend('blas');
      tf.registerBackend('blas', () => new pkg.BlasBackend(loadNativeAddon()), 3);
      unfused = await run('blas');
    } finally {
      tf.registerKernel(config);
    }
    expect(unfused.fused).toBe(0);
    expect(unfused.maxPoolGrad).toBe(2);
    for (let l = 0; l < 2; l++) same(fused.out[l], unfused.out[l], `layer ${l}`);
    const cpu = await run('cpu');
    for (let l = 0; l < 2; l++) expect(excess(fused.out[l], cpu.out[l], 1e-5, 1e-6)).toBe(0);
    await tf.setBackend('blas');
  });
});

suite("core's locally connected layer through the native kernels", () => {
  const LC_KERNELS = [LOCALLY_CONNECTED_KERNEL, LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, LOCALLY_CONNECTED_FILTER_GRAD_KERNEL];

  it('uses the names blas registers', () => {
    expect(LOCALLY_CONNECTED_KERNEL).toBe(pkg.LOCALLY_CONNECTED_KERNEL);
    expect(LOCALLY_CONNECTED_INPUT_GRAD_KERNEL).toBe(pkg.LOCALLY_CONNECTED_INPUT_GRAD_KERNEL);
    expect(LOCALLY_CONNECTED_FILTER_GRAD_KERNEL).toBe(pkg.LOCALLY_CONNECTED_FILTER_GRAD_KERNEL);
    for (const k of LC_KERNELS) {
      expect(tf.getKernel(k, 'blas'), k).toBeDefined();
      expect(tf.getKernel(k, 'cpu'), k).toBeUndefined();
    }
  });

  interface LcCase {
    n: number;
    input: [number, number, number];
    filters: number;
    kernelSize: [number, number];
    strides: [number, number];
    padding: 'valid' | 'same';
  }
  function randomLc(r: Rng): LcCase {
    const h = r.int(1, 9);
    const w = r.int(1, 9);
    const padding = r.pick(['valid', 'same'] as const);
    const kernelSize: [number, number] = padding === 'valid' ? [r.int(1, Math.min(4, h)), r.int(1, Math.min(4, w))] : [r.int(1, 4), r.int(1, 4)];
    return { n: r.int(1, 5), input: [h, w, r.int(1, 5)], filters: r.int(1, 6), kernelSize, strides: [r.int(1, 3), r.int(1, 3)], padding };
  }

  /** The layer's forward, input VJP (through another kernel, as feedback alignment passes B) and parameter gradients. */
  async function lcRun(backend: string, c: LcCase, seed: number, flatInput: boolean) {
    await tf.setBackend(backend);
    pkg.resetKernelStats();
    const r = rng(seed);
    const g = patchGeometry('lc', c.input, c.kernelSize, c.strides, c.padding);
    const kshape = [g.outH * g.outW, g.patchSize, c.filters];
    const params = { kernel: tf.variable(tf.tensor(r.array(size(kshape)), kshape)), bias: tf.variable(tf.tensor(r.array(g.outH * g.outW * c.filters), [g.outH, g.outW, c.filters])) };
    const layer = new LocallyConnected2dLayer('lc', [...c.input], c.filters, c.kernelSize, c.strides, c.padding, params);
    const xv = r.array(c.n * size(c.input));
    const dv = r.array(c.n * g.outH * g.outW * c.filters);
    const bv = r.array(size(kshape));
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const x = tf.tensor(xv, flatInput ? [c.n, size(c.input)] : [c.n, ...c.input]);
      const delta = tf.tensor(dv, [c.n, g.outH, g.outW, c.filters]);
      const z = layer.linear(x);
      const dx = layer.backwardInput(delta, tf.tensor(bv, kshape));
      const grads = layer.paramGrads(x, delta);
      return [z, dx, grads.kernel, grads.bias!].map((t) => ({ values: t.dataSync().slice(), shape: [...t.shape] }));
    });
    expect(tf.memory().numTensors, `${backend}: no leaked tensors`).toBe(before);
    tf.dispose([params.kernel, params.bias]);
    return out;
  }

  it('forward, input VJP and parameter gradients on blas (native) equal cpu (tf ops) within rounding: random geometries, both paddings, flat and image inputs', async () => {
    const r = rng(71);
    for (let i = 0; i < 40; i++) {
      const c = randomLc(r);
      const flat = i % 3 === 0;
      const cpu = await lcRun('cpu', c, 100 + i, flat);
      const blas = await lcRun('blas', c, 100 + i, flat);
      for (const k of LC_KERNELS) expect(pkg.kernelStats().native[k], `${JSON.stringify(c)}: ${k} ran`).toBe(1);
      ['output', 'dx', 'dKernel', 'dBias'].forEach((what, j) => {
        expect(blas[j].shape, `${JSON.stringify(c)} ${what} shape`).toEqual(cpu[j].shape);
        let scale = 0;
        for (const v of cpu[j].values) scale = Math.max(scale, Math.abs(v));
        expect(excess(blas[j].values, cpu[j].values, 1e-5, 1e-5 * scale), `${JSON.stringify(c)} ${what}`).toBe(0);
      });
    }
  });

  it("the Bartunov MNIST net's layers (3×3, stride 2, 'same', 32 and 64 filters) equal cpu within rounding", async () => {
    for (const c of [
      { n: 32, input: [28, 28, 1], filters: 32, kernelSize: [3, 3], strides: [2, 2], padding: 'same' },
      { n: 32, input: [14, 14, 32], filters: 64, kernelSize: [3, 3], strides: [2, 2], padding: 'same' },
    ] as LcCase[]) {
      const cpu = await lcRun('cpu', c, 7, false);
      const blas = await lcRun('blas', c, 7, false);
      ['output', 'dx', 'dKernel', 'dBias'].forEach((what, j) => {
        let scale = 0;
        for (const v of cpu[j].values) scale = Math.max(scale, Math.abs(v));
        expect(excess(blas[j].values, cpu[j].values, 1e-5, 1e-5 * scale), `[${c.input}] ${what}`).toBe(0);
      });
    }
  });

  it('under a gradient tape the layer takes the tf-op path, and autodiff through it equals its own gradients', async () => {
    await tf.setBackend('blas');
    const r = rng(72);
    const c: LcCase = { n: 3, input: [7, 6, 3], filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same' };
    const g = patchGeometry('lc', c.input, c.kernelSize, c.strides, c.padding);
    const kshape = [g.outH * g.outW, g.patchSize, c.filters];
    const params = { kernel: tf.variable(tf.tensor(r.array(size(kshape)), kshape)) };
    const layer = new LocallyConnected2dLayer('lc', [...c.input], c.filters, c.kernelSize, c.strides, c.padding, params);
    const xv = r.array(c.n * size(c.input));
    const wv = r.array(c.n * g.outH * g.outW * c.filters);
    pkg.resetKernelStats();
    const [auto, explicit] = tf.tidy(() => {
      const x = tf.tensor(xv, [c.n, ...c.input]);
      const weights = tf.tensor(wv, [c.n, g.outH, g.outW, c.filters]);
      const [dx, dk] = tf.grads((xi: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(layer.linear(xi, { kernel: k }), weights)))([x, params.kernel]);
      const taped = pkg.kernelStats().native[LOCALLY_CONNECTED_KERNEL];
      expect(taped, 'no native forward under the tape').toBeUndefined();
      return [[dx, dk].map((t) => t.dataSync().slice()), [layer.backwardInput(weights, params.kernel), layer.paramGrads(x, weights).kernel].map((t) => t.dataSync().slice())];
    });
    expect(pkg.kernelStats().native[LOCALLY_CONNECTED_INPUT_GRAD_KERNEL]).toBe(1);
    for (let j = 0; j < 2; j++) {
      let scale = 0;
      for (const v of auto[j]) scale = Math.max(scale, Math.abs(v));
      expect(excess(explicit[j], auto[j], 1e-5, 1e-5 * scale), j === 0 ? 'dx' : 'dKernel').toBe(0);
    }
    params.kernel.dispose();
  });

  it('refuses inputs that do not match the geometry, naming the kernel and the input', async () => {
    await tf.setBackend('blas');
    const attrs = { kernelSize: [3, 3], strides: [2, 2], pad: [0, 0], outShape: [3, 3] };
    tf.tidy(() => {
      const x = tf.zeros([2, 7, 7, 2]);
      expect(() => tf.engine().runKernel(LOCALLY_CONNECTED_KERNEL, { x, kernel: tf.zeros([9, 17, 4]) }, attrs)).toThrow(/BiopropLocallyConnected2d: kernel has shape \[9,17,4\], expected \[9,18,4\]/);
      expect(() => tf.engine().runKernel(LOCALLY_CONNECTED_KERNEL, { x: tf.zeros([2, 49, 2]), kernel: tf.zeros([9, 18, 4]) }, attrs)).toThrow(/image must be \[N, H, W, C\]/);
      expect(() => tf.engine().runKernel(LOCALLY_CONNECTED_FILTER_GRAD_KERNEL, { x, dy: tf.zeros([2, 3, 4, 4]) }, attrs)).toThrow(/dy has shape \[2,3,4,4\], expected \[2,3,3,4\]/);
      expect(() => tf.engine().runKernel(LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, { dy: tf.zeros([2, 3, 3, 4]), kernel: tf.zeros([9, 18, 4]) }, { ...attrs, strides: [0, 2], inputShape: [2, 7, 7, 2] })).toThrow(/attr strides must be two integers ≥ 1/);
    });
  });
});
