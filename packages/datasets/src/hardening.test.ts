// Downloads from a misbehaving server, data files that are not what they claim, and empty sets.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CIFAR10_FILES, DatasetError, IDX_FILES, IdxFormatError, cifar10FromBytes, createRng, encodeIdx, idxDatasetFromBytes, requireSamples } from './index';
import { downloadIdxFiles, loadCifar10, loadMnist, readIdxRows, sha256Hex } from './node';
import { idxFixture, tmpDir, writeFiles } from './test-fixtures';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
function tmp(): string {
  const t = tmpDir();
  cleanups.push(t.cleanup);
  return t.dir;
}
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** A local server whose handler misbehaves as told; `url` uses 127.0.0.1, `otherUrl` the same port as `localhost` (another host). */
async function server(handler: (req: IncomingMessage, res: ServerResponse, base: { url: string; otherUrl: string }) => void) {
  const base = { url: '', otherUrl: '' };
  const s = createServer((req, res) => handler(req, res, base));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  base.url = `http://127.0.0.1:${port}`;
  base.otherUrl = `http://localhost:${port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      }),
  );
  return base;
}

const LABELS = IDX_FILES.trainLabels;
const labelsGz = gzipSync(encodeIdx('uint8', [20], Array.from({ length: 20 }, (_, i) => i % 10)));
const checksums = { [LABELS]: { sha256: [sha256Hex(labelsGz)] } };

describe('downloads: capped, https only, same-host redirects', () => {
  it('an endless body is aborted at the cap with a clear error; nothing is left in the cache', async () => {
    let sent = 0;
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
    const dest = tmp();
    const err = await rejection(downloadIdxFiles([LABELS], dest, { baseUrl: url, checksums, maxBytes: 1 << 20 }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(new RegExp(`download of ${url}/${LABELS}\\.gz aborted: the body exceeded the 1048576-byte limit`));
    expect(readdirSync(dest)).toEqual([]);
    expect(sent).toBeLessThan(64 << 20); // the transfer stopped: far less than an endless body
  });

  it('a Content-Length over the cap is refused before reading the body', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-length': String(50e9) });
      res.write(Buffer.alloc(1024));
    });
    const dest = tmp();
    const err = await rejection(downloadIdxFiles([LABELS], dest, { baseUrl: url, checksums }));
    expect(err.message).toMatch(/refused: Content-Length 50000000000 is over the 67108864-byte limit/);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('redirects: followed on the same host, refused to another host unless allowed, at most 5', async () => {
    const { url } = await server((req, res, base) => {
      if (req.url === `/same/${LABELS}.gz`) res.writeHead(302, { location: `/data/${LABELS}.gz` }).end();
      else if (req.url === `/cross/${LABELS}.gz`) res.writeHead(301, { location: `${base.otherUrl}/data/${LABELS}.gz` }).end();
      else if (req.url === `/loop/${LABELS}.gz`) res.writeHead(302, { location: `/loop/${LABELS}.gz` }).end();
      else if (req.url === `/insecure/${LABELS}.gz`) res.writeHead(302, { location: `http://example.com/${LABELS}.gz` }).end();
      else if (req.url === `/data/${LABELS}.gz`) res.writeHead(200, { 'content-length': labelsGz.length }).end(labelsGz);
      else res.writeHead(404).end();
    });
    const dest = tmp();
    const written = await downloadIdxFiles([LABELS], dest, { baseUrl: `${url}/same`, checksums });
    expect(written[LABELS]).toBe(join(dest, `${LABELS}.gz`));
    const cross = await rejection(downloadIdxFiles([LABELS], tmp(), { baseUrl: `${url}/cross`, checksums }));
    expect(cross.message).toMatch(/refused: it redirects to another host \(localhost:\d+\)/);
    await expect(downloadIdxFiles([LABELS], tmp(), { baseUrl: `${url}/cross`, checksums, allowedRedirectHosts: ['localhost'] })).resolves.toBeTruthy();
    await expect(downloadIdxFiles([LABELS], tmp(), { baseUrl: `${url}/loop`, checksums })).rejects.toThrow(/more than 5 redirects/);
    await expect(downloadIdxFiles([LABELS], tmp(), { baseUrl: `${url}/insecure`, checksums })).rejects.toThrow(/http:\/\/example\.com\/.* is not https/);
  });

  it('plain http to a remote host is refused before any request', async () => {
    let called = 0;
    const fetchImpl = async () => {
      called++;
      throw new Error('no network');
    };
    await expect(downloadIdxFiles([LABELS], tmp(), { baseUrl: 'http://example.com/data', checksums, fetchImpl })).rejects.toThrow(
      /download URL http:\/\/example\.com\/data\/train-labels-idx1-ubyte\.gz is not https/,
    );
    expect(called).toBe(0);
  });

  it('a cached file is re-hashed before use: a tampered cache is an error naming the file', async () => {
    const fx = idxFixture({ trainCount: 20, testCount: 10 });
    const cacheDir = tmp();
    const dir = join(cacheDir, 'mnist');
    mkdirSync(dir);
    writeFiles(dir, fx.files, true);
    const sums = Object.fromEntries(Object.keys(fx.files).map((f) => [f, { idxSha256: sha256Hex(fx.files[f]) }]));
    const opts = { env: {}, cacheDir, systemDirs: [] as string[], download: false, checksums: sums };
    expect((await loadMnist(opts)).train.count).toBe(20);
    const other = idxFixture({ trainCount: 20, testCount: 10, seed: 9 });
    writeFileSync(join(dir, `${IDX_FILES.testImages}.gz`), gzipSync(other.files[IDX_FILES.testImages]));
    const err = await rejection(loadMnist(opts));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(join(dir, `${IDX_FILES.testImages}.gz`));
    expect(err.message).toMatch(/matches none of the expected digests; delete it/);
  });
});

describe('readers: only the bytes a limit needs, sizes checked first, regular files only', () => {
  /** The fixture with an out-of-range label at the very end of the train labels: reading it all is an error. */
  function poisonedTail(dir: string, gz: boolean) {
    const fx = idxFixture({ trainCount: 3000, testCount: 10 });
    const labels = Uint8Array.from(fx.files[IDX_FILES.trainLabels]);
    labels[labels.length - 1] = 200;
    writeFiles(dir, { ...fx.files, [IDX_FILES.trainLabels]: labels }, gz);
  }

  it('limitTrain 2000 reads (and decompresses) only the first 2000 rows, raw or gzipped', async () => {
    for (const gz of [false, true]) {
      const dir = tmp();
      poisonedTail(dir, gz);
      const d = await loadMnist({ dir, limitTrain: 2000 });
      expect(d.train.count).toBe(2000);
      // the whole file holds a bad label at its end: reading it all finds it
      await expect(loadMnist({ dir })).rejects.toThrow(/label 200 at index 2999 is outside 0\.\.9/);
    }
    const dir = tmp();
    poisonedTail(dir, false);
    const rows = await readIdxRows(join(dir, IDX_FILES.trainImages), 2000);
    expect(rows.dims).toEqual([3000, 28, 28]);
    expect(rows.data.length).toBe(2000 * 784);
  });

  it('a header claiming billions of rows is refused from the file size, before allocating', async () => {
    const dir = tmp();
    const bytes = encodeIdx('uint8', [2, 28, 28], new Uint8Array(2 * 784));
    new DataView(bytes.buffer).setUint32(4, 4_000_000_000);
    writeFileSync(join(dir, 'huge'), bytes);
    await expect(readIdxRows(join(dir, 'huge'), 10)).rejects.toThrow(/huge: truncated: header says 4000000000×28×28 bytes \(3136000000000\) but only 1568 follow/);
    writeFileSync(join(dir, 'huge.gz'), gzipSync(bytes));
    await expect(readIdxRows(join(dir, 'huge.gz'), 10)).rejects.toThrow(/huge\.gz: header says 4000000000×28×28 uint8 values, more than the \d+-byte limit/);
  });

  it('a file over 2 GiB is an error naming the file (not ERR_FS_FILE_TOO_LARGE)', async () => {
    const dir = tmp();
    writeFiles(dir, idxFixture().files, false);
    const big = join(dir, IDX_FILES.trainImages);
    truncateSync(big, 2 ** 31 + 1); // sparse: no disk used
    const err = await rejection(loadMnist({ dir }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toBe(`${big}: 2147483649 bytes, larger than any sane file of this format (limit 1073741824 bytes)`);
  });

  it('a FIFO or a symlink to /dev/zero is refused by name, without hanging', async () => {
    const dir = tmp();
    writeFiles(dir, idxFixture().files, false);
    const labels = join(dir, IDX_FILES.testLabels);
    execFileSync('rm', [labels]);
    execFileSync('mkfifo', [labels]);
    await expect(loadMnist({ dir })).rejects.toThrow(`${labels}: must be a regular file, this is a FIFO`);
    await expect(readIdxRows(labels, 1)).rejects.toThrow(`${labels}: must be a regular file, this is a FIFO`);
    execFileSync('rm', [labels]);
    symlinkSync('/dev/zero', labels);
    await expect(loadMnist({ dir })).rejects.toThrow(`${labels}: must be a regular file, this is a character device`);
    await expect(readIdxRows(labels, 1)).rejects.toThrow(/a character device/);
  });

  it('CIFAR-10: limitTrain reads only the records it keeps; a batch of the wrong size is refused before reading', async () => {
    const dir = tmp();
    const rng = createRng(4);
    for (const f of [...CIFAR10_FILES.train, ...CIFAR10_FILES.test]) {
      const bytes = Uint8Array.from({ length: 4 * 3073 }, () => rng.int(256));
      for (let r = 0; r < 4; r++) bytes[r * 3073] = r;
      bytes[3 * 3073] = 99; // the last record's label is bad
      writeFileSync(join(dir, f), bytes);
    }
    const d = await loadCifar10({ dir, limitTrain: 3, limitTest: 2 });
    expect(d.train.count).toBe(3);
    await expect(loadCifar10({ dir })).rejects.toThrow(/data_batch_1\.bin: label 99 in record 3/);
    truncateSync(join(dir, CIFAR10_FILES.train[0]), 4 * 3073 - 1);
    await expect(loadCifar10({ dir, limitTrain: 1 })).rejects.toThrow(/data_batch_1\.bin: length 12291 is not a multiple of 3073/);
  });

  it('mutated files on disk give only the library’s errors naming the file (fuzz, 600 cases)', async () => {
    const rng = createRng(11);
    const dir = tmp();
    const fx = idxFixture({ trainCount: 12, testCount: 5 });
    let failures = 0;
    for (let i = 0; i < 600; i++) {
      const name = Object.keys(fx.files)[rng.int(4)];
      let bytes = Uint8Array.from(fx.files[name]);
      if (rng.int(2)) bytes[rng.int(Math.min(bytes.length, 16))] = rng.int(256);
      if (rng.int(2)) bytes = bytes.slice(0, rng.int(bytes.length + 1));
      if (rng.int(3) === 0) bytes = Uint8Array.from([...bytes, ...Array.from({ length: 1 + rng.int(8) }, () => rng.int(256))]);
      const gz = rng.int(2) === 1;
      const file = join(dir, gz ? `f${i}.gz` : `f${i}`);
      writeFileSync(file, gz ? (rng.int(4) === 0 ? gzipSync(bytes).subarray(0, rng.int(40)) : gzipSync(bytes)) : bytes);
      try {
        await readIdxRows(file, rng.int(3) === 0 ? undefined : rng.int(20));
      } catch (err) {
        failures++;
        expect(err instanceof IdxFormatError || err instanceof DatasetError, String(err)).toBe(true);
        expect((err as Error).message.startsWith(file)).toBe(true);
      }
    }
    expect(failures).toBeGreaterThan(100);
  });
});

describe('empty data is an error naming the split', () => {
  it('limitTrain 0, or a file of 0 test samples', async () => {
    const dir = tmp();
    writeFiles(dir, idxFixture({ trainCount: 10, testCount: 0 }).files, false);
    await expect(loadMnist({ dir })).rejects.toThrow(/^mnist\/test: no samples \(0\)/);
    const dir2 = tmp();
    const fx = idxFixture({ trainCount: 10, testCount: 5 });
    writeFiles(dir2, fx.files, false);
    await expect(loadMnist({ dir: dir2, limitTrain: 0 })).rejects.toThrow(/^mnist\/train: no samples/);
    const bytes = { trainImages: fx.files[IDX_FILES.trainImages], trainLabels: fx.files[IDX_FILES.trainLabels], testImages: fx.files[IDX_FILES.testImages], testLabels: fx.files[IDX_FILES.testLabels] };
    await expect(idxDatasetFromBytes(bytes, { limitTest: 0, name: 'fashion-mnist' })).rejects.toThrow(/^fashion-mnist\/test: no samples/);
    expect(() => cifar10FromBytes({ train: [new Uint8Array(3073)], test: [new Uint8Array(3073)] }, { limitTrain: 0 })).toThrow(/^cifar-10\/train: no samples/);
    const split = (name: string, count: number) => ({ name, count, x: new Float32Array(0), y: new Float32Array(0), sampleShape: [1], targetShape: [1] });
    expect(() => requireSamples({ train: split('linear/train', 0), test: split('linear/test', 3) })).toThrow(/^linear\/train: no samples/);
    expect(requireSamples({ train: split('a', 1), test: split('b', 1) }).train.count).toBe(1);
    expect(existsSync(dir)).toBe(true);
  });
});
