// The browser-safe entry: in-memory parsing, synthetic tasks and the embedded digits; no Node built-ins.
// Files on disk, gunzip with zlib, downloads and test helpers: `@bioprop/datasets/node`.
export type { LabeledData, DatasetSplits } from './types';
export { IdxFormatError, DatasetError, DatasetNotFoundError } from './errors';
export { parseIdx, parseIdxAsync, gunzip, encodeIdx, isGzip } from './idx';
export type { GunzipSync, IdxArray, IdxData, IdxDtype, ParseIdxOptions } from './idx';
export { idxDatasetFromBytes, idxSplit } from './idx-dataset';
export type { IdxBytesOptions, IdxDatasetBytes } from './idx-dataset';
export { cifar10FromBytes, CIFAR10_RECORD_BYTES } from './cifar-bytes';
export type { CifarBytesOptions } from './cifar-bytes';
export { IDX_FILES, CIFAR10_FILES } from './names';
export { requireSamples } from './split';
export type { RealDatasetName } from './names';
export { loadDigits, DIGITS_SOURCE, DIGITS_TRAIN_FRACTION, DIGITS_SPLIT_SEED } from './digits';
export type { DigitsLoadOptions } from './digits';
export { linearTask, nonlinearRegressionTask } from './synthetic';
export type { LinearTask, LinearTaskOptions, NonlinearRegressionTask, NonlinearRegressionTaskOptions } from './synthetic';
export { createRng, shuffleInPlace } from './prng';
export type { Rng } from './prng';
