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
import { loadDigits } from '@bioprop/datasets';
import { realDataOrSkip } from '@bioprop/datasets/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { lraDiffEntry, lraFdbkEntry } from './index.js';

type Splits = Awaited<ReturnType<typeof loadDigits>>;

let digits: Splits;
beforeAll(async () => {
  await resolveBackend('wasm');
  digits = await loadDigits({ limitTrain: 4000, limitTest: 500 });
});

interface Run {
  rule: Rule;
  data: Splits;
  hidden: readonly number[];
  activation: ActivationLike;
  kernelInit?: InitializerLike;
  optimizer: OptimizerConfig;
  epochs: number;
  seed?: number;
}

async function accuracy(run: Run): Promise<number> {
  const random = randomSource(run.seed ?? 7);
  const network = sequential({
    inputShape: [784],
    layers: [
      ...run.hidden.map((units) => dense({ units, activation: run.activation, kernelInit: run.kernelInit })),
      dense({ units: 10, kernelInit: run.kernelInit }),
    ],
    random,
  });
  const trainer = createTrainer({ network, rule: run.rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(run.optimizer), random });
  await trainer.fit(run.data.train, { epochs: run.epochs, batchSize: 128 });
  const { accuracy: acc } = trainer.evaluate(run.data.test);
  trainer.dispose();
  network.dispose();
  console.log(`${run.rule.id} ${typeof run.activation === 'string' ? run.activation : run.activation.name} init=${JSON.stringify(run.kernelInit ?? 'glorot')}: test accuracy ${acc.toFixed(4)}`);
  return acc;
}

const fdbk = lraFdbkEntry.defaults;
// measured (wasm, seed 7): fdbk 0.884, diff 0.902, zero init 0.882, LWTA 0.826, relu6 0.772, softplus 0.664 with the
// defaults; Bernoulli 0.802 and sign 0.666 with c₁ off; thresholds sit 0.01–0.09 under them
const FDBK_TANH = 0.86;
const DIFF_TANH = 0.87;
const FDBK_ZERO = 0.87;
const FDBK_LWTA = 0.74;
const FDBK_BERNOULLI = 0.74;
const RELU6_SMALL = 0.7;
const SOFTPLUS_ZERO = 0.57;
const SIGN_ZERO = 0.62;
// Fashion-MNIST: the issue asks ≥ 0.72; measured fdbk 0.826, diff 0.832, so a regression shows long before the target fails
const ISSUE_TARGET = 0.72;
const FASHION_FLOOR = 0.79;
const diff = lraDiffEntry.defaults;
// digits (4000 train / 500 test), 3 epochs (94 steps), 784-128-128-10: backprop (momentum 0.05) reaches 0.902 here
const small = { hidden: [128, 128], epochs: 3 } as const;

describe('learning on real digits (thresholds 0.01–0.09 under the measured accuracy, in comments)', () => {
  it('LRA-fdbk and LRA-diff learn with their defaults (tanh, Glorot)', async () => {
    const f = await accuracy({ ...small, rule: lraFdbkEntry.create(), data: digits, activation: 'tanh', optimizer: fdbk.optimizer });
    const d = await accuracy({ ...small, rule: lraDiffEntry.create(), data: digits, activation: 'tanh', optimizer: diff.optimizer });
    expect(f).toBeGreaterThan(FDBK_TANH);
    expect(d).toBeGreaterThan(DIFF_TANH);
  });

  it('LRA-fdbk learns from all-zero weights', async () => {
    const acc = await accuracy({ ...small, rule: lraFdbkEntry.create(), data: digits, activation: 'tanh', kernelInit: 'zero', optimizer: fdbk.optimizer });
    expect(acc).toBeGreaterThan(FDBK_ZERO);
  });

  it('LRA-fdbk learns with LWTA units (blocks of 4)', async () => {
    const acc = await accuracy({ ...small, rule: lraFdbkEntry.create(), data: digits, activation: lwta({ blockSize: 4 }), optimizer: fdbk.optimizer });
    expect(acc).toBeGreaterThan(FDBK_LWTA);
  });

  // binary units: σ′ ≤ ¼ shrinks every hop (β 1, lr ×4), and their ±1/0-1 inputs make update norms large, where c₁ slows them
  it('LRA-fdbk learns with Bernoulli units, sampled at test time too (β 1, lr ×4, c₁ off)', async () => {
    const acc = await accuracy({
      ...small,
      rule: lraFdbkEntry.create({ beta: 1, c1: null }),
      data: digits,
      activation: bernoulli(),
      optimizer: { ...fdbk.optimizer, lr: fdbk.optimizer.lr * 4 },
    });
    expect(acc).toBeGreaterThan(FDBK_BERNOULLI);
  });

  it.each([
    ['relu6', { normal: 0.01 }, {}, RELU6_SMALL], // relu6′(0) = 0 in core: from exact zeros nothing moves
    ['softplus', 'zero', {}, SOFTPLUS_ZERO],
    ['sign', 'zero', { c1: null }, SIGN_ZERO], // straight-through surrogate 1_{|a|≤1}; targets only flip signs
  ] as const)('LRA-fdbk learns with %s units from init %j, options %j', async (activation, kernelInit, options, threshold) => {
    const acc = await accuracy({ ...small, rule: lraFdbkEntry.create(options), data: digits, activation, kernelInit, optimizer: fdbk.optimizer });
    expect(acc).toBeGreaterThan(threshold);
  });
});

describe('the issue target: Fashion-MNIST 784-256-256-10 tanh, 10000/2000, 3 epochs, seed 7, defaults', () => {
  it.for([
    ['lra-fdbk', lraFdbkEntry],
    ['lra-diff', lraDiffEntry],
  ] as const)('%s reaches ≥ 0.79 test accuracy (the issue target is 0.72)', async ([, entry], ctx) => {
    const data = await realDataOrSkip('fashion-mnist', { limitTrain: 10000, limitTest: 2000 }, ctx);
    if (!data) return;
    const acc = await accuracy({
      rule: entry.create(),
      data,
      hidden: [256, 256],
      activation: entry.defaults.activation,
      kernelInit: entry.defaults.kernelInit,
      optimizer: entry.defaults.optimizer,
      epochs: 3,
      seed: 7,
    });
    expect(acc).toBeGreaterThanOrEqual(Math.max(ISSUE_TARGET, FASHION_FLOOR));
  });
});
