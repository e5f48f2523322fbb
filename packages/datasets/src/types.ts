/** One split of a dataset as plain typed arrays. */
export interface LabeledData {
  /** Dataset and split, e.g. `'fashion-mnist/train'`. */
  name: string;
  /** `count × features` inputs, row-major; image pixels are scaled to [0, 1]. */
  x: Float32Array;
  /** `count × numClasses` one-hot targets (regression tasks: `count × outputs` real targets). */
  y: Float32Array;
  /** Class ids (classification only). */
  labels?: Uint8Array;
  /** Number of samples. */
  count: number;
  /** Shape of one sample: `[784]` when flattened, `[28, 28, 1]` (HWC) otherwise; CIFAR `[32, 32, 3]` or `[3072]`. */
  sampleShape: number[];
  /** Number of classes (classification only). */
  numClasses?: number;
  /** Shape of one target, e.g. `[10]`. */
  targetShape: number[];
}

/** A train/test pair and where it was read from. */
export interface DatasetSplits {
  /** Training split. */
  train: LabeledData;
  /** Test split. */
  test: LabeledData;
  /** Where the data was read from (a directory, a package path, or `synthetic:…`). */
  source: string;
}
