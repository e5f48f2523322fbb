import { DatasetError } from './errors';
import { CIFAR10_FILES } from './names';
import { applyLimit, classificationSplit, requireSamples } from './split';
import type { DatasetSplits, LabeledData } from './types';

const SIDE = 32;
const CHANNELS = 3;
const PIXELS = SIDE * SIDE;
const IMAGE_BYTES = PIXELS * CHANNELS;
/** Bytes of one CIFAR-10 binary record: a label byte, then 1024 red, 1024 green and 1024 blue pixel bytes. */
export const CIFAR10_RECORD_BYTES = 1 + IMAGE_BYTES;
const NUM_CLASSES = 10;

/** One CIFAR-10 binary batch file's bytes and the name used in messages. */
export interface CifarBatch {
  file: string;
  bytes: Uint8Array;
}

/** Checks one batch (whole records, labels 0..9) and returns its record count; errors name the file. */
export function checkCifarBatch({ file, bytes }: CifarBatch): number {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DatasetError(
      `${file}: length ${bytes.length} is not a ${bytes.length === 0 ? 'positive ' : ''}multiple of ${CIFAR10_RECORD_BYTES} ` +
        `(1 label byte + ${IMAGE_BYTES} pixel bytes per record)`,
      [file],
    );
  }
  const records = bytes.length / CIFAR10_RECORD_BYTES;
  for (let r = 0; r < records; r++) {
    const label = bytes[r * CIFAR10_RECORD_BYTES];
    if (label >= NUM_CLASSES) {
      throw new DatasetError(`${file}: label ${label} in record ${r} is outside 0..${NUM_CLASSES - 1}`, [file]);
    }
  }
  return records;
}

/** One split from checked batches, in order: CHW records turned into HWC images in [0, 1], the first `limit` kept. */
export function cifarSplit(
  splitName: string,
  batches: CifarBatch[],
  limit: number | undefined,
  limitName: string,
  flatten: boolean,
): LabeledData {
  const counts = batches.map(checkCifarBatch);
  const total = counts.reduce((a, b) => a + b, 0);
  const n = applyLimit(limit, total, limitName);
  const x = new Float32Array(n * IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let i = 0;
  batches.forEach(({ bytes }, b) => {
    for (let r = 0; r < counts[b] && i < n; r++, i++) {
      const rec = r * CIFAR10_RECORD_BYTES;
      labels[i] = bytes[rec];
      const out = i * IMAGE_BYTES;
      // CHW (1024 R, 1024 G, 1024 B) → HWC.
      for (let p = 0; p < PIXELS; p++) {
        const o = out + p * CHANNELS;
        x[o] = bytes[rec + 1 + p] / 255;
        x[o + 1] = bytes[rec + 1 + PIXELS + p] / 255;
        x[o + 2] = bytes[rec + 1 + 2 * PIXELS + p] / 255;
      }
    }
  });
  return classificationSplit(splitName, x, labels, NUM_CLASSES, [SIDE, SIDE, CHANNELS], flatten);
}

/** Options of {@link cifar10FromBytes}. */
export interface CifarBytesOptions {
  /** Return samples as flat `[3072]` vectors (HWC order) (default true) instead of `[32, 32, 3]` HWC images. */
  flatten?: boolean;
  /** Keep only the first `limitTrain` training samples (batches in the order given). */
  limitTrain?: number;
  /** Keep only the first `limitTest` test samples. */
  limitTest?: number;
  /** What `source` says (default `'bytes'`). */
  source?: string;
}

/**
 * CIFAR-10 from the bytes of its binary batches (`data_batch_1.bin`…`data_batch_5.bin` as `train`, `test_batch.bin`
 * as `test`), in any runtime: the browser counterpart of `loadCifar10` from `@bioprop/datasets/node`.
 */
export function cifar10FromBytes(batches: { train: Uint8Array[]; test: Uint8Array[] }, opts: CifarBytesOptions = {}): DatasetSplits {
  const named = (list: Uint8Array[], names: readonly string[]) => list.map((bytes, i) => ({ file: names[i] ?? `batch ${i + 1}`, bytes }));
  const flatten = opts.flatten ?? true;
  return requireSamples({
    train: cifarSplit('cifar-10/train', named(batches.train, CIFAR10_FILES.train), opts.limitTrain, 'limitTrain', flatten),
    test: cifarSplit('cifar-10/test', named(batches.test, CIFAR10_FILES.test), opts.limitTest, 'limitTest', flatten),
    source: opts.source ?? 'bytes',
  });
}
