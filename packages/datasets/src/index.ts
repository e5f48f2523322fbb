export type { LabeledData, DatasetSplits } from './types';
export { IdxFormatError, DatasetError, DatasetNotFoundError } from './errors';
export { parseIdx, encodeIdx, isGzip } from './idx';
export type { IdxArray, IdxData, IdxDtype, ParseIdxOptions } from './idx';
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
  DATA_ENV_VAR,
  DEBIAN_FASHION_MNIST_DIR,
  IDX_FILES,
  CIFAR10_FILES,
} from './locate';
export type { RealDatasetName, SearchOptions, DatasetFiles } from './locate';
export {
  FASHION_MNIST_BASE_URL,
  MNIST_BASE_URL,
  FASHION_MNIST_CHECKSUMS,
  MNIST_CHECKSUMS,
  sha256Hex,
} from './download';
export type { FileChecksum, FetchLike } from './download';
export { loadMnist, loadFashionMnist } from './mnist';
export type { IdxLoadOptions } from './mnist';
export { loadCifar10 } from './cifar';
export type { Cifar10LoadOptions } from './cifar';
export { loadDigits, digitsDir, DIGITS_TRAIN_FRACTION, DIGITS_SPLIT_SEED } from './digits';
export type { DigitsLoadOptions } from './digits';
export { linearTask, nonlinearRegressionTask } from './synthetic';
export type { LinearTask, LinearTaskOptions, NonlinearRegressionTask, NonlinearRegressionTaskOptions } from './synthetic';
export { createRng, shuffleInPlace } from './prng';
export type { Rng } from './prng';
export { realDataOrSkip, requireRealData, isCi } from './testing';
export type { RealDataOptions, SkipContext } from './testing';
