import { describe, expect, it } from 'vitest';
import { broadcastShape, planBinary, planMatMul, planReduce, planTranspose, stridesOf } from './plan.js';
import { rng } from './test-helpers.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The input element each output element of a broadcast reads, computed directly from the definition. */
function broadcastSource(outShape: number[], inShape: number[], flat: number): number {
  const rank = outShape.length;
  const pad = [...new Array(rank - inShape.length).fill(1), ...inShape];
  const st = stridesOf(pad);
  let rem = flat;
  let off = 0;
  for (let d = rank - 1; d >= 0; d--) {
    const i = rem % outShape[d];
    rem = Math.floor(rem / outShape[d]);
    off += (pad[d] === 1 ? 0 : i) * st[d];
  }
  return off;
}

/** The element the collapsed plan reads (what the native loop does). */
function planSource(dims: Int32Array, strides: Int32Array, flat: number): number {
  let rem = flat;
  let off = 0;
  for (let d = dims.length - 1; d >= 0; d--) {
    off += (rem % dims[d]) * strides[d];
    rem = Math.floor(rem / dims[d]);
  }
  return off;
}

function randomBroadcastPair(r: ReturnType<typeof rng>): [number[], number[]] {
  const rank = r.int(0, 4);
  const base = Array.from({ length: rank }, () => r.int(1, 4));
  const a = base.map((d) => (r.next() < 0.3 ? 1 : d)).slice(r.int(0, rank));
  const b = base.map((d) => (r.next() < 0.3 ? 1 : d)).slice(r.int(0, rank));
  return [a, b];
}

describe('planBinary', () => {
  it('collapses the common training shapes to at most two dims', () => {
    expect(planBinary([128, 1000], [1000])).toMatchObject({ outShape: [128, 1000], dims: Int32Array.from([128, 1000]), aStrides: Int32Array.from([1000, 1]), bStrides: Int32Array.from([0, 1]) });
    expect(planBinary([784, 1000], [784, 1000])!.dims).toEqual(Int32Array.from([784000]));
    expect(planBinary([], [784, 1000])).toMatchObject({ dims: Int32Array.from([784000]), aStrides: Int32Array.from([0]), bStrides: Int32Array.from([1]) });
    expect(planBinary([128, 10], [128, 1])).toMatchObject({ dims: Int32Array.from([128, 10]), aStrides: Int32Array.from([10, 1]), bStrides: Int32Array.from([1, 0]) });
    expect(planBinary([], [])).toMatchObject({ outShape: [], dims: Int32Array.from([1]) });
  });

  it('refuses shapes that do not broadcast, and empty outputs', () => {
    expect(planBinary([3, 4], [5])).toBeNull();
    expect(planBinary([0, 4], [4])).toBeNull();
  });

  it('reads the same elements as the broadcast definition (random shapes, seeded)', () => {
    const r = rng(11);
    for (let t = 0; t < 300; t++) {
      const [a, b] = randomBroadcastPair(r);
      const plan = planBinary(a, b)!;
      expect(plan.outShape).toEqual(broadcastShape(a, b));
      // innermost strides are contiguous or broadcast: what the native inner loop assumes
      expect(plan.aStrides[plan.aStrides.length - 1]).toBeLessThanOrEqual(1);
      expect(plan.bStrides[plan.bStrides.length - 1]).toBeLessThanOrEqual(1);
      expect(size([...plan.dims])).toBe(size(plan.outShape));
      for (let i = 0; i < size(plan.outShape); i++) {
        expect(planSource(plan.dims, plan.aStrides, i)).toBe(broadcastSource(plan.outShape, a, i));
        expect(planSource(plan.dims, plan.bStrides, i)).toBe(broadcastSource(plan.outShape, b, i));
      }
    }
  });
});

describe('planReduce', () => {
  it('plans bias gradients, row sums and full reductions', () => {
    expect(planReduce([128, 1000], [0], false)).toEqual({ outShape: [1000], outer: 1, r: 128, inner: 1000 });
    expect(planReduce([128, 10], [-1], true)).toEqual({ outShape: [128, 1], outer: 128, r: 10, inner: 1 });
    expect(planReduce([2, 3, 4], null, false)).toEqual({ outShape: [], outer: 1, r: 24, inner: 1 });
    expect(planReduce([2, 1, 4], [0, 2], false)).toEqual({ outShape: [1], outer: 1, r: 8, inner: 1 });
  });
  it('refuses non-contiguous axes and empty tensors', () => {
    expect(planReduce([2, 3, 4], [0, 2], false)).toBeNull();
    expect(planReduce([0, 3], [1], false)).toBeNull();
    expect(planReduce([2, 3], [2], false)).toBeNull();
  });
});

describe('planTranspose', () => {
  it('merges axes that stay adjacent and drops size-1 axes', () => {
    expect(planTranspose([2, 3, 4], [1, 2, 0])).toEqual({ outShape: [3, 4, 2], dims: Int32Array.from([2, 12]), perm: Int32Array.from([1, 0]) });
    expect(planTranspose([1, 5], [1, 0])).toEqual({ outShape: [5, 1], dims: null, perm: null });
    expect(planTranspose([2, 3, 4], [0, 2, 1])).toEqual({ outShape: [2, 4, 3], dims: Int32Array.from([2, 3, 4]), perm: Int32Array.from([0, 2, 1]) });
    expect(planTranspose([2, 3], [0, 0])).toBeNull();
    // identity once the size-1 axis is gone: a copy, not a transpose
    expect(planTranspose([5, 7, 3, 1, 7], [0, 1, 2, 3, 4])).toEqual({ outShape: [5, 7, 3, 1, 7], dims: null, perm: null });
    expect(planTranspose([4, 1, 6], [2, 1, 0])).toEqual({ outShape: [6, 1, 4], dims: Int32Array.from([4, 6]), perm: Int32Array.from([1, 0]) });
  });
});

describe('planMatMul', () => {
  it('plans transposes and broadcast batches', () => {
    expect(planMatMul([128, 784], [784, 1000], false, false)).toMatchObject({ outShape: [128, 1000], m: 128, n: 1000, k: 784, batch: 1 });
    expect(planMatMul([784, 128], [784, 1000], true, false)).toMatchObject({ outShape: [128, 1000], m: 128, n: 1000, k: 784 });
    expect(planMatMul([2, 3, 4], [4, 5], false, false)).toMatchObject({ outShape: [2, 3, 5], batch: 2, aOffsets: null, bOffsets: Int32Array.from([0, 0]) });
    // two-sided broadcast: a [2,1], b [1,3] batches -> out [2,3]
    const p = planMatMul([2, 1, 3, 4], [1, 3, 4, 5], false, false)!;
    expect(p.outShape).toEqual([2, 3, 3, 5]);
    expect([...p.aOffsets!]).toEqual([0, 0, 0, 12, 12, 12]);
    expect([...p.bOffsets!]).toEqual([0, 20, 40, 0, 20, 40]);
    expect(planMatMul([3, 4], [5, 6], false, false)).toBeNull();
    expect(planMatMul([2, 3, 4], [3, 4, 5], false, false)).toBeNull();
  });
});
