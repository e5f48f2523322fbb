// One training step of direct feedback alignment, batch 128, wasm. Step-time ratios to backprop are measured
// interleaved in the private integration package:
//   pnpm --filter @bioprop/integration step-ratio --rules dfa --arch 784-256-256-10,nokland-7x240,lenet5
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, momentum, preset, randomStream, resolveBackend, sequential, type LayerSpec, type Rule } from '@bioprop/core';
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

// 40 seeded batches in turn: one batch repeated is memorized, and its vanishing errors turn into slow denormals
// (flat 784-value inputs; the network reshapes them for lenet5)
const stream = randomStream(1, 'bench');
const batches = Array.from({ length: 40 }, () => {
  const y = new Float32Array(BATCH * 10);
  for (let i = 0; i < BATCH; i++) y[i * 10 + Math.floor(stream.next() * 10)] = 1;
  return [tf.tensor(stream.uniformArray(BATCH * 784), [BATCH, 784]), tf.tensor(y, [BATCH, 10])] as const;
});
let next = 0;
/** The next batch, cycling. */
const batch = () => batches[next++ % batches.length];

for (const [name, net] of Object.entries(NETS)) {
  describe(`one training step, ${name}, batch ${BATCH}, wasm`, () => {
    const dfa = trainerFor(net, directFeedbackAlignment());
    bench('direct feedback alignment', () => void dfa.step(...batch()), { time: 3000, warmupIterations: 10 });
  });
}
