// One training step of feedback alignment (dense B, and sparse W and B), batch 128, wasm. Step-time ratios to backprop
// are measured interleaved in the private integration package:
//   pnpm --filter @bioprop/integration step-ratio --rules fa --arch 784-256-256-10,nokland-7x240
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, momentum, randomStream, resolveBackend, sequential, type Rule } from '@bioprop/core';
import { feedbackAlignment } from '../src/index.js';

await resolveBackend('wasm');

const NETS = {
  '784-256-256-10 tanh': [256, 256],
  '784-(240×7)-10 tanh': [240, 240, 240, 240, 240, 240, 240],
};
const BATCH = 128;

function trainerFor(hidden: number[], rule: Rule) {
  const network = sequential({
    inputShape: [784],
    layers: [...hidden.map((units) => dense({ units, activation: 'tanh' })), dense({ units: 10 })],
    seed: 1,
  });
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.01, momentum: 0.9 }), seed: 1 });
}

// 40 seeded batches in turn: one batch repeated is memorized, and its vanishing errors turn into slow denormals
const stream = randomStream(1, 'bench');
const batches = Array.from({ length: 40 }, () => {
  const y = new Float32Array(BATCH * 10);
  for (let i = 0; i < BATCH; i++) y[i * 10 + Math.floor(stream.next() * 10)] = 1;
  return [tf.tensor(stream.uniformArray(BATCH * 784), [BATCH, 784]), tf.tensor(y, [BATCH, 10])] as const;
});
let next = 0;
/** The next batch, cycling. */
const batch = () => batches[next++ % batches.length];

for (const [name, hidden] of Object.entries(NETS)) {
  describe(`one training step, ${name}, batch ${BATCH}, wasm`, () => {
    const fa = trainerFor(hidden, feedbackAlignment());
    const sparse = trainerFor(hidden, feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 }));
    const options = { time: 3000, warmupIterations: 10 };
    bench('feedback alignment', () => void fa.step(...batch()), options);
    bench('sparse feedback alignment (50% of W and B zeroed)', () => void sparse.step(...batch()), options);
  });
}
