import { CIFAR10_RECORD_BYTES, checkCifarBatch, cifarSplit, type CifarBatch } from './cifar-bytes';
import { DatasetError, DatasetNotFoundError } from './errors';
import { openDataFile, readAt } from './files';
import { howToGet, scanDir, searchLocations, type SearchOptions } from './locate';
import { CIFAR10_FILES } from './names';
import { applyLimit, requireSamples } from './split';
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
      return requireSamples({ train, test, source: c.dir });
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
  // read batches, and records within a batch, only until the limit is reached; sizes checked before reading
  const batches: CifarBatch[] = [];
  let total = 0;
  for (const file of files) {
    if (limit !== undefined && total >= limit) break;
    const { handle, size } = await openDataFile(file);
    let bytes: Uint8Array;
    try {
      if (size === 0 || size % CIFAR10_RECORD_BYTES !== 0) {
        throw new DatasetError(`${file}: length ${size} is not a ${size === 0 ? 'positive ' : ''}multiple of ${CIFAR10_RECORD_BYTES} (1 label byte + 3072 pixel bytes per record)`, [file]);
      }
      const records = size / CIFAR10_RECORD_BYTES;
      const take = limit === undefined ? records : Math.min(records, limit - total);
      bytes = await readAt(handle, 0, take * CIFAR10_RECORD_BYTES);
    } finally {
      await handle.close();
    }
    const batch = { file, bytes };
    total += checkCifarBatch(batch);
    batches.push(batch);
  }
  return cifarSplit(splitName, batches, limit, limitName, flatten);
}
