// Learning on real data, seeded: a Fashion-MNIST subset, and a 7-hidden-layer tanh net from zero weights on digits.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  dense,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type InitializerLike,
  type Network,
  type OptimizerConfig,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { backprop, backpropDefaults } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
import { realDataOrSkip } from '@bioprop/datasets/node';
import { dfaDefaults, directFeedbackAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const mlp = (hidden: number[], kernelInit: InitializerLike, seed: number): Network =>
  sequential({
    inputShape: [784],
    layers: [...hidden.map((units) => dense({ units, activation: 'tanh', kernelInit })), dense({ units: 10, kernelInit })],
    seed,
  });

async function train(network: Network, rule: Rule, optimizer: OptimizerConfig, data: { train: TrainData; test: TrainData }, epochs: number, seed: number) {
  const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizer as never), seed });
  await trainer.fit(data.train, { epochs, batchSize: 128 });
  const acc = trainer.evaluate(data.test).accuracy;
  trainer.dispose();
  network.dispose();
  return acc;
}

describe('on a Fashion-MNIST subset (6000 train, 1000 test, 784-256-256-10 tanh, 3 epochs, seed 7)', () => {
  // the bar backprop must also clear, so the comparison is like for like
  const THRESHOLD = 0.75;

  it(`backprop (its defaults) reaches ${THRESHOLD}`, async (ctx) => {
    const data = await realDataOrSkip('fashion-mnist', { limitTrain: 6000, limitTest: 1000 }, ctx);
    if (!data) return;
    const acc = await train(mlp([256, 256], backpropDefaults.kernelInit, 7), backprop(), backpropDefaults.optimizer, data, 3, 7);
    console.log(`[bp] fashion-mnist subset accuracy ${acc.toFixed(4)}`);
    expect(acc).toBeGreaterThanOrEqual(THRESHOLD);
  });

  it(`direct feedback alignment (its defaults) reaches ${THRESHOLD}`, async (ctx) => {
    const data = await realDataOrSkip('fashion-mnist', { limitTrain: 6000, limitTest: 1000 }, ctx);
    if (!data) return;
    const acc = await train(mlp([256, 256], dfaDefaults.kernelInit, 7), directFeedbackAlignment(), dfaDefaults.optimizer, data, 3, 7);
    console.log(`[dfa] fashion-mnist subset accuracy ${acc.toFixed(4)}`);
    expect(acc).toBeGreaterThanOrEqual(THRESHOLD);
  });
});

describe('a 7-hidden-layer tanh net 784-(240×7)-10 from all-zero forward weights (digits, 6000 train, 1000 test, 3 epochs, DFA’s defaults)', () => {
  const hidden = Array.from({ length: 7 }, () => 240);

  it('DFA trains it (test accuracy ≥ 0.80); backprop from the same zero weights stays near chance', async () => {
    const data = await loadDigits({ limitTrain: 6000, limitTest: 1000 });
    const dfaNet = mlp(hidden, 'zero', 7);
    expect(dfaNet.layers.every((l) => l.params.kernel.dataSync().every((v) => v === 0))).toBe(true);
    const dfa = await train(dfaNet, directFeedbackAlignment(), dfaDefaults.optimizer, data, 3, 7);
    // with zero weights every hidden unit is 0 and backprop's Wᵀδ is 0: only the top bias can learn
    // (no amount of training changes that, so a short run shows it)
    const few = { train: { ...data.train, count: 512, x: data.train.x.subarray(0, 512 * 784), y: data.train.y.subarray(0, 512 * 10) }, test: data.test };
    const bp = await train(mlp(hidden, 'zero', 7), backprop(), dfaDefaults.optimizer, few, 1, 7);
    console.log(`[dfa] 7×240 tanh from zero weights: dfa ${dfa.toFixed(4)}, bp ${bp.toFixed(4)} (digits subset)`);
    expect(dfa).toBeGreaterThanOrEqual(0.8);
    expect(bp).toBeLessThan(0.25);
  });
});
