// The native Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter (im2col / col2im + sgemm) against the cpu
// backend's kernels on seeded random geometries, the cases handed to the cpu kernels, and core's conv2d and
// locallyConnected2d layers.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { conv2d, locallyConnected2d, sequential, type Layer, type Padding, type Tensor } from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { excess, nativeProblem, onBackend, pkg, rng } from './test-helpers.js';

const suite = describe.skipIf(nativeProblem !== null);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
// float32 unit roundoff: a sum of k products computed in any order is within k·u·Σ|terms| of the exact value
const U = 2 ** -24;

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend('blas');
});

/**
 * Compare blas with cpu on `f`, the tolerance per element twice the float32 bound of a k-term sum: Σ|terms| is
 * `bound` (the same computation on |x|, |w|) on the cpu backend.
 */
async function compareSums(f: () => tf.Tensor, bound: () => tf.Tensor, k: number, label: string) {
  const cpu = await onBackend('cpu', f);
  const blas = await onBackend('blas', f);
  const abs = await onBackend('cpu', bound);
  expect(blas.shape, `${label}: shape`).toEqual(cpu.shape);
  const atol = Float32Array.from(abs.values, (s) => 2 * (k + 2) * U * s);
  expect(excess(blas.values, cpu.values, 0, atol), `${label}: max excess over tolerance`).toBe(0);
}

interface Case {
  n: number;
  h: number;
  w: number;
  c: number;
  f: number;
  kh: number;
  kw: number;
  strides: [number, number];
  pad: 'valid' | 'same';
}

function randomCase(r: ReturnType<typeof rng>): Case {
  const pad = r.pick(['valid', 'same'] as const);
  const h = r.int(1, 12);
  const w = r.int(1, 12);
  // 'valid' needs the kernel inside the image; 'same' takes any kernel, larger than the input included
  const kh = pad === 'valid' ? r.int(1, Math.min(5, h)) : r.int(1, 5);
  const kw = pad === 'valid' ? r.int(1, Math.min(5, w)) : r.int(1, 5);
  return { n: r.int(1, 4), h, w, c: r.int(1, 5), f: r.int(1, 6), kh, kw, strides: [r.int(1, 3), r.int(1, 3)], pad };
}

const label = (c: Case) => `x [${c.n},${c.h},${c.w},${c.c}] filter [${c.kh},${c.kw},${c.c},${c.f}] strides ${c.strides} ${c.pad}`;

suite('Conv2D (im2col + sgemm)', () => {
  it('equals the cpu kernel on random shapes, strides and both paddings (kernel larger than the input included)', async () => {
    pkg.resetKernelStats();
    const r = rng(11);
    let larger = 0;
    for (let t = 0; t < 80; t++) {
      // few channels run the direct convolution (stride 1 along the width, F ≤ 8, C ≤ 4), the rest im2col + sgemm
      const c = t % 4 === 3 ? { ...randomCase(r), c: r.int(3, 10), f: r.int(7, 20) } : randomCase(r);
      if (c.kh > c.h || c.kw > c.w) larger++;
      const xv = r.array(c.n * c.h * c.w * c.c);
      const wv = r.array(c.kh * c.kw * c.c * c.f);
      const x = () => tf.tensor4d(xv, [c.n, c.h, c.w, c.c]);
      const w = () => tf.tensor4d(wv, [c.kh, c.kw, c.c, c.f]);
      await compareSums(
        () => tf.conv2d(x(), w(), c.strides, c.pad),
        () => tf.conv2d(tf.abs(x()), tf.abs(w()), c.strides, c.pad),
        c.kh * c.kw * c.c,
        label(c),
      );
    }
    expect(larger, 'cases with a kernel larger than the input').toBeGreaterThan(3);
    expect(pkg.kernelStats().native.Conv2D).toBe(80);
    expect(pkg.kernelStats().fallback.Conv2D).toBeUndefined();
  });

  it('covers explicit and numeric padding, 1×1 kernels (plain sgemm), rank-3 input and an exact small case', async () => {
    pkg.resetKernelStats();
    const r = rng(12);
    const xv = r.array(2 * 7 * 6 * 3);
    const x = () => tf.tensor4d(xv, [2, 7, 6, 3]);
    for (const [kh, kw, f, strides, pad] of [
      [3, 2, 4, [1, 2], 1],
      [2, 3, 2, [2, 1], [[0, 0], [2, 0], [1, 3], [0, 0]]],
      [1, 1, 5, [1, 1], 'valid'],
      [1, 1, 5, [2, 2], 'same'],
    ] as [number, number, number, [number, number], 'valid' | 'same' | number | tf.backend_util.ExplicitPadding][]) {
      const wv = r.array(kh * kw * 3 * f);
      const w = () => tf.tensor4d(wv, [kh, kw, 3, f]);
      await compareSums(() => tf.conv2d(x(), w(), strides, pad), () => tf.conv2d(tf.abs(x()), tf.abs(w()), strides, pad), kh * kw * 3, `pad ${JSON.stringify(pad)}`);
    }
    await compareSums(
      () => tf.conv2d(tf.tensor3d(xv.subarray(0, 7 * 6 * 3), [7, 6, 3]), tf.ones([2, 2, 3, 2]), 1, 'same'),
      () => tf.conv2d(tf.abs(tf.tensor3d(xv.subarray(0, 7 * 6 * 3), [7, 6, 3])), tf.ones([2, 2, 3, 2]), 1, 'same'),
      12,
      'rank-3 input',
    );
    expect(pkg.kernelStats().native.Conv2D).toBe(5);
    // 1..4 in a 2×2 image, 2×2 ones filter, 'same' (pads bottom/right): each output sums its window
    await tf.setBackend('blas');
    const y = tf.conv2d(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'same');
    expect(Array.from(y.dataSync())).toEqual([10, 6, 7, 4]);
    y.dispose();
  });

  it('hands dilated and NCHW convolutions to the cpu kernel, with its results', async () => {
    pkg.resetKernelStats();
    const r = rng(13);
    const xv = r.array(2 * 8 * 7 * 3);
    const wv = r.array(3 * 3 * 3 * 4);
    const x = () => tf.tensor4d(xv, [2, 8, 7, 3]);
    const w = () => tf.tensor4d(wv, [3, 3, 3, 4]);
    const dilated = await onBackend('cpu', () => tf.conv2d(x(), w(), 1, 'same', 'NHWC', 2));
    const dilatedBlas = await onBackend('blas', () => tf.conv2d(x(), w(), 1, 'same', 'NHWC', 2));
    expect(dilatedBlas.shape).toEqual(dilated.shape);
    expect(Array.from(dilatedBlas.values)).toEqual(Array.from(dilated.values));
    expect(pkg.kernelStats().fallback.Conv2D).toBe(1);
    // the cpu kernel itself rejects NCHW: the same error on both backends
    const nchw = (backend: string) => onBackend(backend, () => tf.conv2d(tf.tensor4d(xv, [2, 3, 8, 7]), w(), 1, 'valid', 'NCHW'));
    const cpuError = await nchw('cpu').then(() => null, (e: Error) => e.message);
    const blasError = await nchw('blas').then(() => null, (e: Error) => e.message);
    expect(blasError).toBe(cpuError);
    expect(pkg.kernelStats().fallback.Conv2D).toBe(2);
    expect(pkg.kernelStats().native.Conv2D).toBeUndefined();
  });
});

suite('FusedConv2D (the convolution, then bias and activation in place)', () => {
  it('equals conv2d + add (+ activation) on blas bit for bit, and the cpu kernel within rounding', async () => {
    pkg.resetKernelStats();
    const r = rng(15);
    const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
    for (let t = 0; t < 24; t++) {
      const c = t % 3 === 2 ? { ...randomCase(r), c: r.int(3, 9), f: r.int(7, 18) } : randomCase(r);
      const activation = activations[t % activations.length];
      const xv = r.array(c.n * c.h * c.w * c.c);
      const wv = r.array(c.kh * c.kw * c.c * c.f);
      const bv = r.array(c.f);
      const x = () => tf.tensor4d(xv, [c.n, c.h, c.w, c.c]);
      const w = () => tf.tensor4d(wv, [c.kh, c.kw, c.c, c.f]);
      const fused = () => tf.fused.conv2d({ x: x(), filter: w(), strides: c.strides, pad: c.pad, bias: tf.tensor1d(bv), activation, leakyreluAlpha: 0.3 });
      const separate = () => {
        const z = tf.add(tf.conv2d(x(), w(), c.strides, c.pad), tf.tensor1d(bv));
        const acts: Record<string, (v: tf.Tensor) => tf.Tensor> = {
          linear: (v) => v,
          relu: tf.relu,
          relu6: tf.relu6,
          elu: tf.elu,
          sigmoid: tf.sigmoid,
          leakyrelu: (v) => tf.leakyRelu(v, 0.3),
        };
        return acts[activation](z);
      };
      const viaFused = await onBackend('blas', fused);
      const viaOps = await onBackend('blas', separate);
      expect(Array.from(viaFused.values), `${label(c)} ${activation}: fused = conv2d + add`).toEqual(Array.from(viaOps.values));
      const cpu = await onBackend('cpu', fused);
      let scale = 0;
      for (const v of cpu.values) scale = Math.max(scale, Math.abs(v));
      expect(excess(viaFused.values, cpu.values, 1e-5, 1e-5 * scale), `${label(c)} ${activation}: vs cpu`).toBe(0);
    }
    expect(pkg.kernelStats().native.FusedConv2D).toBe(24);
    expect(pkg.kernelStats().fallback.FusedConv2D).toBeUndefined();
  });

  it('autodiff through it (input, filter and bias gradients) agrees with cpu', async () => {
    const r = rng(16);
    const xv = r.array(2 * 7 * 6 * 3);
    const wv = r.array(3 * 3 * 3 * 5);
    const bv = r.array(5);
    const grads = () => {
      const g = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b }))),
      )([tf.tensor4d(xv, [2, 7, 6, 3]), tf.tensor4d(wv, [3, 3, 3, 5]), tf.tensor1d(bv)]);
      return tf.concat(g.map((t) => tf.reshape(t, [-1])));
    };
    const cpu = await onBackend('cpu', grads);
    const blas = await onBackend('blas', grads);
    let scale = 0;
    for (const v of cpu.values) scale = Math.max(scale, Math.abs(v));
    expect(excess(blas.values, cpu.values, 1e-5, 1e-5 * scale)).toBe(0);
  });
});

suite('Conv2DBackpropInput (sgemm + col2im)', () => {
  it('equals the cpu kernel on random shapes, strides and both paddings', async () => {
    pkg.resetKernelStats();
    const r = rng(21);
    for (let t = 0; t < 60; t++) {
      const c = randomCase(r);
      const inShape: [number, number, number, number] = [c.n, c.h, c.w, c.c];
      const info = tf.backend_util.computeConv2DInfo(inShape, [c.kh, c.kw, c.c, c.f], c.strides, 1, c.pad);
      const dyShape = [c.n, info.outHeight, info.outWidth, c.f];
      const dyv = r.array(size(dyShape));
      const wv = r.array(c.kh * c.kw * c.c * c.f);
      const dy = () => tf.tensor4d(dyv, dyShape as [number, number, number, number]);
      const w = () => tf.tensor4d(wv, [c.kh, c.kw, c.c, c.f]);
      // every input pixel receives at most ⌈kh/sh⌉·⌈kw/sw⌉ taps of f products each
      const k = Math.ceil(c.kh / c.strides[0]) * Math.ceil(c.kw / c.strides[1]) * c.f;
      await compareSums(
        () => tf.conv2dTranspose(dy(), w(), inShape, c.strides, c.pad),
        () => tf.conv2dTranspose(tf.abs(dy()), tf.abs(w()), inShape, c.strides, c.pad),
        k,
        label(c),
      );
    }
    expect(pkg.kernelStats().native.Conv2DBackpropInput).toBe(60);
    expect(pkg.kernelStats().fallback.Conv2DBackpropInput).toBeUndefined();
  });

  it('equals the cpu kernel on stride-1 geometries with ≥ 8 input channels (the flipped-filter convolution)', async () => {
    pkg.resetKernelStats();
    const r = rng(23);
    for (let t = 0; t < 30; t++) {
      const c: Case = { ...randomCase(r), c: r.int(8, 12), f: r.int(1, 9), strides: [1, 1] };
      // 'same' keeps the output the input's size (the flipped path); 'valid' with a small kernel nearly does
      if (t % 3 === 0) c.pad = 'valid';
      if (c.pad === 'valid') {
        c.kh = Math.min(c.kh, c.h);
        c.kw = Math.min(c.kw, c.w);
      }
      const inShape: [number, number, number, number] = [c.n, c.h, c.w, c.c];
      const info = tf.backend_util.computeConv2DInfo(inShape, [c.kh, c.kw, c.c, c.f], c.strides, 1, c.pad);
      const dyShape = [c.n, info.outHeight, info.outWidth, c.f];
      const dyv = r.array(size(dyShape));
      const wv = r.array(c.kh * c.kw * c.c * c.f);
      const dy = () => tf.tensor4d(dyv, dyShape as [number, number, number, number]);
      const w = () => tf.tensor4d(wv, [c.kh, c.kw, c.c, c.f]);
      await compareSums(
        () => tf.conv2dTranspose(dy(), w(), inShape, 1, c.pad),
        () => tf.conv2dTranspose(tf.abs(dy()), tf.abs(w()), inShape, 1, c.pad),
        c.kh * c.kw * c.f,
        label(c),
      );
    }
    expect(pkg.kernelStats().native.Conv2DBackpropInput).toBe(30);
  });

  it("is conv2d's gradient with respect to its input (autodiff through both kernels agrees with cpu)", async () => {
    const r = rng(22);
    const xv = r.array(3 * 9 * 10 * 2);
    const wv = r.array(4 * 3 * 2 * 5);
    const grad = () => tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(wv, [4, 3, 2, 5]), [2, 3], 'same'))))(tf.tensor4d(xv, [3, 9, 10, 2]));
    const cpu = await onBackend('cpu', grad);
    const blas = await onBackend('blas', grad);
    let scale = 0;
    for (const v of cpu.values) scale = Math.max(scale, Math.abs(v));
    expect(excess(blas.values, cpu.values, 1e-5, 1e-5 * scale)).toBe(0);
  });
});

/** `Conv2DBackpropFilter` as tfjs' conv2d gradient calls it (the op is not exported). */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], strides: [number, number] | number, pad: unknown): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape } as never);
}

suite('Conv2DBackpropFilter (im2col + sgemm, accumulated over chunks)', () => {
  it('equals the cpu kernel on random shapes, strides and both paddings', async () => {
    pkg.resetKernelStats();
    const r = rng(41);
    for (let t = 0; t < 60; t++) {
      const c = t % 4 === 3 ? { ...randomCase(r), c: r.int(6, 12), f: r.int(6, 20) } : randomCase(r);
      if (c.pad === 'valid') {
        c.kh = Math.min(c.kh, c.h);
        c.kw = Math.min(c.kw, c.w);
      }
      const inShape: [number, number, number, number] = [c.n, c.h, c.w, c.c];
      const filterShape = [c.kh, c.kw, c.c, c.f];
      const info = tf.backend_util.computeConv2DInfo(inShape, filterShape as [number, number, number, number], c.strides, 1, c.pad);
      const dyShape: [number, number, number, number] = [c.n, info.outHeight, info.outWidth, c.f];
      const xv = r.array(size(inShape));
      const dyv = r.array(size(dyShape));
      // each filter entry sums one product per output position of every sample
      await compareSums(
        () => filterGrad(tf.tensor4d(xv, inShape), tf.tensor4d(dyv, dyShape), filterShape, c.strides, c.pad),
        () => filterGrad(tf.abs(tf.tensor4d(xv, inShape)), tf.abs(tf.tensor4d(dyv, dyShape)), filterShape, c.strides, c.pad),
        c.n * info.outHeight * info.outWidth,
        label(c),
      );
    }
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBe(60);
    expect(pkg.kernelStats().fallback.Conv2DBackpropFilter).toBeUndefined();
  });

  it('covers 1×1 kernels (one plain product), explicit padding, many chunks and an exact small case', async () => {
    pkg.resetKernelStats();
    const r = rng(42);
    const cases: [number[], number[], [number, number], unknown][] = [
      [[2, 7, 6, 3], [1, 1, 3, 5], [1, 1], 'valid'],
      [[2, 7, 6, 3], [1, 1, 3, 5], [2, 2], 'same'],
      [[2, 7, 6, 3], [3, 2, 3, 4], [1, 2], 1],
      [[2, 7, 6, 3], [2, 3, 3, 2], [2, 1], [[0, 0], [2, 0], [1, 3], [0, 0]]],
      // 64·16·16 = 16384 patch rows of 3·3·4: far more than one chunk
      [[64, 16, 16, 4], [3, 3, 4, 3], [1, 1], 'same'],
    ];
    for (const [xShape, filterShape, strides, pad] of cases) {
      const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad as 'same');
      const dyShape: [number, number, number, number] = [xShape[0], info.outHeight, info.outWidth, filterShape[3]];
      const xv = r.array(size(xShape));
      const dyv = r.array(size(dyShape));
      const x4 = xShape as [number, number, number, number];
      await compareSums(
        () => filterGrad(tf.tensor4d(xv, x4), tf.tensor4d(dyv, dyShape), filterShape, strides, pad),
        () => filterGrad(tf.abs(tf.tensor4d(xv, x4)), tf.abs(tf.tensor4d(dyv, dyShape)), filterShape, strides, pad),
        dyShape[0] * dyShape[1] * dyShape[2],
        `x [${xShape}] filter [${filterShape}] strides ${strides} pad ${JSON.stringify(pad)}`,
      );
    }
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBe(cases.length);
    // x = 1..4 in a 2×2 image, dy = ones, 2×2 'same' (pads bottom/right): each tap sums the pixels it reads
    await tf.setBackend('blas');
    const g = filterGrad(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), tf.ones([1, 2, 2, 1]) as tf.Tensor4D, [2, 2, 1, 1], 1, 'same');
    expect(Array.from(g.dataSync())).toEqual([10, 6, 7, 4]);
    g.dispose();
  });

  it('direct path (F ≤ 8): wide rows (several vector blocks and tails), LeNet-5 first layer, strided rows, and both directions', async () => {
    pkg.resetKernelStats();
    const r = rng(44);
    // [x shape, filter shape, strides, pad]: widths give outW = 16·k ± a few, so full blocks, tails and masks all run
    const cases: [number[], number[], [number, number], 'valid' | 'same'][] = [
      [[4, 32, 32, 1], [5, 5, 1, 6], [1, 1], 'valid'],
      [[2, 9, 37, 3], [3, 4, 3, 8], [1, 1], 'same'],
      [[2, 11, 41, 2], [2, 5, 2, 7], [2, 1], 'valid'],
      [[3, 6, 17, 5], [3, 3, 5, 1], [3, 1], 'same'],
      [[1, 5, 50, 16], [1, 3, 16, 4], [1, 1], 'valid'],
    ];
    for (const [xShape, filterShape, strides, pad] of cases) {
      const x4 = xShape as [number, number, number, number];
      const f4 = filterShape as [number, number, number, number];
      const info = tf.backend_util.computeConv2DInfo(x4, f4, strides, 1, pad);
      const dyShape: [number, number, number, number] = [xShape[0], info.outHeight, info.outWidth, filterShape[3]];
      const xv = r.array(size(xShape));
      const wv = r.array(size(filterShape));
      const dyv = r.array(size(dyShape));
      const where = `x [${xShape}] filter [${filterShape}] strides ${strides} ${pad}`;
      await compareSums(
        () => tf.conv2d(tf.tensor4d(xv, x4), tf.tensor4d(wv, f4), strides, pad),
        () => tf.conv2d(tf.abs(tf.tensor4d(xv, x4)), tf.abs(tf.tensor4d(wv, f4)), strides, pad),
        filterShape[0] * filterShape[1] * filterShape[2],
        `forward ${where}`,
      );
      await compareSums(
        () => filterGrad(tf.tensor4d(xv, x4), tf.tensor4d(dyv, dyShape), filterShape, strides, pad),
        () => filterGrad(tf.abs(tf.tensor4d(xv, x4)), tf.abs(tf.tensor4d(dyv, dyShape)), filterShape, strides, pad),
        dyShape[0] * dyShape[1] * dyShape[2],
        `filter gradient ${where}`,
      );
    }
    expect(pkg.kernelStats().native.Conv2D).toBe(cases.length);
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBe(cases.length);
  });

  it('direct path: a non-finite pixel reaches only the taps that read it (vector lanes past the row do not)', async () => {
    // 'valid' 1×3 filter over a 20-wide row: the last column is read by tap kx = 2 only
    const xv = rng(45).array(2 * 3 * 20 * 1);
    for (let n = 0; n < 2; n++) for (let y = 0; y < 3; y++) xv[(n * 3 + y) * 20 + 19] = y === 1 ? Infinity : NaN;
    const dyv = rng(46).array(2 * 3 * 18 * 2);
    const grad = () => filterGrad(tf.tensor4d(xv, [2, 3, 20, 1]), tf.tensor4d(dyv, [2, 3, 18, 2]), [1, 3, 1, 2], 1, 'valid');
    const cpu = await onBackend('cpu', grad);
    const blas = await onBackend('blas', grad);
    // taps kx = 0, 1 (the first 4 entries) finite and equal to cpu's within rounding; kx = 2 NaN in both
    expect(excess(blas.values.slice(0, 4), cpu.values.slice(0, 4), 1e-5, 1e-6)).toBe(0);
    expect(Array.from(blas.values.slice(0, 4)).every(Number.isFinite)).toBe(true);
    expect(Array.from(blas.values.slice(4)).map(Number.isNaN)).toEqual([true, true]);
    expect(Array.from(cpu.values.slice(4)).map(Number.isNaN)).toEqual([true, true]);
  });

  it("is conv2d's gradient with respect to its filter (autodiff through the kernel agrees with cpu)", async () => {
    pkg.resetKernelStats();
    const r = rng(43);
    const xv = r.array(3 * 9 * 10 * 2);
    const wv = r.array(4 * 3 * 2 * 5);
    const grad = () => tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(tf.tensor4d(xv, [3, 9, 10, 2]), w as tf.Tensor4D, [2, 3], 'same'))))(tf.tensor4d(wv, [4, 3, 2, 5]));
    const cpu = await onBackend('cpu', grad);
    const blas = await onBackend('blas', grad);
    let scale = 0;
    for (const v of cpu.values) scale = Math.max(scale, Math.abs(v));
    expect(excess(blas.values, cpu.values, 1e-5, 1e-5 * scale)).toBe(0);
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBe(1);
  });

  it('hands NCHW to the cpu kernel, with its result', async () => {
    pkg.resetKernelStats();
    const r = rng(44);
    const xv = r.array(2 * 3 * 8 * 7);
    const dyv = r.array(2 * 4 * 6 * 5);
    const nchw = (backend: string) =>
      onBackend(backend, () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xv, [2, 3, 8, 7]), dy: tf.tensor4d(dyv, [2, 4, 6, 5]) }, {
          strides: 1,
          pad: 'valid',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 3, 4],
        } as never),
      );
    const cpu = await nchw('cpu');
    const blas = await nchw('blas');
    expect(Array.from(blas.values)).toEqual(Array.from(cpu.values));
    expect(pkg.kernelStats().fallback.Conv2DBackpropFilter).toBe(1);
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBeUndefined();
  });
});

// core's convolutional layers: the same layer (same seed) evaluated on both backends
function buildLayer(spec: ReturnType<typeof conv2d>, inputShape: number[]): Layer {
  return sequential({ inputShape, layers: [spec], seed: 5 }).layers[0];
}

suite("core's conv2d and locallyConnected2d layers on blas equal cpu", () => {
  const layers: [string, ReturnType<typeof conv2d>, number[]][] = [];
  for (const padding of ['valid', 'same'] as Padding[]) {
    layers.push([`conv2d 3×3 s2 ${padding}`, conv2d({ filters: 6, kernelSize: 3, strides: 2, padding }), [11, 12, 3]]);
    layers.push([`conv2d 5×4 s1 ${padding}`, conv2d({ filters: 4, kernelSize: [5, 4], strides: 1, padding }), [6, 7, 2]]);
    layers.push([`locallyConnected2d 3×3 s2 ${padding}`, locallyConnected2d({ filters: 5, kernelSize: 3, strides: 2, padding }), [10, 9, 2]]);
    layers.push([`locallyConnected2d 2×3 s1 ${padding}`, locallyConnected2d({ filters: 3, kernelSize: [2, 3], strides: [1, 2], padding }), [5, 7, 3]]);
  }

  it('linear, paramGrads and backwardInput', async () => {
    pkg.resetKernelStats();
    const r = rng(31);
    for (const [name, spec, inputShape] of layers) {
      await tf.setBackend('cpu');
      const layer = buildLayer(spec, inputShape);
      const n = 3;
      const xv = r.array(n * size(inputShape));
      const dv = r.array(n * size(layer.outputShape));
      const kernelValues = (layer.params.kernel as Tensor).dataSync().slice();
      const results: Record<string, Float32Array[]> = {};
      for (const backend of ['cpu', 'blas']) {
        await tf.setBackend(backend);
        const l = buildLayer(spec, inputShape);
        results[backend] = tf.tidy(() => {
          const kernel = tf.tensor(kernelValues, layer.params.kernel.shape);
          const x = tf.tensor(xv, [n, ...inputShape]);
          const delta = tf.tensor(dv, [n, ...layer.outputShape]);
          const grads = l.paramGrads(x, delta);
          return [l.linear(x, { ...l.params, kernel }), grads.kernel, l.backwardInput(delta, kernel)].map((t) => t.dataSync().slice() as Float32Array);
        });
        for (const t of Object.values(l.params)) t.dispose();
      }
      for (const t of Object.values(layer.params)) t.dispose();
      ['linear', 'paramGrads.kernel', 'backwardInput'].forEach((what, i) => {
        const cpu = results.cpu[i];
        let scale = 0;
        for (const v of cpu) scale = Math.max(scale, Math.abs(v));
        expect(excess(results.blas[i], cpu, 1e-5, 1e-5 * scale), `${name}: ${what}`).toBe(0);
      });
    }
    // natively: conv2d's linear, paramGrads (Conv2DBackpropFilter, no patch extraction on blas) and
    // backwardInput; the locally connected layers' own three kernels (no identity-bank Conv2D for their patches)
    const convLayers = layers.filter(([name]) => name.startsWith('conv2d')).length;
    // conv2d's linear map with its bias: FusedConv2D
    expect(pkg.kernelStats().native.FusedConv2D).toBe(convLayers);
    expect(pkg.kernelStats().native.Conv2D).toBeUndefined();
    for (const k of [pkg.LOCALLY_CONNECTED_KERNEL, pkg.LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, pkg.LOCALLY_CONNECTED_FILTER_GRAD_KERNEL]) {
      expect(pkg.kernelStats().native[k], k).toBe(layers.length - convLayers);
    }
    expect(pkg.kernelStats().native.Conv2DBackpropFilter).toBe(convLayers);
    expect(pkg.kernelStats().native.Conv2DBackpropInput).toBe(convLayers);
    expect(pkg.kernelStats().fallback.Conv2D).toBeUndefined();
  });
});
