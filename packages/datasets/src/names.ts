/** The file-backed datasets this package reads (from disk in Node, or from bytes anywhere). */
export type RealDatasetName = 'mnist' | 'fashion-mnist' | 'cifar-10';

/** Base file names of the four IDX files of MNIST and Fashion-MNIST. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** File names of the CIFAR-10 binary version. */
export const CIFAR10_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;
