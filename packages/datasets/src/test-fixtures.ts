// Test-only helpers (not exported from the package, not published).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from './idx';
import { IDX_FILES } from './names';
import { createRng } from './prng';

/** A fresh temporary directory and its cleanup. */
export function tmpDir(prefix = 'bioprop-datasets-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The four IDX files of a small MNIST-shaped set (labels `i % 10`, seeded random pixels), keyed by base name. */
export function idxFixture(opts: { trainCount?: number; testCount?: number; rows?: number; cols?: number; seed?: number } = {}) {
  const { trainCount = 30, testCount = 20, rows = 28, cols = 28, seed = 1 } = opts;
  const rng = createRng(seed);
  const pixels = (n: number) => Uint8Array.from({ length: n * rows * cols }, () => rng.int(256));
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  const trainPixels = pixels(trainCount);
  const testPixels = pixels(testCount);
  return {
    trainPixels,
    testPixels,
    files: {
      [IDX_FILES.trainImages]: encodeIdx('uint8', [trainCount, rows, cols], trainPixels),
      [IDX_FILES.trainLabels]: encodeIdx('uint8', [trainCount], labels(trainCount)),
      [IDX_FILES.testImages]: encodeIdx('uint8', [testCount, rows, cols], testPixels),
      [IDX_FILES.testLabels]: encodeIdx('uint8', [testCount], labels(testCount)),
    } as Record<string, Uint8Array>,
  };
}

/** Writes fixture files into `dir`, gzipped (`<name>.gz`) or raw. */
export function writeFiles(dir: string, files: Record<string, Uint8Array>, gz = true): void {
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  }
}

/** A local HTTP server on 127.0.0.1 serving `routes` (path → bytes); 404 otherwise. Records requested paths. */
export async function serve(routes: Record<string, Uint8Array>): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    const body = routes[path];
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Byte-wise equality of two typed arrays (fast, unlike a deep `toEqual` on large arrays). */
export function sameArray(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    a.constructor === b.constructor &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}
