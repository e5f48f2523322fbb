// `@bioprop/datasets/node`: datasets on disk (search, gunzip with zlib, download into the cache) and the real-data
// test helpers. Node only; everything in memory is in `@bioprop/datasets`.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export { gunzipIdx } from './gunzip';
export {
  findDatasetFiles,
  fashionMnistAvailable,
  mnistAvailable,
  cifar10Available,
  searchLocations,
  cacheRoot,
  datasetCacheDir,
  datasetFileNames,
  howToGet,
  mnistDataDir,
  DATA_ENV_VAR,
  DEBIAN_FASHION_MNIST_DIR,
} from './locate';
export type { SearchOptions, DatasetFiles } from './locate';
export {
  FASHION_MNIST_BASE_URL,
  MNIST_BASE_URL,
  FASHION_MNIST_CHECKSUMS,
  MNIST_CHECKSUMS,
  MNIST_DATA_SHA256,
  DEFAULT_MAX_DOWNLOAD_BYTES,
  downloadIdxFiles,
  verifyCachedFile,
  sha256Hex,
} from './download';
export type { FileChecksum, FetchLike, FetchResponseLike, DownloadOptions } from './download';
export { MAX_DATA_FILE_BYTES, openDataFile, readIdxRows } from './files';
export { loadMnist, loadFashionMnist } from './mnist';
export type { IdxLoadOptions } from './mnist';
export { loadCifar10 } from './cifar';
export type { Cifar10LoadOptions } from './cifar';
export { realDataOrSkip, requireRealData, isCi } from './testing';
export type { RealDataOptions, SkipContext } from './testing';

/** The directory of the `mnist` package's digit JSON files (what `loadDigits` reads). */
export function digitsDir(): string {
  const req = createRequire(import.meta.url);
  return join(dirname(req.resolve('mnist/package.json')), 'src', 'digits');
}
