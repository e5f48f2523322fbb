/**
 * Step time of LRA relative to backprop, robust to a busy machine: the rules' steps are interleaved (so load hits
 * all alike) and the ratio of medians and of minima is reported. 784-256-256-10 tanh, batch 128, wasm.
 *   pnpm tsx --conditions=@bioprop/source scripts/step-ratio.ts [rounds]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, dense, randomSource, resolveBackend, sequential, sgd, type Rule } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { lraDiff, lraFdbk } from '../src/index.ts';

await resolveBackend('wasm');
const rounds = Number(process.argv[2] ?? 60);
const make = (rule: Rule) => {
  const random = randomSource(7);
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
    random,
  });
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.01 }), random });
};
const rules: [string, Rule][] = [
  ['backprop', backprop()],
  ['lra-fdbk K=1', lraFdbk()],
  ['lra-diff K=1', lraDiff()],
  ['lra-fdbk K=10', lraFdbk({ k: 10 })],
  ['lra-diff K=10', lraDiff({ k: 10 })],
];
const trainers = rules.map(([, r]) => make(r));
const x = tf.randomUniform([128, 784], 0, 1, 'float32', 1);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([128], 0, 10, 'int32', 2), 10), 'float32'));
const times: number[][] = rules.map(() => []);
for (let r = 0; r < rounds + 5; r++) {
  trainers.forEach((t, i) => {
    const t0 = performance.now();
    t.step(x, y);
    if (r >= 5) times[i].push(performance.now() - t0);
  });
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const min = (a: number[]) => Math.min(...a);
console.log('| rule | median ms | min ms | median ÷ backprop | min ÷ backprop |');
console.log('|---|---|---|---|---|');
rules.forEach(([name], i) => {
  console.log(
    `| ${name} | ${median(times[i]).toFixed(1)} | ${min(times[i]).toFixed(1)} | ${(median(times[i]) / median(times[0])).toFixed(2)} | ${(min(times[i]) / min(times[0])).toFixed(2)} |`,
  );
});
