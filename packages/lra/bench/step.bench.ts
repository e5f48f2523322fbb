/**
 * One training step of LRA (K = 1 and K = 10, both variants): 784-256-256-10 tanh, batch 128, wasm backend, softmax
 * cross-entropy, SGD. Target: LRA with K = 1 at most 1.5× backprop's step time, measured interleaved in the private
 * integration package:
 *   pnpm --filter @bioprop/integration step-ratio --rules "lra-fdbk(k=1),lra-diff(k=1),lra-fdbk(k=10),lra-diff(k=10)" --optimizer sgd --lr 0.01
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, dense, randomSource, resolveBackend, sequential, sgd, type Rule, type Trainer } from '@bioprop/core';
import { bench, describe } from 'vitest';
import { lraDiff, lraFdbk } from '../src/index.js';

await resolveBackend('wasm');

function setup(rule: Rule): { trainer: Trainer; x: tf.Tensor; y: tf.Tensor } {
  const random = randomSource(7);
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
    random,
  });
  const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.01 }), random });
  const x = tf.randomUniform([128, 784], 0, 1, 'float32', 1);
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([128], 0, 10, 'int32', 2), 10), 'float32'));
  return { trainer, x, y: labels };
}

const rules: [string, () => Rule][] = [
  ['lra-fdbk K=1', () => lraFdbk({ k: 1 })],
  ['lra-diff K=1', () => lraDiff({ k: 1 })],
  ['lra-fdbk K=10', () => lraFdbk({ k: 10 })],
  ['lra-diff K=10', () => lraDiff({ k: 10 })],
];

describe('one training step, 784-256-256-10 tanh, batch 128 (wasm)', () => {
  for (const [name, make] of rules) {
    const s = setup(make());
    bench(name, () => {
      s.trainer.step(s.x, s.y);
    }, { warmupIterations: 5, iterations: 40, time: 2000 });
  }
});
