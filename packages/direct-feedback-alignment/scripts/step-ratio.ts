/**
 * Step-time ratio to backprop measured interleaved (bp, rule, bp, rule, …) so a shared, loaded machine slows both
 * alike: median per-step time of each and the median of the per-round ratios. Same nets and batch as the bench.
 *
 *   npx tsx --conditions=@bioprop/source scripts/step-ratio.ts [--rounds 60] [--frozen]
 *
 * `--frozen` uses learning rate 0: the same compute with weights that never change, which separates the rules' cost
 * from value-dependent kernel speed (tanh's cost depends on its input's range, and the rules train differently).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, dense, momentum, preset, resolveBackend, sequential, type LayerSpec, type Rule, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
import { directFeedbackAlignment } from '../src/index.ts';

const RULES: Record<string, () => Rule> = {
  'direct feedback alignment': () => directFeedbackAlignment(),
};

const mlp = (hidden: number[]) => ({ inputShape: [784], layers: [...hidden.map((units) => dense({ units, activation: 'tanh' })), dense({ units: 10 })] });
const NETS: Record<string, () => { inputShape: number[]; layers: LayerSpec[] }> = {
  '784-256-256-10 tanh': () => mlp([256, 256]),
  '784-(240×7)-10 tanh': () => mlp([240, 240, 240, 240, 240, 240, 240]),
  'lenet5 (28×28×1)': () => preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }),
};
const BATCH = 128;
const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 60) || 60;
const lr = args.includes('--frozen') ? 0 : 0.01;

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function trainerFor(net: () => { inputShape: number[]; layers: LayerSpec[] }, rule: Rule): Trainer {
  const network = sequential({ ...net(), seed: 1 });
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr, momentum: 0.9 }), seed: 1 });
}

function timeStep(t: Trainer, x: tf.Tensor, y: tf.Tensor): number {
  const t0 = performance.now();
  t.step(x, y); // returns the loss read back, so the step has finished
  return performance.now() - t0;
}

await resolveBackend('wasm');
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
console.log(`| net | rule | median step (ms) | backprop median step (ms) | median ratio to backprop |`);
console.log('|---|---|---|---|---|');
for (const [name, net] of Object.entries(NETS)) {
  const bp = trainerFor(net, backprop());
  const others = Object.entries(RULES).map(([k, make]) => [k, trainerFor(net, make())] as const);
  for (let i = 0; i < 10; i++) {
    const [x, y] = batch();
    [bp, ...others.map(([, t]) => t)].forEach((t) => t.step(x, y));
  }
  const bpTimes: number[] = [];
  const times: number[][] = others.map(() => []);
  const ratios: number[][] = others.map(() => []);
  for (let r = 0; r < rounds; r++) {
    // alternate who goes first, so neither always runs right after the other
    const order = r % 2 === 0 ? [-1, ...others.map((_, i) => i)] : [...others.map((_, i) => i).reverse(), -1];
    const [x, y] = batch();
    const got = new Map<number, number>();
    for (const i of order) got.set(i, timeStep(i < 0 ? bp : others[i][1], x, y));
    const b = got.get(-1)!;
    bpTimes.push(b);
    others.forEach((_, i) => {
      times[i].push(got.get(i)!);
      ratios[i].push(got.get(i)! / b);
    });
  }
  others.forEach(([k], i) => {
    console.log(`| ${name} | ${k} | ${median(times[i]).toFixed(1)} | ${median(bpTimes).toFixed(1)} | ${median(ratios[i]).toFixed(3)} |`);
  });
}
