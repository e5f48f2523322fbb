import { ShapeError } from './errors.js';
import type { Tensor } from './types.js';

/** The angle reported when either vector has no direction (zero norm, or non-finite entries). */
export const NO_DIRECTION_DEG = 90;

/** The angle between two equally long arrays and their Euclidean norms, in float64 (see `angleDeg`). */
export function angleAndNorms(va: ArrayLike<number>, vb: ArrayLike<number>): { angleDeg: number; normA: number; normB: number } {
  if (va.length !== vb.length) throw new ShapeError(`angle: lengths differ (${va.length} vs ${vb.length})`);
  // scale by the largest entry first so the squares neither underflow nor overflow
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < va.length; i++) {
    const x = Math.abs(va[i]);
    const y = Math.abs(vb[i]);
    // a NaN entry makes the whole vector directionless
    if (Number.isNaN(x)) ma = NaN;
    else if (x > ma) ma = x;
    if (Number.isNaN(y)) mb = NaN;
    else if (y > mb) mb = y;
  }
  if (!(ma > 0 && mb > 0 && Number.isFinite(ma) && Number.isFinite(mb))) {
    const norm = (v: ArrayLike<number>, m: number) => {
      if (!(m > 0 && Number.isFinite(m))) return m === 0 ? 0 : NaN;
      let t = 0;
      for (let i = 0; i < v.length; i++) t += (v[i] / m) ** 2;
      return m * Math.sqrt(t);
    };
    return { angleDeg: NO_DIRECTION_DEG, normA: norm(va, ma), normB: norm(vb, mb) };
  }
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < va.length; i++) {
    sa += (va[i] / ma) ** 2;
    sb += (vb[i] / mb) ** 2;
  }
  const ka = 1 / (ma * Math.sqrt(sa));
  const kb = 1 / (mb * Math.sqrt(sb));
  let d = 0;
  let s = 0;
  for (let i = 0; i < va.length; i++) {
    const u = va[i] * ka;
    const v = vb[i] * kb;
    d += (u - v) ** 2;
    s += (u + v) ** 2;
  }
  return { angleDeg: (2 * Math.atan2(Math.sqrt(d), Math.sqrt(s)) * 180) / Math.PI, normA: ma * Math.sqrt(sa), normB: mb * Math.sqrt(sb) };
}

/**
 * Angle in degrees between two tensors (or arrays) of the same size, flattened. Computed on the host in float64 as
 * `2·atan2(‖â − b̂‖, ‖â + b̂‖)` on the unit vectors (accurate near 0° and 180°, where `acos` of a rounded cosine is
 * not; identical tensors give exactly 0°). A zero or non-finite vector has no direction: the angle is then defined as
 * 90° (orthogonal: "no information"), so the result is always a number in [0, 180], never NaN.
 */
export function angleDeg(a: Tensor | ArrayLike<number>, b: Tensor | ArrayLike<number>): number {
  const va = isTensor(a) ? (a.dataSync() as ArrayLike<number>) : a;
  const vb = isTensor(b) ? (b.dataSync() as ArrayLike<number>) : b;
  if (va.length !== vb.length) throw new ShapeError(`angleDeg: sizes differ (${describe(a)} vs ${describe(b)})`);
  return angleAndNorms(va, vb).angleDeg;
}

const isTensor = (x: Tensor | ArrayLike<number>): x is Tensor => typeof (x as Tensor).dataSync === 'function';
const describe = (x: Tensor | ArrayLike<number>) => (isTensor(x) ? `[${x.shape}]` : `${x.length} values`);

