import { DatasetError } from './errors';
import { parseIdxAsync, type IdxArray } from './idx';
import { IDX_FILES } from './names';
import { applyLimit, classificationSplit, requireSamples, scaleBytes } from './split';
import type { DatasetSplits, LabeledData } from './types';

const NUM_CLASSES = 10;

/** The last part of a path (`/`- or `\`-separated), without Node's `path`. */
const baseName = (p: string): string => p.split(/[\\/]/).pop() ?? p;

/**
 * One split from a parsed images file and labels file (unsigned-byte images `[count, rows, cols]`, labels
 * `[count]` in 0..9): counts checked against each other, pixels scaled to [0, 1], the first `limit` samples kept.
 * Errors name the files.
 */
export function idxSplit(
  splitName: string,
  images: IdxArray,
  labelsIdx: IdxArray,
  files: { images: string; labels: string },
  limit: number | undefined,
  limitName: string,
  flatten: boolean,
): LabeledData {
  const { images: imagesPath, labels: labelsPath } = files;
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new DatasetError(
      `${imagesPath}: expected unsigned-byte images [count, rows, cols], got ${images.dtype} [${images.dims.join(', ')}]`,
      [imagesPath],
    );
  }
  if (labelsIdx.dtype !== 'uint8' || labelsIdx.dims.length !== 1) {
    throw new DatasetError(
      `${labelsPath}: expected unsigned-byte labels [count], got ${labelsIdx.dtype} [${labelsIdx.dims.join(', ')}]`,
      [labelsPath],
    );
  }
  const [count, rows, cols] = images.dims;
  if (labelsIdx.dims[0] !== count) {
    throw new DatasetError(
      `image/label count mismatch: ${baseName(imagesPath)} has ${count} images but ${baseName(labelsPath)} has ${labelsIdx.dims[0]} labels ` +
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

/** The four files of an MNIST-format dataset as bytes (raw or gzipped), e.g. fetched by a page or uploaded. */
export interface IdxDatasetBytes {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

/** Options of {@link idxDatasetFromBytes}. */
export interface IdxBytesOptions {
  /** Dataset name used in split names and messages (default `'mnist'`). */
  name?: string;
  /** What `source` says (default `'bytes'`). */
  source?: string;
  /** Return samples as flat `[784]` vectors (default true) or as `[28, 28, 1]` HWC images. */
  flatten?: boolean;
  /** Keep only the first `limitTrain` training samples (in file order). */
  limitTrain?: number;
  /** Keep only the first `limitTest` test samples (in file order). */
  limitTest?: number;
  /** Largest decompressed size accepted per gzipped file (default 1 GiB). */
  maxBytes?: number;
}

/**
 * MNIST or Fashion-MNIST from the bytes of its four IDX files (raw or gzipped; gunzipped with `DecompressionStream`),
 * in any runtime: the browser counterpart of `loadMnist` / `loadFashionMnist` from `@bioprop/datasets/node`.
 */
export async function idxDatasetFromBytes(files: IdxDatasetBytes, opts: IdxBytesOptions = {}): Promise<DatasetSplits> {
  const name = opts.name ?? 'mnist';
  applyLimit(opts.limitTrain, Number.MAX_SAFE_INTEGER, 'limitTrain');
  applyLimit(opts.limitTest, Number.MAX_SAFE_INTEGER, 'limitTest');
  const parse = (key: keyof IdxDatasetBytes) => parseIdxAsync(files[key], IDX_FILES[key], { maxBytes: opts.maxBytes });
  const flatten = opts.flatten ?? true;
  const train = idxSplit(
    `${name}/train`,
    await parse('trainImages'),
    await parse('trainLabels'),
    { images: IDX_FILES.trainImages, labels: IDX_FILES.trainLabels },
    opts.limitTrain,
    'limitTrain',
    flatten,
  );
  const test = idxSplit(
    `${name}/test`,
    await parse('testImages'),
    await parse('testLabels'),
    { images: IDX_FILES.testImages, labels: IDX_FILES.testLabels },
    opts.limitTest,
    'limitTest',
    flatten,
  );
  return requireSamples({ train, test, source: opts.source ?? 'bytes' });
}
