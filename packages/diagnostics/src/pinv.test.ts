import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomSource, resolveBackend, ShapeError } from '@bioprop/core';
import { expectClose } from '@bioprop/testing';
import { pinv, pinvArray } from './pinv.js';
import { pseudoBackpropSignal } from './angles.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

/** Row-major product of `a` (r×k) and `b` (k×c). */
function mul(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * c + j];
    out[i * c + j] = s;
  }
  return out;
}
const transpose = (a: ArrayLike<number>, r: number, c: number) => {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
};
const eye = (n: number) => {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const random = (seed: number, n: number) => Float64Array.from(randomSource(seed).stream('m').normalArray(n));

describe('pinv (pivoted QR, complete orthogonal decomposition)', () => {
  it('full column rank, more rows than columns: A⁺A = I', () => {
    const a = random(1, 9 * 4);
    const { pinv: p, rank } = pinvArray(a, 9, 4);
    expect(rank).toBe(4);
    expect(maxAbsDiff(mul(p, a, 4, 9, 4), eye(4))).toBeLessThan(1e-12);
  });

  it('full row rank, fewer rows than columns: A A⁺ = I', () => {
    const a = random(2, 3 * 8);
    const { pinv: p, rank } = pinvArray(a, 3, 8);
    expect(rank).toBe(3);
    expect(maxAbsDiff(mul(a, p, 3, 8, 3), eye(3))).toBeLessThan(1e-12);
  });

  it('square invertible: the inverse', () => {
    const a = Float64Array.from([4, 7, 2, 6]);
    const { pinv: p } = pinvArray(a, 2, 2);
    expect(maxAbsDiff(p, [0.6, -0.7, -0.2, 0.4])).toBeLessThan(1e-14);
  });

  it('rank one: (u vᵀ)⁺ = v uᵀ / (‖u‖²‖v‖²)', () => {
    const u = [1, -2, 3, 0.5];
    const v = [2, 1, -1];
    const a = new Float64Array(12);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) a[i * 3 + j] = u[i] * v[j];
    const nu = u.reduce((s, x) => s + x * x, 0);
    const nv = v.reduce((s, x) => s + x * x, 0);
    const want = new Float64Array(12);
    for (let j = 0; j < 3; j++) for (let i = 0; i < 4; i++) want[j * 4 + i] = (v[j] * u[i]) / (nu * nv);
    const { pinv: p, rank } = pinvArray(a, 4, 3);
    expect(rank).toBe(1);
    expect(maxAbsDiff(p, want)).toBeLessThan(1e-14);
  });

  it('rank deficient in both shapes: the four Penrose conditions hold', () => {
    for (const [m, n, r] of [
      [7, 5, 2],
      [4, 9, 3],
    ]) {
      const a = mul(random(3, m * r), random(4, r * n), m, r, n);
      const { pinv: p, rank } = pinvArray(a, m, n);
      expect(rank).toBe(r);
      const ap = mul(a, p, m, n, m);
      const pa = mul(p, a, n, m, n);
      expect(maxAbsDiff(mul(ap, a, m, m, n), a)).toBeLessThan(1e-11); // A A⁺ A = A
      expect(maxAbsDiff(mul(pa, p, n, n, m), p)).toBeLessThan(1e-11); // A⁺ A A⁺ = A⁺
      expect(maxAbsDiff(ap, transpose(ap, m, m))).toBeLessThan(1e-11); // (A A⁺)ᵀ = A A⁺
      expect(maxAbsDiff(pa, transpose(pa, n, n))).toBeLessThan(1e-11); // (A⁺ A)ᵀ = A⁺ A
    }
  });

  it('zero matrix: zero; bad sizes: ShapeError', () => {
    const { pinv: p, rank } = pinvArray(new Float64Array(6), 2, 3);
    expect(rank).toBe(0);
    expect(Array.from(p)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => pinvArray([1, 2, 3], 2, 2)).toThrow(ShapeError);
  });

  it('on tensors: shape [cols, rows], A⁺A = I in float32', () => {
    const a = tf.tensor2d(Float32Array.from(random(5, 6 * 3)), [6, 3]);
    const p = pinv(a);
    expect(p.shape).toEqual([3, 6]);
    expectClose(tf.matMul(p, a), tf.eye(3), 1e-5, 'A⁺A');
    tf.dispose([a, p]);
  });
});

describe('pseudoBackpropSignal', () => {
  it('row i equals W⁺e_i computed in the papers’ column convention (W = kernelᵀ, n_L × n_{L−1})', () => {
    for (const [nHidden, nOut] of [
      [6, 3],
      [3, 6],
    ]) {
      const k = random(6, nHidden * nOut); // kernel [n_{L−1}, n_L]
      const e = random(7, 5 * nOut); // 5 samples
      const got = pseudoBackpropSignal(tf.tensor2d(Float32Array.from(k), [nHidden, nOut]), tf.tensor2d(Float32Array.from(e), [5, nOut]));
      expect(got.shape).toEqual([5, nHidden]);
      const w = transpose(k, nHidden, nOut); // n_L × n_{L−1}
      const { pinv: wp } = pinvArray(w, nOut, nHidden); // n_{L−1} × n_L
      const want = new Float64Array(5 * nHidden);
      for (let i = 0; i < 5; i++) {
        const col = mul(wp, e.subarray(i * nOut, (i + 1) * nOut), nHidden, nOut, 1);
        want.set(col, i * nHidden);
      }
      expectClose(got, want, 1e-5, `E·K⁺ (${nHidden}×${nOut})`);
      got.dispose();
    }
  });

  it('is the minimum-norm solution of h·kernel = e when the kernel has full column rank (not e·kernelᵀ)', () => {
    const k = tf.tensor2d(Float32Array.from(random(8, 7 * 3)), [7, 3]);
    const e = tf.tensor2d(Float32Array.from(random(9, 4 * 3)), [4, 3]);
    const h = pseudoBackpropSignal(k, e);
    expectClose(tf.matMul(h, k), e, 1e-5, 'H·K = E');
    // min-norm: H lies in the column space of K (rows of H are combinations of K's columns)
    const proj = tf.matMul(tf.matMul(h, k), pinv(k));
    expectClose(proj, h, 1e-5, 'H in range(Kᵀ)');
    const bp = tf.matMul(e, tf.transpose(k));
    expect(tf.max(tf.abs(tf.sub(bp, h))).dataSync()[0]).toBeGreaterThan(1e-2);
    tf.dispose([k, e, h, proj, bp]);
  });

  it('with orthonormal kernel columns scaled by c it is backprop’s signal divided by c²', () => {
    const q = tf.linalg.qr(tf.tensor2d(Float32Array.from(random(10, 8 * 4)), [8, 4]))[0];
    const k = tf.mul(q, 3);
    const e = tf.tensor2d(Float32Array.from(random(11, 5 * 4)), [5, 4]);
    const h = pseudoBackpropSignal(k, e);
    expectClose(h, tf.div(tf.matMul(e, tf.transpose(k)), 9), 1e-5, 'E·K⁺ = E·Kᵀ/c²');
    tf.dispose([q, k, e, h]);
  });
});
