import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackprop } from './test-utils.js';
import { dense } from './layers/dense.js';
import { sequential } from './network.js';
import { createTrainer, type TrainData } from './trainer.js';
import { adam } from './optimizers.js';
import { randomSource, randomStream } from './random.js';

/**
 * The cpu backend, but a synchronous read of a tensor throws, as WebGPU's does in Node: what runs here runs on a
 * backend that can only `await data()`.
 */
class AsyncOnlyBackend extends MathBackendCPU {
  private reading = 0;
  override async read(dataId: object) {
    this.reading++;
    try {
      return super.readSync(dataId);
    } finally {
      this.reading--;
    }
  }
  override readSync(dataId: object) {
    if (this.reading === 0) throw new Error('async-only backend: synchronous read');
    return super.readSync(dataId);
  }
}
const ASYNC_ONLY = 'async-only-test';

beforeAll(async () => {
  tf.registerBackend(ASYNC_ONLY, () => new AsyncOnlyBackend());
  for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: ASYNC_ONLY });
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await tf.setBackend('cpu');
  for (const k of tf.getKernelsForBackend(ASYNC_ONLY)) tf.unregisterKernel(k.kernelName, ASYNC_ONLY);
  tf.removeBackend(ASYNC_ONLY);
});

function toyData(seed: number, count: number): TrainData {
  const r = randomStream(seed, 'data');
  const x = r.normalArray(count * 8);
  const y = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    const s = [0, 1, 2].map((k) => x[i * 8 + k] + 0.5 * x[i * 8 + k + 3]);
    y[i * 3 + s.indexOf(Math.max(...s))] = 1;
  }
  return { x, y, count, sampleShape: [8], targetShape: [3] };
}

function makeTrainer(seed = 1) {
  const random = randomSource(seed);
  const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 3 })], random });
  return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 0.01 }), random });
}

describe('Trainer.evaluateAsync', () => {
  it.each(['cpu', 'wasm'])('gives bit for bit what evaluate gives on %s (batches that do not divide the set too)', async (backend) => {
    await tf.setBackend(backend);
    const t = makeTrainer();
    const data = toyData(3, 257);
    await t.fit(data, { epochs: 1, batchSize: 32 });
    for (const batchSize of [500, 64, 7]) {
      const sync = t.evaluate(data, batchSize);
      const before = tf.memory().numTensors;
      const async = await t.evaluateAsync(data, batchSize);
      expect(tf.memory().numTensors).toBe(before);
      // toBe: the same double, not a close one
      expect(async.loss).toBe(sync.loss);
      expect(async.accuracy).toBe(sync.accuracy);
    }
    t.dispose();
    t.network.dispose();
  });

  it('a single-output network has accuracy 0 on both paths', async () => {
    await tf.setBackend('cpu');
    const random = randomSource(2);
    const network = sequential({ inputShape: [8], layers: [dense({ units: 4, activation: 'tanh' }), dense({ units: 1 })], random });
    const t = createTrainer({ network, rule: testBackprop(), loss: 'mse', random });
    const d = toyData(4, 40);
    const data: TrainData = { ...d, y: d.y.filter((_, i) => i % 3 === 0), targetShape: [1] };
    expect(await t.evaluateAsync(data, 16)).toEqual(t.evaluate(data, 16));
    t.dispose();
    network.dispose();
  });

  it('rejects a batch size that is not a positive integer', async () => {
    const t = makeTrainer();
    await expect(t.evaluateAsync(toyData(1, 8), 0)).rejects.toThrow(/batchSize/);
    expect(() => t.evaluate(toyData(1, 8), 1.5)).toThrow(/batchSize/);
    t.dispose();
    t.network.dispose();
  });
});

describe('training and evaluation on a backend that cannot read synchronously', () => {
  it('evaluate throws there; fit({ async: true }) and evaluateAsync run and match the cpu run bit for bit', async () => {
    const data = toyData(5, 96);
    await tf.setBackend('cpu');
    const ref = makeTrainer(7);
    const refFit = await ref.fit(data, { epochs: 2, batchSize: 16, async: true });
    const refEval = ref.evaluate(data);

    await tf.setBackend(ASYNC_ONLY);
    const t = makeTrainer(7);
    expect(() => t.evaluate(data)).toThrow(/synchronous read/);
    const fit = await t.fit(data, { epochs: 2, batchSize: 16, async: true });
    const ev = await t.evaluateAsync(data);
    // the same kernels on the same numbers: identical losses, not just close ones
    expect(fit.epochs.map((e) => e.trainLoss)).toEqual(refFit.epochs.map((e) => e.trainLoss));
    expect(ev).toEqual(refEval);
    expect(ev.accuracy).toBeGreaterThan(0.5);
    t.dispose();
    t.network.dispose();
    await tf.setBackend('cpu');
    ref.dispose();
    ref.network.dispose();
  });
});
