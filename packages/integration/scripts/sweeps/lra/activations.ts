/**
 * The digits runs behind two choices the Fashion-MNIST sweep could not make (tanh does not tell them apart):
 * LRA-fdbk's `derivative` ('above' vs 'below'), c₁ on or off per unit type, and momentum vs Adam. Embedded digits,
 * 4000 train / 500 test, 784-128-128-10, 3 epochs, batch 128, seed 7, wasm (the budget of src/learning.test.ts).
 *   pnpm --filter @bioprop/integration script scripts/sweeps/lra/activations.ts [filter]
 */
import '@tensorflow/tfjs-backend-wasm';
import {
  bernoulli,
  createTrainer,
  dense,
  lwta,
  randomSource,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type ActivationLike,
  type InitializerLike,
  type OptimizerConfig,
  type Rule,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
import { lraDiff, lraFdbk, type LraFdbkOptions } from '@bioprop/lra';

await resolveBackend('wasm');
const digits = await loadDigits({ limitTrain: 4000, limitTest: 500 });

async function accuracy(rule: Rule, activation: ActivationLike, kernelInit: InitializerLike | undefined, optimizer: OptimizerConfig): Promise<number> {
  const random = randomSource(7);
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 128, activation, kernelInit }), dense({ units: 128, activation, kernelInit }), dense({ units: 10, kernelInit })],
    random,
  });
  const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizer), random });
  await trainer.fit(digits.train, { epochs: 3, batchSize: 128 });
  const { accuracy: acc } = trainer.evaluate(digits.test);
  trainer.dispose();
  network.dispose();
  return acc;
}

const mom = (lr: number): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9 });
const adam = (lr: number): OptimizerConfig => ({ name: 'adam', lr });
const units: [string, () => ActivationLike, InitializerLike | undefined, LraFdbkOptions, number][] = [
  // name, activation, init, extra options, lr factor
  ['tanh zero', () => 'tanh', 'zero', {}, 1],
  ['lwta4', () => lwta({ blockSize: 4 }), undefined, {}, 1],
  ['bernoulli', () => bernoulli(), undefined, { beta: 1 }, 4],
  ['softplus zero', () => 'softplus', 'zero', {}, 1],
  ['sign zero', () => 'sign', 'zero', {}, 1],
  ['relu6 N(0,0.01)', () => 'relu6', { normal: 0.01 }, {}, 1],
];
type Case = [string, () => Rule, () => ActivationLike, InitializerLike | undefined, OptimizerConfig];
const cases: Case[] = [
  ['bp tanh', () => backprop(), () => 'tanh', undefined, mom(0.05)],
  ['bp sign', () => backprop(), () => 'sign', undefined, mom(0.05)],
  ['fdbk tanh', () => lraFdbk(), () => 'tanh', undefined, mom(0.05)],
  ['diff tanh', () => lraDiff(), () => 'tanh', undefined, mom(0.05)],
  ['fdbk tanh adam', () => lraFdbk(), () => 'tanh', undefined, adam(1e-3)],
  ['diff tanh adam', () => lraDiff(), () => 'tanh', undefined, adam(1e-3)],
];
for (const [name, act, init, extra, f] of units) {
  for (const derivative of ['above', 'below'] as const) {
    cases.push([`fdbk ${name} ${derivative}`, () => lraFdbk({ ...extra, derivative }), act, init, mom(0.05 * f)]);
  }
  cases.push([`fdbk ${name} c1 off`, () => lraFdbk({ ...extra, c1: null }), act, init, mom(0.05 * f)]);
  cases.push([`fdbk ${name} adam`, () => lraFdbk(extra), act, init, adam(1e-3 * f)]);
}
const filter = process.argv[2];
console.log('| run | test accuracy |\n|---|---|');
for (const [name, rule, act, init, opt] of cases) {
  if (filter && !name.includes(filter)) continue;
  console.log(`| ${name} | ${(await accuracy(rule(), act(), init, opt)).toFixed(3)} |`);
}
