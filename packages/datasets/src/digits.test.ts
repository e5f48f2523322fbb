import { describe, expect, it } from 'vitest';
import { loadDigits } from './index';
import { sameArray } from './test-fixtures';

function classCounts(labels: Uint8Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

// The mnist package's per-class sample counts (10,000 in all).
const PER_CLASS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

describe('loadDigits (embedded, no network)', () => {
  it('splits each class 80/20 in file order: ~8,000 train / ~2,000 test', async () => {
    const d = await loadDigits();
    const train = PER_CLASS.map((n) => Math.floor(n * 0.8));
    expect(classCounts(d.train.labels!)).toEqual(train);
    expect(classCounts(d.test.labels!)).toEqual(PER_CLASS.map((n, i) => n - train[i]));
    expect(d.train.count + d.test.count).toBe(10_000);
    expect(d.train.count).toBe(7_996);
    expect(d.train.name).toBe('digits/train');
    expect(d.test.name).toBe('digits/test');
    expect(d.train.x.length).toBe(d.train.count * 784);
    expect(d.train.sampleShape).toEqual([784]);
    expect(d.source).toMatch(/mnist[/\\]src[/\\]digits$/);
    let min = Infinity;
    let max = -Infinity;
    for (const v of d.train.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.99);
  });

  it('every prefix is class-balanced', async () => {
    const d = await loadDigits({ limitTrain: 1000, limitTest: 200 });
    expect(classCounts(d.train.labels!)).toEqual(new Array(10).fill(100));
    expect(classCounts(d.test.labels!)).toEqual(new Array(10).fill(20));
    const small = await loadDigits({ limitTrain: 37 });
    const counts = classCounts(small.train.labels!);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    // Not a trivial 0,1,2,…,9 cycle.
    expect(Array.from(small.train.labels!.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is deterministic and returns fresh arrays on each call', async () => {
    const a = await loadDigits({ limitTrain: 500, flatten: false });
    const b = await loadDigits({ limitTrain: 500, flatten: false });
    expect(a.train.sampleShape).toEqual([28, 28, 1]);
    expect(b.train.labels).toEqual(a.train.labels);
    expect(sameArray(b.train.x, a.train.x)).toBe(true);
    a.train.x[0] = 42;
    expect((await loadDigits({ limitTrain: 1 })).train.x[0]).not.toBe(42);
    const full = await loadDigits();
    expect(sameArray(full.train.x.subarray(0, 500 * 784), b.train.x)).toBe(true);
    // Train and test are (up to MNIST's own rare duplicates) disjoint.
    const key = (x: Float32Array, i: number) => {
      let h = 0;
      for (let k = 0; k < 784; k++) h = (h * 31 + Math.round(x[i * 784 + k] * 1000)) % 2147483647;
      return h;
    };
    const rows = new Set<number>();
    for (let i = 0; i < full.train.count; i++) rows.add(key(full.train.x, i));
    let dup = 0;
    for (let i = 0; i < full.test.count; i++) if (rows.has(key(full.test.x, i))) dup++;
    expect(dup).toBeLessThan(5);
  });
});
