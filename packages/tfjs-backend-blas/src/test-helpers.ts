// Helpers shared by this package's tests (not exported from the package).
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeAddon } from './native.js';

/**
 * Why the native addon cannot load here, or null when it can. Tests that need it skip with this message on a
 * machine without OpenBLAS or a compiler, except under CI=true, where a missing addon is a failure.
 */
export const nativeProblem: string | null = (() => {
  try {
    loadNativeAddon();
    return null;
  } catch (err) {
    const message = (err as Error).message;
    if (process.env.CI === 'true') throw new Error(`CI=true and the blas addon is unavailable: ${message}`);
    console.warn(`[tfjs-backend-blas tests] skipping the tests that need the addon: ${message}`);
    return message;
  }
})();

/** The package, imported only when its addon loads (importing it without the addon throws by design). */
export const pkg: typeof import('./index.js') = nativeProblem ? (null as never) : await import('./index.js');

/** A small seeded generator (mulberry32) so property tests replay exactly. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    array: (n: number, lo = -3, hi = 3) => Float32Array.from({ length: n }, () => lo + (hi - lo) * next()),
  };
}

/** Run `f` on a backend and return its result's values and shape (copied out, tensors disposed). */
export async function onBackend(name: string, f: () => tf.Tensor): Promise<{ values: Float32Array | Int32Array | Uint8Array; shape: number[]; dtype: string }> {
  await tf.setBackend(name);
  const y = tf.tidy(f);
  const out = { values: (y.dataSync() as Float32Array).slice(), shape: [...y.shape], dtype: y.dtype };
  y.dispose();
  return out;
}

/** Largest violation of |a − b| ≤ atol + rtol·|b| (0 when within tolerance); NaNs must match NaNs. */
export function excess(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number | ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
      continue;
    }
    if (x === y) continue;
    const tol = (typeof atol === 'number' ? atol : atol[i]) + rtol * Math.abs(y);
    const d = Math.abs(x - y) - tol;
    if (!(d <= 0)) worst = Math.max(worst, Number.isFinite(d) ? d : Infinity);
  }
  return worst;
}
