import { describe, expect, it } from 'vitest';
import { realDataOrSkip } from './node';

// The real Fashion-MNIST, loaded once for the whole file (search order: BIOPROP_DATA, cache, Debian's
// /usr/share/datasets/fashion-mnist). Absent → these tests are skipped with a how-to message, except
// under CI=true, where absence fails.
const data = await realDataOrSkip('fashion-mnist');

describe.skipIf(!data)('real Fashion-MNIST', () => {
  it('has 60,000 + 10,000 images of 784 features', () => {
    const { train, test } = data!;
    expect(train.count).toBe(60_000);
    expect(test.count).toBe(10_000);
    expect(train.x.length).toBe(60_000 * 784);
    expect(test.x.length).toBe(10_000 * 784);
    expect(train.sampleShape).toEqual([784]);
    expect(train.y.length).toBe(60_000 * 10);
  });

  it('has labels 0..9, exactly balanced (6,000 / 1,000 per class)', () => {
    for (const [split, perClass] of [
      [data!.train, 6000],
      [data!.test, 1000],
    ] as const) {
      const counts = new Array(10).fill(0);
      for (const l of split.labels!) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(perClass));
      // y is the one-hot of labels.
      let ones = 0;
      for (let i = 0; i < split.count; i++) {
        expect(split.y[i * 10 + split.labels![i]]).toBe(1);
        ones += split.y.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b, 0);
      }
      expect(ones).toBe(split.count);
    }
  });

  it('has pixels in [0, 1] using the full range', () => {
    for (const split of [data!.train, data!.test]) {
      let min = Infinity;
      let max = -Infinity;
      for (const v of split.x) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
    }
  });

  it('matches the known first labels (ankle boot, T-shirt, T-shirt, dress, T-shirt)', () => {
    expect(Array.from(data!.train.labels!.subarray(0, 5))).toEqual([9, 0, 0, 3, 0]);
    expect(Array.from(data!.test.labels!.subarray(0, 5))).toEqual([9, 2, 1, 1, 6]);
  });
});
