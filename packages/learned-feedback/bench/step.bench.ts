/**
 * One training step of each rule: 784-256-256-10 tanh, batch 128, wasm, every rule with its tuned defaults (forward
 * optimizer included), and feedback alignment as learned feedback with zero coefficients. Ratios to backprop, measured
 * interleaved, come from the private integration package:
 *   pnpm --filter @bioprop/integration step-ratio --rules sa,aa,wm,ia,kp --optimizer tuned
 */
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, randomSource, resolveBackend, resolveOptimizer, sequential, type OptimizerConfig, type Rule } from '@bioprop/core';
import { decay, learnedFeedback, rules, ruleDefaults } from '../src/index.js';

await resolveBackend('wasm');

function stepper(rule: Rule, optimizer: OptimizerConfig) {
  const random = randomSource(7);
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
    random,
  });
  const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizer as never), random });
  const s = random.stream('bench-data');
  const x = tf.tensor(s.uniformArray(128 * 784), [128, 784]);
  const labels = Array.from({ length: 128 }, (_, i) => i % 10);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32'));
  return () => {
    trainer.step(x, y);
  };
}

const options = { time: 3000, warmupIterations: 5 };

describe('training step, 784-256-256-10 tanh, batch 128 (wasm)', () => {
  bench('fa (learned feedback, zero coefficients)', stepper(learnedFeedback({ id: 'fa', terms: [decay(0)] }), ruleDefaults.sa.optimizer), options);
  for (const entry of rules) bench(entry.id, stepper(entry.create(), entry.defaults.optimizer), options);
});
