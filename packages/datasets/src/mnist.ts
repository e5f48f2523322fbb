import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_CHECKSUMS,
  MNIST_BASE_URL,
  MNIST_CHECKSUMS,
  downloadIdxFiles,
  type FetchLike,
  type FileChecksum,
} from './download';
import { DatasetError, DatasetNotFoundError } from './errors';
import { parseIdx } from './idx';
import { IDX_FILES, datasetCacheDir, howToGet, scanDir, searchLocations, type SearchOptions } from './locate';
import { applyLimit, classificationSplit, scaleBytes } from './split';
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

const NUM_CLASSES = 10;
const FILES = Object.values(IDX_FILES);

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
    if (missing.length === 0) return readIdxSplits(name, c.dir, paths, opts);
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
  return readIdxSplits(name, cacheDir, { ...have.paths, ...written }, opts);
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
  return { train, test, source: dir };
}

async function readIdxPair(
  splitName: string,
  imagesPath: string,
  labelsPath: string,
  limit: number | undefined,
  limitName: string,
  flatten: boolean,
): Promise<LabeledData> {
  const images = parseIdx(await readFile(imagesPath), imagesPath);
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new DatasetError(
      `${imagesPath}: expected unsigned-byte images [count, rows, cols], got ${images.dtype} [${images.dims.join(', ')}]`,
      [imagesPath],
    );
  }
  const labelsIdx = parseIdx(await readFile(labelsPath), labelsPath);
  if (labelsIdx.dtype !== 'uint8' || labelsIdx.dims.length !== 1) {
    throw new DatasetError(
      `${labelsPath}: expected unsigned-byte labels [count], got ${labelsIdx.dtype} [${labelsIdx.dims.join(', ')}]`,
      [labelsPath],
    );
  }
  const [count, rows, cols] = images.dims;
  if (labelsIdx.dims[0] !== count) {
    throw new DatasetError(
      `image/label count mismatch: ${basename(imagesPath)} has ${count} images but ${basename(labelsPath)} has ${labelsIdx.dims[0]} labels ` +
        `(${imagesPath}, ${labelsPath})`,
      [imagesPath, labelsPath],
    );
  }
  const all = labelsIdx.data as Uint8Array;
  for (let i = 0; i < all.length; i++) {
    if (all[i] >= NUM_CLASSES) {
      throw new DatasetError(`${labelsPath}: label ${all[i]} at index ${i} is outside 0..${NUM_CLASSES - 1}`, [labelsPath]);
    }
  }
  const n = applyLimit(limit, count, limitName);
  const features = rows * cols;
  const x = scaleBytes(images.data as Uint8Array, n, features);
  const labels = all.slice(0, n);
  return classificationSplit(splitName, x, labels, NUM_CLASSES, [rows, cols, 1], flatten);
}
