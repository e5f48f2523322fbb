import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from './errors.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { locallyConnected2d } from './layers/locally-connected.js';
import { MemoryLimitError, checkMemoryLimit, estimateDatasetMemory, estimateTrainingMemory, summarizeNetworkConfig } from './memory.js';
import { activation } from './modules/activation.js';
import { batchNorm } from './modules/batch-norm.js';
import { dropout } from './modules/dropout.js';
import { avgPool2d, maxPool2d } from './modules/pooling.js';
import { residual } from './modules/residual.js';
import { flatten, globalAvgPool2d, zeroPad2d } from './modules/shape.js';
import { sequential } from './network.js';
import { defaultMemoryLimit } from './node.js';
import { adam } from './optimizers.js';
import { randomSource, randomStream } from './random.js';
import { testBackprop } from './test-utils.js';
import { createTrainer } from './trainer.js';
import type { Network } from './types.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const built = (net: Network) => {
  const params = Object.values(net.namedParams()).reduce((a, v) => a + v.size, 0);
  const buffers = Object.values(net.namedBuffers()).reduce((a, v) => a + v.size, 0);
  return { params, buffers };
};

describe('shapes alone give the exact parameter counts', () => {
  it('for every module kind, equal to the built network', () => {
    const nets = [
      sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 5, useBias: false })], seed: 1 }),
      sequential({
        inputShape: [10, 9, 2],
        layers: [
          zeroPad2d([1, 2]),
          conv2d({ filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same' }),
          batchNorm(),
          activation('relu'),
          residual({ body: [conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), batchNorm()] }),
          residual({ body: [conv2d({ filters: 6, kernelSize: 1, strides: 2 })], shortcut: [conv2d({ filters: 6, kernelSize: 1, strides: 2, useBias: false })] }),
          locallyConnected2d({ filters: 3, kernelSize: 2, strides: [1, 2] }),
          maxPool2d(2),
          dropout(0.1),
          dense({ units: 7 }),
        ],
        seed: 1,
      }),
      sequential({
        inputShape: [8, 8, 3],
        layers: [conv2d({ filters: 5, kernelSize: 3 }), avgPool2d({ poolSize: 2, strides: 1, padding: 'same' }), globalAvgPool2d(), dense({ units: 4 })],
        seed: 1,
      }),
      sequential({ inputShape: [6, 6, 1], layers: [locallyConnected2d({ filters: 2, kernelSize: 3, padding: 'same' }), flatten(), dense({ units: 3 })], seed: 1 }),
    ];
    for (const net of nets) {
      const s = summarizeNetworkConfig(net.config());
      const b = built(net);
      expect(s.parameters).toBe(b.params);
      expect(s.buffers).toBe(b.buffers);
      expect(s.outputSize).toBe(net.outputShape.reduce((a, c) => a * c, 1));
      net.dispose();
    }
  });

  it('a 784-3000000-10 network is estimated (≈ 9.4 GB of weights) without allocating, and refused by the limit', () => {
    const before = tf.memory();
    const e = estimateTrainingMemory({ layers: [784, 3e6, 10], batchSize: 64, optimizer: 'sgd', ruleStateFactor: 0 });
    expect(e.parameters).toBe(784 * 3e6 + 3e6 + 3e6 * 10 + 10);
    expect(e.weightsBytes).toBe(e.parameters * 4);
    expect(e.weightsBytes / 1e9).toBeCloseTo(9.53, 1);
    expect(e.gradientBytes).toBe(4 * e.weightsBytes);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(() => checkMemoryLimit('training 784-3000000-10', { bytes: e.totalBytes, largestElements: e.largestTensorElements }, 8e9)).toThrow(
      /^training 784-3000000-10: needs about \d+\.\d GB, over the memory limit of 8\.00 GB$/,
    );
    const err = (() => {
      try {
        checkMemoryLimit('x', { bytes: e.totalBytes }, 1e9);
      } catch (x) {
        return x as MemoryLimitError;
      }
    })();
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect([err!.estimateBytes, err!.limitBytes]).toEqual([e.totalBytes, 1e9]);
  });

  it('a batch of 1e8 or a billion-wide layer exceeds what one typed array holds; a 1e8-sample data set is sized before loading', () => {
    const wide = estimateTrainingMemory({ layers: [784, 1e9, 10], batchSize: 1 });
    expect(() => checkMemoryLimit('arch', { bytes: wide.totalBytes, largestElements: wide.largestTensorElements }, Infinity)).toThrow(/more than the 4294967296 a typed array can/);
    const batch = estimateTrainingMemory({ layers: [784, 256, 10], batchSize: 1e8 });
    expect(batch.activationBytes).toBeGreaterThan(1e11);
    expect(() => checkMemoryLimit('bench', { bytes: batch.totalBytes, largestElements: batch.largestTensorElements }, 8e9)).toThrow(MemoryLimitError);
    const data = estimateDatasetMemory({ samples: 1e8, inputSize: 30, outputSize: 10 });
    expect(data.bytes).toBe(1e8 * (40 * 4 + 1));
    expect(() => checkMemoryLimit('linear, 1e8 samples', { bytes: data.bytes, largestElements: data.largestArrayElements }, 8e9)).toThrow(/16\.1 GB, over the memory limit/);
    expect(() => estimateTrainingMemory({ layers: [784, 1.5, 10], batchSize: 1 })).toThrow(OptionError);
    expect(() => estimateTrainingMemory({ layers: [784, 10], batchSize: 0 })).toThrow(OptionError);
    expect(defaultMemoryLimit()).toBeGreaterThan(0);
  });
});

describe('estimates against tf.memory().numBytes on small nets', () => {
  it('persistent state (weights, adam slots) within 5%, a step’s peak within a factor of 2', async () => {
    for (const [layers, inputShape, batchSize] of [
      [[dense({ units: 64, activation: 'tanh' }), dense({ units: 32, activation: 'tanh' }), dense({ units: 5 })], [40], 32],
      [[conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }), maxPool2d(2), dense({ units: 5 })], [12, 12, 1], 16],
    ] as const) {
      const base = tf.memory().numBytes;
      const random = randomSource(3);
      const network = sequential({ inputShape: [...inputShape], layers: [...layers], random });
      const trainer = createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 0.01 }), random });
      const inSize = inputShape.reduce((a: number, b: number) => a * b, 1);
      const x = tf.tensor(randomStream(1, 'x').normalArray(batchSize * inSize), [batchSize, ...inputShape]);
      const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 5), 'int32'), 5), 'float32');
      let peak = 0;
      trainer.addHook({ onStep: () => void (peak = Math.max(peak, tf.memory().numBytes - base)) });
      trainer.step(x, y);
      trainer.step(x, y);
      const e = estimateTrainingMemory({ network, batchSize, optimizer: 'adam', ruleStateFactor: 0 });
      const persistent = tf.memory().numBytes - base - (x.size + y.size) * 4;
      const estimatedPersistent = e.weightsBytes + e.optimizerBytes;
      expect(persistent / estimatedPersistent).toBeGreaterThan(0.95);
      expect(persistent / estimatedPersistent).toBeLessThan(1.05);
      // the peak during a step (trace alive): what the estimate's total is for, within a factor of 2 either way
      expect(peak / e.totalBytes).toBeGreaterThan(0.5);
      expect(peak / e.totalBytes).toBeLessThan(2);
      tf.dispose([x, y]);
      trainer.dispose();
      network.dispose();
    }
  });
});
