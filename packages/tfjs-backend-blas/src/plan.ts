/**
 * Shape planning for the native kernels, in plain TypeScript (unit-tested on its own): broadcasts collapsed to
 * the fewest dimensions with element strides, reductions as `[outer, r, inner]`, transposes with merged axes,
 * and the per-batch operand offsets of a broadcast batched matmul. Each returns `null` when the native kernel
 * does not handle the case, so the caller falls back to the cpu backend's kernel.
 */

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major element strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** NumPy/tfjs broadcast shape of two shapes, or null when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export interface BinaryPlan {
  outShape: number[];
  /** Collapsed output dims and the element strides of a and b along them (0 where broadcast). */
  dims: Int32Array;
  aStrides: Int32Array;
  bStrides: Int32Array;
}

/** Plan `out = a ∘ b` with broadcasting; null when the shapes do not broadcast or the output is empty. */
export function planBinary(aShape: readonly number[], bShape: readonly number[]): BinaryPlan | null {
  const outShape = broadcastShape(aShape, bShape);
  if (!outShape || sizeOf(outShape) === 0) return null;
  const rank = outShape.length;
  const pad = (s: readonly number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const ap = pad(aShape);
  const bp = pad(bShape);
  const aContig = stridesOf(ap);
  const bContig = stridesOf(bp);
  const dims: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const sa = ap[d] === 1 ? 0 : aContig[d];
    const sb = bp[d] === 1 ? 0 : bContig[d];
    const last = dims.length - 1;
    // merge with the previous dim when both operands continue contiguously (or both stay broadcast)
    if (last >= 0 && as[last] === sa * outShape[d] && bs[last] === sb * outShape[d]) {
      dims[last] *= outShape[d];
      as[last] = sa;
      bs[last] = sb;
    } else {
      dims.push(outShape[d]);
      as.push(sa);
      bs.push(sb);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    as.push(0);
    bs.push(0);
  }
  return { outShape, dims: Int32Array.from(dims), aStrides: Int32Array.from(as), bStrides: Int32Array.from(bs) };
}

export interface ReducePlan {
  outShape: number[];
  outer: number;
  r: number;
  inner: number;
}

/**
 * Plan a reduction over `axes` as `[outer, r, inner]`: the reduced axes must be contiguous once size-1 axes are
 * ignored (so `sum(x, 0)` of `[N, F]` and `sum(x, -1)` both qualify; `[0, 2]` of `[A, B, C]` with `B > 1` does not).
 */
export function planReduce(shape: readonly number[], axis: number | readonly number[] | null | undefined, keepDims: boolean): ReducePlan | null {
  const rank = shape.length;
  const raw = axis === null || axis === undefined ? [...shape.keys()] : typeof axis === 'number' ? [axis] : [...axis];
  const axes = new Set<number>();
  for (const a of raw) {
    if (!Number.isInteger(a) || a < -rank || a >= Math.max(rank, 1)) return null;
    axes.add(a < 0 ? a + rank : a);
  }
  if (sizeOf(shape) === 0 || rank === 0) return null;
  let outer = 1;
  let r = 1;
  let inner = 1;
  // phase 0: before the reduced block, 1: inside it, 2: after it
  let phase = 0;
  for (let d = 0; d < rank; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const reduced = axes.has(d);
    if (reduced) {
      if (phase === 2) return null;
      phase = 1;
      r *= n;
    } else if (phase === 0) {
      outer *= n;
    } else {
      phase = 2;
      inner *= n;
    }
  }
  const outShape = keepDims ? shape.map((n, d) => (axes.has(d) ? 1 : n)) : shape.filter((_, d) => !axes.has(d));
  return { outShape, outer, r, inner };
}

export interface TransposePlan {
  outShape: number[];
  /** Input dims and permutation after dropping size-1 axes and merging axes that stay adjacent; null: a plain copy. */
  dims: Int32Array | null;
  perm: Int32Array | null;
}

/** Plan `transpose(x, perm)`; null for an invalid permutation. */
export function planTranspose(shape: readonly number[], perm: readonly number[]): TransposePlan | null {
  const rank = shape.length;
  if (perm.length !== rank) return null;
  const seen = new Set(perm);
  if (seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) return null;
  const outShape = perm.map((p) => shape[p]);
  // drop size-1 axes and renumber the rest 0..k-1 in input order, so axes adjacent once they are gone can merge
  const keptInput = [...shape.keys()].filter((d) => shape[d] !== 1);
  const rename = new Map(keptInput.map((d, i) => [d, i]));
  const kept = perm.filter((p) => shape[p] !== 1).map((p) => rename.get(p)!);
  const keptShape = keptInput.map((d) => shape[d]);
  // merge runs that are consecutive in the input
  const groups: number[][] = [];
  for (const p of kept) {
    const g = groups[groups.length - 1];
    if (g && g[g.length - 1] + 1 === p) g.push(p);
    else groups.push([p]);
  }
  if (groups.length <= 1) return { outShape, dims: null, perm: null };
  // groups in input order define the collapsed input dims
  const byInput = [...groups].sort((x, y) => x[0] - y[0]);
  const dims = byInput.map((g) => g.reduce((acc, p) => acc * keptShape[p], 1));
  const newPerm = groups.map((g) => byInput.indexOf(g));
  return { outShape, dims: Int32Array.from(dims), perm: Int32Array.from(newPerm) };
}

export interface MatMulPlan {
  outShape: number[];
  m: number;
  n: number;
  k: number;
  batch: number;
  /** Element offset of each batch's operand; null when batch i starts at i·(its matrix size). */
  aOffsets: Int32Array | null;
  bOffsets: Int32Array | null;
}

/**
 * Plan `matMul(a, b, transposeA, transposeB)` over the leading (batch) dims, which broadcast NumPy-style.
 * Null when inner dimensions differ, batch dims do not broadcast, or ranks are below 2.
 */
export function planMatMul(aShape: readonly number[], bShape: readonly number[], transposeA: boolean, transposeB: boolean): MatMulPlan | null {
  const ar = aShape.length;
  const br = bShape.length;
  if (ar < 2 || br < 2) return null;
  const m = transposeA ? aShape[ar - 1] : aShape[ar - 2];
  const kA = transposeA ? aShape[ar - 2] : aShape[ar - 1];
  const kB = transposeB ? bShape[br - 1] : bShape[br - 2];
  const n = transposeB ? bShape[br - 2] : bShape[br - 1];
  if (kA !== kB) return null;
  const k = kA;
  const aBatchShape = aShape.slice(0, -2);
  const bBatchShape = bShape.slice(0, -2);
  const outBatchShape = broadcastShape(aBatchShape, bBatchShape);
  if (!outBatchShape) return null;
  const batch = sizeOf(outBatchShape);
  const outShape = [...outBatchShape, m, n];
  const aBatch = sizeOf(aBatchShape);
  const bBatch = sizeOf(bBatchShape);
  const offsets = (shape: readonly number[], count: number, matrix: number): Int32Array | null => {
    if (count === batch) return null;
    const out = new Int32Array(batch);
    if (count === 1) return out;
    // walk the output batch index, accumulating this operand's broadcast batch offset
    const rank = outBatchShape.length;
    const pad = [...new Array<number>(rank - shape.length).fill(1), ...shape];
    const strides = stridesOf(pad).map((s, d) => (pad[d] === 1 ? 0 : s));
    const idx = new Array<number>(rank).fill(0);
    for (let i = 0; i < batch; i++) {
      let off = 0;
      for (let d = 0; d < rank; d++) off += idx[d] * strides[d];
      out[i] = off * matrix;
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < outBatchShape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  };
  return { outShape, m, n, k, batch, aOffsets: offsets(aBatchShape, aBatch, m * k), bOffsets: offsets(bBatchShape, bBatch, k * n) };
}
