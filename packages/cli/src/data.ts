import { loadDigits, linearTask, type DatasetSplits } from '@bioprop/datasets';
import { loadCifar10, loadFashionMnist, loadMnist } from '@bioprop/datasets/node';
import type { TrainData } from '@bioprop/core';

/** The datasets `--dataset` takes. */
export const DATASETS = ['digits', 'mnist', 'fashion-mnist', 'cifar10', 'linear'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** Seed of the synthetic linear task's teacher and samples: fixed, so `--seed` varies only the run. */
export const LINEAR_TASK_SEED = 1;

export interface LoadedData {
  name: DatasetName;
  train: TrainData;
  test: TrainData;
  /** Where it was read from. */
  source: string;
  /** Classification (one-hot targets, softmax cross-entropy) or regression (MSE). */
  task: 'classification' | 'regression';
  /** Per-sample shape: `[28, 28, 1]` for the image sets (samples are stored flat, HWC), `[30]` for the linear task. */
  sampleShape: number[];
  inputWidth: number;
  outputWidth: number;
}

export interface DataRequest {
  dataset: DatasetName;
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
}

const width = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Load a dataset as flat vectors (`[784]`, `[3072]`…); errors from the loaders name the file at fault. */
export async function loadData(req: DataRequest): Promise<LoadedData> {
  const limits = { limitTrain: req.limitTrain, limitTest: req.limitTest };
  const dir = req.dataDir;
  let splits: DatasetSplits;
  let task: LoadedData['task'] = 'classification';
  switch (req.dataset) {
    case 'digits':
      splits = await loadDigits({ ...limits, flatten: true });
      break;
    case 'mnist':
      splits = await loadMnist({ ...limits, flatten: true, dir });
      break;
    case 'fashion-mnist':
      splits = await loadFashionMnist({ ...limits, flatten: true, dir });
      break;
    case 'cifar10':
      splits = await loadCifar10({ ...limits, flatten: true, dir });
      break;
    case 'linear':
      // Lillicrap et al.'s task 1: y = T x, 30 inputs, 10 outputs
      splits = linearTask({ seed: LINEAR_TASK_SEED, trainCount: req.limitTrain ?? 1000, testCount: req.limitTest ?? 200 });
      task = 'regression';
      break;
  }
  const flat = (d: DatasetSplits['train']): TrainData => ({
    x: d.x,
    y: d.y,
    count: d.count,
    sampleShape: [width(d.sampleShape)],
    targetShape: [width(d.targetShape)],
  });
  const train = flat(splits.train);
  return {
    name: req.dataset,
    train,
    test: flat(splits.test),
    source: splits.source,
    task,
    sampleShape: knownShape(req.dataset).sampleShape,
    inputWidth: train.sampleShape[0],
    outputWidth: train.targetShape[0],
  };
}

/**
 * Standardize inputs by the mean and standard deviation (one scalar each, in float64) of `train`, the samples a run
 * trains on (a validation split held out of it does not count).
 */
export function standardizer(train: TrainData): (d: TrainData) => TrainData {
  const x = train.x;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i];
  const mean = sum / Math.max(1, x.length);
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += (x[i] - mean) ** 2;
  const std = Math.sqrt(sq / Math.max(1, x.length)) || 1;
  return (d) => ({ ...d, x: Float32Array.from(d.x, (v) => (v - mean) / std) });
}

/** The data with inputs standardized by the training set's mean and standard deviation. */
export function standardized(data: LoadedData): LoadedData {
  const apply = standardizer(data.train);
  return { ...data, train: apply(data.train), test: apply(data.test) };
}

/** The default architecture for a dataset: Lillicrap's 30-20-10 for the linear task, else `in-256-256-out`. */
export function defaultArch(dataset: DatasetName, inputWidth: number, outputWidth: number): number[] {
  return dataset === 'linear' ? [inputWidth, 20, outputWidth] : [inputWidth, 256, 256, outputWidth];
}

/** Sample shape and number of outputs known without loading (for early usage errors). */
export function knownShape(dataset: DatasetName): { sampleShape: number[]; outputs: number } {
  switch (dataset) {
    case 'cifar10':
      return { sampleShape: [32, 32, 3], outputs: 10 };
    case 'linear':
      return { sampleShape: [30], outputs: 10 };
    default:
      return { sampleShape: [28, 28, 1], outputs: 10 };
  }
}
