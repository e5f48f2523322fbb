import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CIFAR10_FILES, DatasetError, DatasetNotFoundError, createRng } from './index';
import { findDatasetFiles, loadCifar10 } from './node';
import { tmpDir } from './test-fixtures';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Writes the six CIFAR-10 batch files with `perBatch` records each; labels `(batch + i) % 10`. Returns the bytes. */
function writeCifar(dir: string, perBatch = 3): Record<string, Uint8Array> {
  mkdirSync(dir, { recursive: true });
  const rng = createRng(3);
  const out: Record<string, Uint8Array> = {};
  [...CIFAR10_FILES.train, ...CIFAR10_FILES.test].forEach((f, b) => {
    const bytes = new Uint8Array(perBatch * 3073);
    for (let i = 0; i < perBatch; i++) {
      bytes[i * 3073] = (b + i) % 10;
      for (let p = 1; p < 3073; p++) bytes[i * 3073 + p] = rng.int(256);
    }
    writeFileSync(join(dir, f), bytes);
    out[f] = bytes;
  });
  return out;
}

function tmp(): string {
  const t = tmpDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('loadCifar10 (fixture)', () => {
  it('reads the binary batches, CHW → HWC, scaled to [0, 1]', async () => {
    const dir = tmp();
    const files = writeCifar(dir);
    const d = await loadCifar10({ dir, flatten: false });
    expect(d.source).toBe(dir);
    expect(d.train.name).toBe('cifar-10/train');
    expect(d.train.count).toBe(15);
    expect(d.test.count).toBe(3);
    expect(d.train.sampleShape).toEqual([32, 32, 3]);
    expect(d.train.targetShape).toEqual([10]);
    expect(Array.from(d.train.labels!.subarray(0, 6))).toEqual([0, 1, 2, 1, 2, 3]);
    // Record 4 = batch 2, record 1. Pixel (row 5, col 7), channel c sits at CHW offset c*1024 + 5*32 + 7.
    const rec = files['data_batch_2.bin'].subarray(3073, 2 * 3073);
    for (let c = 0; c < 3; c++) {
      expect(d.train.x[4 * 3072 + (5 * 32 + 7) * 3 + c]).toBeCloseTo(rec[1 + c * 1024 + 5 * 32 + 7] / 255, 6);
    }
    expect(d.test.labels![0]).toBe(5);
    const flat = await loadCifar10({ dir, limitTrain: 4, limitTest: 1 });
    expect(flat.train.sampleShape).toEqual([3072]);
    expect(flat.train.count).toBe(4);
    expect(flat.train.x).toEqual(d.train.x.subarray(0, 4 * 3072));
    expect(flat.train.y.length).toBe(40);
  });

  it('a file whose length is not a multiple of 3073 is an error naming it', async () => {
    const dir = tmp();
    const files = writeCifar(dir);
    writeFileSync(join(dir, 'data_batch_3.bin'), files['data_batch_3.bin'].subarray(0, 3073 * 2 + 100));
    await expect(loadCifar10({ dir })).rejects.toThrow(/data_batch_3\.bin: length 6246 is not a multiple of 3073/);
  });

  it('labels outside 0..9 are an error naming the file', async () => {
    const dir = tmp();
    const files = writeCifar(dir);
    const bad = Uint8Array.from(files['test_batch.bin']);
    bad[3073] = 12;
    writeFileSync(join(dir, 'test_batch.bin'), bad);
    const err = await loadCifar10({ dir }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/test_batch\.bin: label 12 in record 1/);
  });

  it('is found in BIOPROP_DATA/cifar-10-batches-bin or the cache; absent → how-to, no download', async () => {
    const root = tmp();
    writeCifar(join(root, 'cifar-10-batches-bin'), 1);
    expect(findDatasetFiles('cifar-10', { env: { BIOPROP_DATA: root }, cacheDir: tmp() })).toMatchObject({ origin: 'env' });
    const cache = tmp();
    writeCifar(join(cache, 'cifar-10-batches-bin'), 1);
    const d = await loadCifar10({ env: {}, cacheDir: cache });
    expect(d.source).toBe(join(cache, 'cifar-10-batches-bin'));
    const err = await loadCifar10({ env: {}, cacheDir: tmp() }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect((err as Error).message).toMatch(/never downloaded.*cifar-10-batches-bin/);
    const missing = await loadCifar10({ dir: tmp() }).catch((e: Error) => e);
    expect((missing as Error).message).toContain('data_batch_1.bin');
  });
});
