/** Training batches for step timings, made on the active backend. */
import * as tf from '@tensorflow/tfjs-core';
import { randomStream } from '@bioprop/core';
import { loadDigits } from '@bioprop/datasets';

export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

export type BatchSource = 'auto' | 'digits' | 'random';

export interface BatchOptions {
  /** Per-sample input shape (`[784]`, `[28, 28, 1]`, …). */
  inputShape: readonly number[];
  classes: number;
  batchSize: number;
  /** How many distinct batches (cycled through by the caller). */
  count: number;
  /**
   * `digits`: the embedded MNIST digits (784 values, 10 classes); `random`: seeded uniform [0, 1) inputs and random
   * labels; `auto` (default): digits where they fit the input and the classes, else random.
   */
  source?: BatchSource;
  seed?: number;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * `count` batches on the active backend. Real batches in turn are what the step timings use: one batch repeated is
 * memorized, and its vanishing errors turn into denormal floats that slow whichever rule fits it fastest.
 */
export async function trainingBatches(o: BatchOptions): Promise<{ batches: Batch[]; source: string }> {
  const features = size(o.inputShape);
  const digitsFit = features === 784 && o.classes === 10;
  const source = o.source ?? 'auto';
  if (source === 'digits' && !digitsFit) throw new Error(`--data digits needs 784 inputs and 10 classes, got [${o.inputShape}] and ${o.classes}`);
  const samples = o.count * o.batchSize;
  if (source === 'digits' || (source === 'auto' && digitsFit)) {
    const digits = await loadDigits({ limitTrain: Math.min(samples, 8000) });
    const n = digits.train.count;
    const batches = Array.from({ length: o.count }, (_, b) => {
      const x = new Float32Array(o.batchSize * 784);
      const y = new Float32Array(o.batchSize * 10);
      for (let i = 0; i < o.batchSize; i++) {
        const j = (b * o.batchSize + i) % n;
        x.set(digits.train.x.subarray(j * 784, (j + 1) * 784), i * 784);
        y.set(digits.train.y.subarray(j * 10, (j + 1) * 10), i * 10);
      }
      return { x: tf.tensor(x, [o.batchSize, ...o.inputShape]), y: tf.tensor(y, [o.batchSize, 10]) };
    });
    return { batches, source: `embedded digits (${Math.min(samples, n)} distinct samples)` };
  }
  const r = randomStream(o.seed ?? 3, 'batches');
  const batches = Array.from({ length: o.count }, () => {
    const x = r.uniformArray(o.batchSize * features, 0, 1);
    const y = new Float32Array(o.batchSize * o.classes);
    for (let i = 0; i < o.batchSize; i++) y[i * o.classes + Math.floor(r.next() * o.classes)] = 1;
    return { x: tf.tensor(x, [o.batchSize, ...o.inputShape]), y: tf.tensor(y, [o.batchSize, o.classes]) };
  });
  return { batches, source: 'seeded uniform inputs, random labels' };
}

/** Dispose the tensors of `batches`. */
export function disposeBatches(batches: readonly Batch[]): void {
  for (const b of batches) tf.dispose([b.x, b.y]);
}
