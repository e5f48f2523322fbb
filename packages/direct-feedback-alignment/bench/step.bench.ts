// One training step of direct feedback alignment against backprop, in the same run (wasm backend, batch 128).
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, momentum, preset, resolveBackend, sequential, type LayerSpec, type Rule } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
import { directFeedbackAlignment } from '../src/index.js';

await resolveBackend('wasm');

const mlp = (hidden: number[]) => ({ inputShape: [784], layers: [...hidden.map((units) => dense({ units, activation: 'tanh' })), dense({ units: 10 })] });
const NETS: Record<string, () => { inputShape: number[]; layers: LayerSpec[] }> = {
  '784-256-256-10 tanh': () => mlp([256, 256]),
  '784-(240×7)-10 tanh': () => mlp([240, 240, 240, 240, 240, 240, 240]),
  'lenet5 (28×28×1)': () => preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }),
};
const BATCH = 128;

function trainerFor(net: () => { inputShape: number[]; layers: LayerSpec[] }, rule: Rule) {
  const network = sequential({ ...net(), seed: 1 });
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

for (const [name, net] of Object.entries(NETS)) {
  describe(`one training step, ${name}, batch ${BATCH}`, () => {
    const bp = trainerFor(net, backprop());
    const dfa = trainerFor(net, directFeedbackAlignment());
    const options = { time: 3000, warmupIterations: 10 };
    bench('backprop', () => void bp.step(...batch()), options);
    bench('direct feedback alignment', () => void dfa.step(...batch()), options);
  });
}
