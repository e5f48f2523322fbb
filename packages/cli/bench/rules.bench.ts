import * as tf from '@tensorflow/tfjs-core';
import { randomStream, resolveBackend } from '@bioprop/core';
import { afterAll, bench, describe } from 'vitest';
import { loadRules } from '../src/rules.js';
import { buildTrainer, resolveConfig } from '../src/run.js';

// One training step of every installed rule as the CLI builds it (784-256-256-10 tanh, batch 128, wasm).
await resolveBackend('wasm');
const arch = '784-256-256-10';
const shape = { sampleShape: [784], outputs: 10 };
const n = 128;
const stream = randomStream(0, 'bench');
const x = tf.tensor2d(stream.uniformArray(n * 784, 0, 1), [n, 784]);
const labels = new Float32Array(n * 10);
for (let i = 0; i < n; i++) labels[i * 10 + Math.floor(stream.next() * 10)] = 1;
const y = tf.tensor2d(labels, [n, 10]);

const registry = await loadRules();
const trainers = [...registry.rules.values()].map(({ entry }) => {
  const config = resolveConfig(
    entry,
    { rule: entry.id, dataset: 'digits', dataDir: null, arch, activation: 'tanh', epochs: 1, batchSize: n, optimizer: null, lr: null, init: null, seed: 0, limitTrain: null, limitTest: null, angles: false },
    { ...shape, task: 'classification' },
  );
  return { id: entry.id, trainer: buildTrainer(entry, config, shape) };
});

describe('one training step, 784-256-256-10 tanh, batch 128, wasm', () => {
  for (const { id, trainer } of trainers) {
    bench(id, () => {
      trainer.step(x, y);
    }, { warmupIterations: 3, time: 500 });
  }
});

afterAll(() => {
  for (const { trainer } of trainers) {
    trainer.network.dispose();
    trainer.dispose();
  }
  x.dispose();
  y.dispose();
});
