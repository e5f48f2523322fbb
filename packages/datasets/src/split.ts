import { DatasetError } from './errors';
import type { DatasetSplits, LabeledData } from './types';

/** Checks a `limitTrain`/`limitTest` option and returns how many samples to take out of `available`. */
export function applyLimit(limit: number | undefined, available: number, option: string): number {
  if (limit === undefined) return available;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`${option} must be a non-negative integer, got ${String(limit)}`);
  }
  return Math.min(limit, available);
}

/** One-hot encodes `labels` into a `labels.length × numClasses` Float32Array. */
export function oneHot(labels: Uint8Array, numClasses: number): Float32Array {
  const y = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) y[i * numClasses + labels[i]] = 1;
  return y;
}

/** Builds a classification split from features already in [0, 1] and class ids. */
export function classificationSplit(
  name: string,
  x: Float32Array,
  labels: Uint8Array,
  numClasses: number,
  imageShape: number[],
  flatten: boolean,
): LabeledData {
  const features = imageShape.reduce((a, b) => a * b, 1);
  return {
    name,
    x,
    y: oneHot(labels, numClasses),
    labels,
    count: labels.length,
    sampleShape: flatten ? [features] : [...imageShape],
    numClasses,
    targetShape: [numClasses],
  };
}

/** `v / 255` for every byte value `v`. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** Scales the first `count × features` bytes of `pixels` to [0, 1]. */
export function scaleBytes(pixels: Uint8Array, count: number, features: number): Float32Array {
  const n = count * features;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = BYTE_TO_UNIT[pixels[i]];
  return x;
}

/**
 * Throw a {@link DatasetError} naming the split when a split has no samples (a limit of 0, an empty file): training
 * on nothing, or reporting an error rate over no test samples, is never what was meant. Returns the splits.
 */
export function requireSamples<T extends Pick<DatasetSplits, 'train' | 'test'>>(splits: T): T {
  for (const split of [splits.train, splits.test]) {
    if (!(split.count > 0)) throw new DatasetError(`${split.name}: no samples (${split.count}); a training or test set must not be empty`);
  }
  return splits;
}
