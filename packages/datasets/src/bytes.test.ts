import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CIFAR10_FILES, DatasetError, IDX_FILES, cifar10FromBytes, createRng, idxDatasetFromBytes } from './index';
import { loadCifar10, loadMnist } from './node';
import { idxFixture, sameArray, tmpDir, writeFiles } from './test-fixtures';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The browser-safe readers of bytes (a page that fetched or a user that uploaded the files) give exactly what the
// Node loaders read from disk.
describe('datasets from bytes (no file system)', () => {
  it('idxDatasetFromBytes equals loadMnist on the same files, raw or gzipped', async () => {
    const { files } = idxFixture({ trainCount: 25, testCount: 12 });
    const t = tmpDir();
    try {
      writeFiles(t.dir, files, true);
      const fromDisk = await loadMnist({ dir: t.dir, limitTrain: 20, flatten: false });
      const bytes = {
        trainImages: gzipSync(files[IDX_FILES.trainImages]),
        trainLabels: files[IDX_FILES.trainLabels],
        testImages: files[IDX_FILES.testImages],
        testLabels: gzipSync(files[IDX_FILES.testLabels]),
      };
      const fromBytes = await idxDatasetFromBytes(bytes, { limitTrain: 20, flatten: false, source: 'upload' });
      expect(fromBytes.source).toBe('upload');
      for (const split of ['train', 'test'] as const) {
        const a = fromDisk[split];
        const b = fromBytes[split];
        expect({ ...b, x: null, y: null, labels: null }).toEqual({ ...a, x: null, y: null, labels: null });
        expect(sameArray(a.x, b.x) && sameArray(a.y, b.y) && sameArray(a.labels!, b.labels!)).toBe(true);
      }
      const mismatched = { ...bytes, testLabels: files[IDX_FILES.trainLabels] };
      await expect(idxDatasetFromBytes(mismatched)).rejects.toThrow(/t10k-images-idx3-ubyte has 12 images but t10k-labels-idx1-ubyte has 25 labels/);
    } finally {
      t.cleanup();
    }
  });

  it('cifar10FromBytes equals loadCifar10 on the same batches', async () => {
    const rng = createRng(5);
    const batch = (b: number) => {
      const bytes = new Uint8Array(2 * 3073);
      for (let i = 0; i < 2; i++) {
        bytes[i * 3073] = (b + i) % 10;
        for (let p = 1; p < 3073; p++) bytes[i * 3073 + p] = rng.int(256);
      }
      return bytes;
    };
    const train = CIFAR10_FILES.train.map((_, b) => batch(b));
    const test = [batch(7)];
    const t = tmpDir();
    try {
      mkdirSync(t.dir, { recursive: true });
      [...CIFAR10_FILES.train, ...CIFAR10_FILES.test].forEach((f, i) => writeFileSync(join(t.dir, f), i < 5 ? train[i] : test[0]));
      const fromDisk = await loadCifar10({ dir: t.dir, limitTrain: 7 });
      const fromBytes = cifar10FromBytes({ train, test }, { limitTrain: 7 });
      expect(fromBytes.train.count).toBe(7);
      expect(sameArray(fromBytes.train.x, fromDisk.train.x)).toBe(true);
      expect(sameArray(fromBytes.test.x, fromDisk.test.x)).toBe(true);
      expect(fromBytes.train.labels).toEqual(fromDisk.train.labels);
      expect(() => cifar10FromBytes({ train: [train[0].subarray(1)], test })).toThrow(DatasetError);
      expect(() => cifar10FromBytes({ train: [train[0].subarray(1)], test })).toThrow(/^data_batch_1.bin: length 6145 is not a multiple of 3073/);
    } finally {
      t.cleanup();
    }
  });
});
