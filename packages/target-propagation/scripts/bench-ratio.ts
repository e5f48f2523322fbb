/**
 * Step-time ratio of each TP-family rule to backprop, robust to a shared machine's load drift: the trainers take
 * turns step by step (same batch, wasm, batch 128, Adam, rules with their default options), and the ratio is taken
 * between medians.
 *
 *   npx tsx --conditions=@bioprop/source scripts/bench-ratio.ts [rounds, default 40]
 */
import * as tf from '@tensorflow/tfjs-core';
import { adam, createTrainer, dense, locallyConnected2d, randomSource, resolveBackend, sequential, type LayerSpec, type Rule, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
} from '../src/index.ts';

const rounds = Number(process.argv[2] ?? 40);
await resolveBackend('wasm');
const BATCH = 128;
const denseNet = (hidden: number[]) => () => [...hidden.map((units) => dense({ units, activation: 'tanh' })), dense({ units: 10 })];
const NETS: { name: string; inputShape: number[]; layers: () => LayerSpec[]; rules: string[]; rounds: number }[] = [
  { name: '784-256-256-10 tanh', inputShape: [784], layers: denseNet([256, 256]), rules: ['tp', 'dtp', 'sdtp', 'ao-sdtp'], rounds },
  { name: '784-(256×5)-10 tanh', inputShape: [784], layers: denseNet([256, 256, 256, 256, 256]), rules: ['tp', 'dtp', 'sdtp', 'ao-sdtp'], rounds },
  {
    name: 'LC (3×3,16,s2),(3×3,32,s2),FC 10 on 28×28×1',
    inputShape: [28, 28, 1],
    layers: () => [
      locallyConnected2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 10 }),
    ],
    rules: ['dtp', 'sdtp'],
    rounds: Math.max(8, Math.round(rounds / 4)),
  },
];
const RULES: Record<string, () => Rule> = {
  bp: () => backprop(),
  tp: () => targetPropagation(),
  dtp: () => differenceTargetPropagation(),
  sdtp: () => simplifiedDifferenceTargetPropagation(),
  'ao-sdtp': () => auxiliaryOutputSimplifiedDifferenceTargetPropagation(),
};

const s = randomSource(3).stream('bench');
const x = tf.tensor(s.uniformArray(BATCH * 784, 0, 1), [BATCH, 784]);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10), 'float32'));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

console.log('| net | rule | median ms/step | ratio to backprop |');
console.log('|---|---|---|---|');
for (const net of NETS) {
  const ids = ['bp', ...net.rules];
  const trainers: Trainer[] = ids.map((id) =>
    createTrainer({ network: sequential({ inputShape: net.inputShape, layers: net.layers(), seed: 1 }), rule: RULES[id](), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 }),
  );
  const input = tf.reshape(x, [BATCH, ...net.inputShape]);
  for (const t of trainers) for (let i = 0; i < 3; i++) t.step(input, y);
  const times: number[][] = ids.map(() => []);
  for (let r = 0; r < net.rounds; r++) {
    trainers.forEach((t, i) => {
      const t0 = performance.now();
      t.step(input, y);
      times[i].push(performance.now() - t0);
    });
  }
  const bp = median(times[0]);
  ids.forEach((id, i) => console.log(`| ${net.name} | ${id} | ${median(times[i]).toFixed(1)} | ${(median(times[i]) / bp).toFixed(2)} |`));
  for (const t of trainers) {
    t.dispose();
    t.network.dispose();
  }
  input.dispose();
}
