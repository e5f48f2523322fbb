import { readFile } from 'node:fs/promises';
import { DatasetError, DatasetNotFoundError } from './errors';
import { CIFAR10_FILES, howToGet, scanDir, searchLocations, type SearchOptions } from './locate';
import { applyLimit, classificationSplit } from './split';
import type { DatasetSplits, LabeledData } from './types';

/** Options of {@link loadCifar10}. */
export interface Cifar10LoadOptions extends SearchOptions {
  /** Return samples as flat `[3072]` vectors (HWC order) (default true) instead of `[32, 32, 3]` HWC images. */
  flatten?: boolean;
  /** Keep only the first `limitTrain` training samples (batches 1..5 in order). */
  limitTrain?: number;
  /** Keep only the first `limitTest` test samples. */
  limitTest?: number;
}

const SIDE = 32;
const CHANNELS = 3;
const PIXELS = SIDE * SIDE;
const IMAGE_BYTES = PIXELS * CHANNELS;
const RECORD_BYTES = 1 + IMAGE_BYTES;
const NUM_CLASSES = 10;

/**
 * Loads CIFAR-10 from its binary version (`data_batch_1.bin`…`data_batch_5.bin`, `test_batch.bin`), converting
 * each record's CHW planes to HWC and scaling to [0, 1]. Read from `dir`, `$BIOPROP_DATA/cifar-10-batches-bin`
 * or `<cache>/cifar-10-batches-bin`; never downloaded.
 */
export async function loadCifar10(opts: Cifar10LoadOptions = {}): Promise<DatasetSplits> {
  applyLimit(opts.limitTrain, Number.MAX_SAFE_INTEGER, 'limitTrain');
  applyLimit(opts.limitTest, Number.MAX_SAFE_INTEGER, 'limitTest');
  const searched: string[] = [];
  for (const c of searchLocations('cifar-10', { ...opts, systemDirs: opts.systemDirs ?? [] })) {
    searched.push(c.dir);
    const { paths, missing } = scanDir('cifar-10', c.dir);
    if (missing.length === 0) {
      const flatten = opts.flatten ?? true;
      const train = await readBatches('cifar-10/train', CIFAR10_FILES.train.map((f) => paths[f]), opts.limitTrain, 'limitTrain', flatten);
      const test = await readBatches('cifar-10/test', CIFAR10_FILES.test.map((f) => paths[f]), opts.limitTest, 'limitTest', flatten);
      return { train, test, source: c.dir };
    }
    if (c.origin === 'dir') {
      throw new DatasetNotFoundError(
        `cifar-10: ${missing.join(', ')} not found in ${c.dir} (an explicit dir is the only place searched). ${howToGet('cifar-10')}`,
        searched,
        missing,
      );
    }
  }
  throw new DatasetNotFoundError(`cifar-10 not found (searched ${searched.join(', ')}). ${howToGet('cifar-10')}`, searched);
}

async function readBatches(
  splitName: string,
  files: string[],
  limit: number | undefined,
  limitName: string,
  flatten: boolean,
): Promise<LabeledData> {
  const chunks: { file: string; bytes: Uint8Array; records: number }[] = [];
  let total = 0;
  const want = limit;
  for (const file of files) {
    if (want !== undefined && total >= want) break;
    const bytes = await readFile(file);
    if (bytes.length === 0 || bytes.length % RECORD_BYTES !== 0) {
      throw new DatasetError(
        `${file}: length ${bytes.length} is not a ${bytes.length === 0 ? 'positive ' : ''}multiple of ${RECORD_BYTES} ` +
          `(1 label byte + ${IMAGE_BYTES} pixel bytes per record)`,
        [file],
      );
    }
    const records = bytes.length / RECORD_BYTES;
    for (let r = 0; r < records; r++) {
      const label = bytes[r * RECORD_BYTES];
      if (label >= NUM_CLASSES) {
        throw new DatasetError(`${file}: label ${label} in record ${r} is outside 0..${NUM_CLASSES - 1}`, [file]);
      }
    }
    chunks.push({ file, bytes, records });
    total += records;
  }
  const n = applyLimit(limit, total, limitName);
  const x = new Float32Array(n * IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let i = 0;
  for (const { bytes, records } of chunks) {
    for (let r = 0; r < records && i < n; r++, i++) {
      const rec = r * RECORD_BYTES;
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
  }
  return classificationSplit(splitName, x, labels, NUM_CLASSES, [SIDE, SIDE, CHANNELS], flatten);
}
