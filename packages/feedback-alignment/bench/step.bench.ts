// One training step of feedback alignment against backprop, in the same run (wasm backend, batch 128).
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, momentum, resolveBackend, sequential, type Rule } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
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

// real batches in turn (the embedded digits): one batch repeated would be memorized, and its vanishing errors turn
// into denormal floats that slow whichever rule fits it fastest
const digits = await loadDigits({ limitTrain: 40 * BATCH });
const batches = Array.from({ length: 40 }, (_, b) => [
  tf.tensor(digits.train.x.subarray(b * BATCH * 784, (b + 1) * BATCH * 784), [BATCH, 784]),
  tf.tensor(digits.train.y.subarray(b * BATCH * 10, (b + 1) * BATCH * 10), [BATCH, 10]),
] as const);
let next = 0;
/** The next batch, cycling. */
const batch = () => batches[next++ % batches.length];

for (const [name, hidden] of Object.entries(NETS)) {
  describe(`one training step, ${name}, batch ${BATCH}`, () => {
    const bp = trainerFor(hidden, backprop());
    const fa = trainerFor(hidden, feedbackAlignment());
    const options = { time: 3000, warmupIterations: 10 };
    bench('backprop', () => void bp.step(...batch()), options);
    bench('feedback alignment', () => void fa.step(...batch()), options);
  });
}
