/**
 * Step-time ratios to backprop, interleaved so load on a shared machine hits every rule alike:
 * 784-256-256-10 tanh, batch 128, wasm, each rule with its tuned defaults. Prints median and min per rule.
 *
 *   node --conditions=@bioprop/source --import tsx scripts/bench-ratio.ts [--rounds 40]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, dense, randomSource, resolveBackend, resolveOptimizer, sequential, type OptimizerConfig, type Rule } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import {
  activationAlignmentEntry,
  decay,
  informationAlignmentEntry,
  learnedFeedback,
  learnedFeedbackEntries,
  ruleDefaults,
} from '../src/index.js';
import { parseArgs } from './standard-run.js';

const args = parseArgs(process.argv.slice(2));
const rounds = Number(args.rounds ?? 40);
await resolveBackend((process.env.BIOPROP_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm');

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
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: 128 }, (_, i) => i % 10), 'int32'), 10), 'float32'));
  return () => {
    const t0 = performance.now();
    trainer.step(x, y);
    return performance.now() - t0;
  };
}

const rules: [string, () => number][] = [
  ['bp', stepper(backprop(), ruleDefaults.sa.optimizer)],
  ['fa (zero coefficients)', stepper(learnedFeedback({ id: 'fa', terms: [decay(0)] }), ruleDefaults.sa.optimizer)],
  ...learnedFeedbackEntries.map((e) => [e.id, stepper(e.create(), e.defaults.optimizer)] as [string, () => number]),
  // what feedbackSamples: 32 saves: B's update on the whole batch of 128
  ['aa, B on the whole batch', stepper(activationAlignmentEntry.create({ feedbackSamples: 128 }), ruleDefaults.aa.optimizer)],
  ['ia, B on the whole batch', stepper(informationAlignmentEntry.create({ feedbackSamples: 128 }), ruleDefaults.ia.optimizer)],
];
const times: number[][] = rules.map(() => []);
for (let r = 0; r < rounds + 5; r++) {
  rules.forEach(([, step], i) => {
    const dt = step();
    if (r >= 5) times[i].push(dt);
  });
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const bpMed = median(times[0]);
const bpMin = Math.min(...times[0]);
console.log(`| rule | median ms | ratio to bp (median) | min ms | ratio to bp (min) |`);
console.log(`|---|---|---|---|---|`);
rules.forEach(([name], i) => {
  const med = median(times[i]);
  const min = Math.min(...times[i]);
  console.log(`| ${name} | ${med.toFixed(2)} | ${(med / bpMed).toFixed(2)} | ${min.toFixed(2)} | ${(min / bpMin).toFixed(2)} |`);
});
