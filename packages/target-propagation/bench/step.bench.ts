// One training step of each TP-family rule (wasm backend, batch 128, Adam, the rules' default options). Step-time
// ratios to backprop are measured interleaved in the private integration package:
//   pnpm --filter @bioprop/integration step-ratio --rules tp,dtp,sdtp,ao-sdtp --arch 784-256-256-10,bartunov-fc-mnist --optimizer adam --lr 0.001
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { adam, createTrainer, dense, locallyConnected2d, randomSource, resolveBackend, sequential, type LayerSpec, type Rule } from '@bioprop/core';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
} from '../src/index.js';

await resolveBackend('wasm');

const BATCH = 128;
const denseNet = (hidden: number[]) => () => [...hidden.map((units) => dense({ units, activation: 'tanh' })), dense({ units: 10 })];
const NETS: Record<string, { inputShape: number[]; layers: () => LayerSpec[]; rules: string[] }> = {
  '784-256-256-10 tanh': { inputShape: [784], layers: denseNet([256, 256]), rules: ['tp', 'dtp', 'sdtp', 'ao-sdtp'] },
  '784-(256×5)-10 tanh': { inputShape: [784], layers: denseNet([256, 256, 256, 256, 256]), rules: ['dtp', 'sdtp'] },
  'LC (3×3,16,s2),(3×3,32,s2),FC on 28×28×1': {
    inputShape: [28, 28, 1],
    layers: () => [
      locallyConnected2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 10 }),
    ],
    rules: ['dtp', 'sdtp'],
  },
};
const RULES: Record<string, () => Rule> = {
  tp: () => targetPropagation(),
  dtp: () => differenceTargetPropagation(),
  sdtp: () => simplifiedDifferenceTargetPropagation(),
  'ao-sdtp': () => auxiliaryOutputSimplifiedDifferenceTargetPropagation(),
};

const s = randomSource(3).stream('bench');
const x = tf.tensor(s.uniformArray(BATCH * 784, 0, 1), [BATCH, 784]);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10), 'float32'));

for (const [name, net] of Object.entries(NETS)) {
  describe(`one training step, ${name}, batch ${BATCH}`, () => {
    const trainerFor = (rule: Rule) =>
      createTrainer({ network: sequential({ inputShape: net.inputShape, layers: net.layers(), seed: 1 }), rule, loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 });
    const input = tf.reshape(x, [BATCH, ...net.inputShape]);
    const options = { time: 3000, warmupIterations: 3 };
    for (const id of net.rules) {
      const t = trainerFor(RULES[id]());
      bench(id, () => void t.step(input, y), options);
    }
  });
}
