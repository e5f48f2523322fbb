import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DatasetError, DatasetNotFoundError, IDX_FILES, IdxFormatError, encodeIdx } from './index';
import { DEBIAN_FASHION_MNIST_DIR, findDatasetFiles, loadFashionMnist, loadMnist, sha256Hex } from './node';
import { idxFixture, serve, tmpDir, writeFiles } from './test-fixtures';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
function tmp(): string {
  const t = tmpDir();
  cleanups.push(t.cleanup);
  return t.dir;
}
/** Search options isolated from the machine: no BIOPROP_DATA, a private cache, no system dirs. */
function isolated(cacheDir = tmp()) {
  return { env: {}, cacheDir, systemDirs: [] as string[], download: false };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('loadFashionMnist / loadMnist from a directory (fixtures)', () => {
  it('loads gz and raw files, scales pixels, one-hot targets, limits, flatten', async () => {
    const dir = tmp();
    const fx = idxFixture({ trainCount: 30, testCount: 20 });
    writeFiles(dir, fx.files, true);
    const d = await loadFashionMnist({ dir, limitTest: 7 });
    expect(d.source).toBe(dir);
    expect(d.train.name).toBe('fashion-mnist/train');
    expect(d.train.count).toBe(30);
    expect(d.test.count).toBe(7);
    expect(d.train.sampleShape).toEqual([784]);
    expect(d.train.targetShape).toEqual([10]);
    expect(d.train.numClasses).toBe(10);
    expect(d.train.x.length).toBe(30 * 784);
    expect(d.train.x[5]).toBeCloseTo(fx.trainPixels[5] / 255, 6);
    expect(d.test.x[784 * 6 + 3]).toBeCloseTo(fx.testPixels[784 * 6 + 3] / 255, 6);
    expect(Array.from(d.train.labels!.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(Array.from(d.train.y.subarray(3 * 10, 4 * 10))).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);

    const raw = tmp();
    writeFiles(raw, fx.files, false);
    const m = await loadMnist({ dir: raw, flatten: false, limitTrain: 4 });
    expect(m.train.name).toBe('mnist/train');
    expect(m.train.sampleShape).toEqual([28, 28, 1]);
    expect(m.train.count).toBe(4);
    expect(m.train.x).toEqual(d.train.x.subarray(0, 4 * 784));
  });

  it('rejects bad limits', async () => {
    await expect(loadMnist({ dir: tmp(), limitTrain: -1 })).rejects.toThrow(/limitTrain must be a non-negative integer/);
  });

  it('a corrupt (truncated) file in an explicit dir fails naming it, without falling back', async () => {
    const dir = tmp();
    const fx = idxFixture();
    writeFiles(dir, fx.files, true);
    const gz = gzipSync(fx.files[IDX_FILES.testImages]);
    const bad = join(dir, `${IDX_FILES.testImages}.gz`);
    writeFileSync(bad, gz.subarray(0, gz.length >> 1));
    // Even with a complete, valid set elsewhere (here: a cache dir), the explicit dir is the only source.
    const cache = tmp();
    writeFiles(join(cache), fx.files, true);
    const err = await rejection(loadFashionMnist({ dir, env: { BIOPROP_DATA: cache }, cacheDir: cache }));
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as IdxFormatError).file).toBe(bad);
    expect(err.message).toContain(`${IDX_FILES.testImages}.gz`);
    expect(err.message).toMatch(/corrupt gzip stream/);

    // Uncompressed and truncated: a truncation error.
    const dir2 = tmp();
    writeFiles(dir2, fx.files, false);
    writeFileSync(join(dir2, IDX_FILES.trainLabels), fx.files[IDX_FILES.trainLabels].subarray(0, 20));
    const err2 = await rejection(loadMnist({ dir: dir2 }));
    expect(err2).toBeInstanceOf(IdxFormatError);
    expect(err2.message).toContain(IDX_FILES.trainLabels);
    expect(err2.message).toMatch(/truncated: header says 30 bytes \(30\) but only 12 follow/);
  });

  it('a missing file in an explicit dir is an error naming it, even when the data exists elsewhere', async () => {
    const dir = tmp();
    const fx = idxFixture();
    writeFiles(dir, { [IDX_FILES.trainImages]: fx.files[IDX_FILES.trainImages] });
    const err = await rejection(loadFashionMnist({ dir, systemDirs: [DEBIAN_FASHION_MNIST_DIR] }));
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect(err.message).toContain(IDX_FILES.trainLabels);
    expect(err.message).toContain(IDX_FILES.testImages);
    expect(err.message).not.toContain(`${IDX_FILES.trainImages}(`);
    expect(err.message).toContain(dir);
  });

  it('mismatched image/label counts name both files', async () => {
    const dir = tmp();
    const fx = idxFixture({ trainCount: 30 });
    fx.files[IDX_FILES.trainLabels] = encodeIdx('uint8', [29], new Array(29).fill(1));
    writeFiles(dir, fx.files, true);
    const err = await rejection(loadMnist({ dir }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(/count mismatch/);
    expect(err.message).toContain(`${IDX_FILES.trainImages}.gz has 30 images`);
    expect(err.message).toContain(`${IDX_FILES.trainLabels}.gz has 29 labels`);
    expect((err as DatasetError).files).toHaveLength(2);
  });

  it('labels outside 0..9 are an error naming the file', async () => {
    const dir = tmp();
    const fx = idxFixture({ testCount: 20 });
    const labels = new Array(20).fill(3);
    labels[13] = 10;
    fx.files[IDX_FILES.testLabels] = encodeIdx('uint8', [20], labels);
    writeFiles(dir, fx.files, true);
    await expect(loadMnist({ dir })).rejects.toThrow(/t10k-labels-idx1-ubyte\.gz: label 10 at index 13 is outside 0\.\.9/);
  });

  it('wrong IDX types for images/labels are errors naming the file', async () => {
    const dir = tmp();
    const fx = idxFixture();
    fx.files[IDX_FILES.trainImages] = encodeIdx('float32', [30, 784], new Array(30 * 784).fill(0));
    writeFiles(dir, fx.files, false);
    await expect(loadMnist({ dir })).rejects.toThrow(/train-images-idx3-ubyte: expected unsigned-byte images \[count, rows, cols\], got float32 \[30, 784\]/);
  });
});

describe('search order', () => {
  it('BIOPROP_DATA/<name> before BIOPROP_DATA before the cache before system dirs', async () => {
    const root = tmp();
    const cache = tmp();
    const sys = tmp();
    const fx = idxFixture();
    for (const d of [join(root, 'fashion-mnist'), root, join(cache, 'fashion-mnist'), sys]) {
      mkdirSync(d, { recursive: true });
      writeFiles(d, fx.files);
    }
    const opts = { env: { BIOPROP_DATA: root }, cacheDir: cache, systemDirs: [sys] };
    expect(findDatasetFiles('fashion-mnist', opts)).toMatchObject({ dir: join(root, 'fashion-mnist'), origin: 'env' });
    expect(findDatasetFiles('mnist', opts)).toMatchObject({ dir: root, origin: 'env' });
    expect(findDatasetFiles('fashion-mnist', { ...opts, env: {} })).toMatchObject({ dir: join(cache, 'fashion-mnist'), origin: 'cache' });
    expect(findDatasetFiles('fashion-mnist', { env: {}, cacheDir: tmp(), systemDirs: [sys] })).toMatchObject({ dir: sys, origin: 'system' });
    expect(findDatasetFiles('fashion-mnist', { env: {}, cacheDir: tmp(), systemDirs: [] })).toBeNull();
    const d = await loadFashionMnist({ env: {}, cacheDir: tmp(), systemDirs: [sys], download: false });
    expect(d.source).toBe(sys);
  });

  it('uses $XDG_CACHE_HOME/bioprop/<name> as the cache', () => {
    const xdg = tmp();
    const dir = join(xdg, 'bioprop', 'mnist');
    mkdirSync(dir, { recursive: true });
    writeFiles(dir, idxFixture().files);
    expect(findDatasetFiles('mnist', { env: { XDG_CACHE_HOME: xdg }, systemDirs: [] })).toMatchObject({ dir, origin: 'cache' });
  });

  it('finds the Debian copy of Fashion-MNIST when it is installed', (ctx) => {
    if (!existsSync(DEBIAN_FASHION_MNIST_DIR)) ctx.skip(`${DEBIAN_FASHION_MNIST_DIR} absent (apt-get install dataset-fashion-mnist)`);
    expect(findDatasetFiles('fashion-mnist', { env: {}, cacheDir: tmp() })).toMatchObject({
      dir: DEBIAN_FASHION_MNIST_DIR,
      origin: 'system',
    });
  });

  it('nothing found and download disabled: the error says how to get the data', async () => {
    const err = await rejection(loadFashionMnist(isolated()));
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect(err.message).toContain('apt-get install dataset-fashion-mnist');
    expect(err.message).toContain('BIOPROP_DATA');
    expect(err.message).toContain('{ dir }');
    expect(err.message).toContain('download disabled');
  });
});

describe('download into the cache (local HTTP server)', () => {
  function routesFor(files: Record<string, Uint8Array>) {
    const gz: Record<string, Uint8Array> = {};
    const checksums: Record<string, { sha256: string[] }> = {};
    for (const [name, bytes] of Object.entries(files)) {
      gz[`/data/${name}.gz`] = gzipSync(bytes);
      checksums[name] = { sha256: [sha256Hex(gz[`/data/${name}.gz`])] };
    }
    return { gz, checksums };
  }

  it('downloads, verifies, writes atomically to the cache, then reads from the cache', async () => {
    const fx = idxFixture({ trainCount: 20, testCount: 10 });
    const { gz, checksums } = routesFor(fx.files);
    const server = await serve(gz);
    cleanups.push(server.close);
    const cacheDir = tmp();
    const d = await loadMnist({ ...isolated(cacheDir), download: true, baseUrl: `${server.url}/data/`, checksums });
    const dir = join(cacheDir, 'mnist');
    expect(d.source).toBe(dir);
    expect(d.train.count).toBe(20);
    expect(d.test.count).toBe(10);
    expect(server.requests.sort()).toEqual(Object.keys(gz).sort());
    expect(readdirSync(dir).sort()).toEqual(Object.values(IDX_FILES).map((f) => `${f}.gz`).sort()); // no temp files left
    // Second load: from the cache, no request.
    const again = await loadMnist({ ...isolated(cacheDir), download: true, baseUrl: `${server.url}/data`, checksums });
    expect(again.train.x).toEqual(d.train.x);
    expect(server.requests).toHaveLength(4);
  });

  it('a payload hash (idxSha256) also verifies, so a re-compressed mirror passes', async () => {
    const fx = idxFixture({ trainCount: 10, testCount: 10 });
    const { gz } = routesFor(fx.files);
    const checksums = Object.fromEntries(
      Object.entries(fx.files).map(([k, v]) => [k, { sha256: ['0'.repeat(64)], idxSha256: sha256Hex(v) }]),
    );
    const server = await serve(gz);
    cleanups.push(server.close);
    const d = await loadFashionMnist({ ...isolated(), download: true, baseUrl: `${server.url}/data`, checksums });
    expect(d.train.count).toBe(10);
  });

  it('a SHA-256 mismatch fails with a clear error and leaves no file in the cache', async () => {
    const fx = idxFixture({ trainCount: 20, testCount: 10 });
    const { gz, checksums } = routesFor(fx.files);
    checksums[IDX_FILES.testLabels] = { sha256: ['ab'.repeat(32)] };
    const server = await serve(gz);
    cleanups.push(server.close);
    const cacheDir = tmp();
    const err = await rejection(loadFashionMnist({ ...isolated(cacheDir), download: true, baseUrl: `${server.url}/data`, checksums }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(/SHA-256 mismatch/);
    expect(err.message).toContain(`${IDX_FILES.testLabels}.gz`);
    expect(err.message).toContain('ab'.repeat(32));
    expect(err.message).toContain(sha256Hex(gz[`/data/${IDX_FILES.testLabels}.gz`]));
    expect(err.message).toContain('nothing was written to the cache');
    const dir = join(cacheDir, 'fashion-mnist');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('a corrupt (truncated) download is rejected and nothing is cached', async () => {
    const fx = idxFixture({ trainCount: 20, testCount: 10 });
    const { gz, checksums } = routesFor(fx.files);
    const key = `/data/${IDX_FILES.trainImages}.gz`;
    gz[key] = gz[key].subarray(0, 40);
    const server = await serve(gz);
    cleanups.push(server.close);
    const cacheDir = tmp();
    const err = await rejection(loadMnist({ ...isolated(cacheDir), download: true, baseUrl: `${server.url}/data`, checksums }));
    expect(err.message).toMatch(/not a valid gzipped IDX file.*corrupt gzip stream/);
    expect(existsSync(join(cacheDir, 'mnist')) ? readdirSync(join(cacheDir, 'mnist')) : []).toEqual([]);
  });

  it('an unreachable or 404 server gives a not-found error that says how to get the data', async () => {
    const server = await serve({});
    cleanups.push(server.close);
    const err = await rejection(loadFashionMnist({ ...isolated(), download: true, baseUrl: server.url }));
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect(err.message).toMatch(/download from .* failed: .*HTTP 404/);
    expect(err.message).toContain('apt-get install dataset-fashion-mnist');
  });
});
