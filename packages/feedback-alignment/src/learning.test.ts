// Learning on Lillicrap's linear Task 1 and on a real-data subset, seeded.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  dense,
  resolveBackend,
  resolveOptimizer,
  sequential,
  sgd,
  type Network,
  type OptimizerConfig,
  type Rule,
  type RuleDefaults,
} from '@bioprop/core';
import { backprop, backpropDefaults } from '@bioprop/backprop';
import { linearTask } from '@bioprop/datasets';
import { realDataOrSkip } from '@bioprop/datasets/node';
import { faDefaults, feedbackAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

describe('feedback alignment learns', () => {
  it('Lillicrap Task 1 (30-20-10 linear, MSE, y = Tx): test error falls by 10× or more in 3 epochs', async () => {
    const task = linearTask({ seed: 1, trainCount: 1000, testCount: 200 });
    // methods.md: W ~ U[−0.01, 0.01], B ~ U[−0.5, 0.5]
    const network = sequential({
      inputShape: [30],
      layers: [dense({ units: 20, kernelInit: { uniform: 0.01 }, useBias: false }), dense({ units: 10, kernelInit: { uniform: 0.01 }, useBias: false })],
      seed: 1,
    });
    const trainer = createTrainer({ network, rule: feedbackAlignment({ feedbackInit: { uniform: 0.5 } }), loss: 'mse', optimizer: sgd({ lr: 0.005 }), seed: 1 });
    const before = trainer.evaluate(task.test).loss;
    await trainer.fit(task.train, { epochs: 3, batchSize: 20 });
    const after = trainer.evaluate(task.test).loss;
    console.log(`[fa] linear task 1: test MSE ${before.toFixed(3)} → ${after.toFixed(4)} (${(before / after).toFixed(1)}× lower)`);
    expect(before / after).toBeGreaterThanOrEqual(10);
    trainer.dispose();
    network.dispose();
  });

  describe('on a Fashion-MNIST subset (6000 train, 1000 test, 784-256-256-10 tanh, 3 epochs, seed 7)', () => {
    // the bar backprop must also clear, so the comparison is like for like
    const THRESHOLD = 0.75;
    const net = (d: RuleDefaults | { kernelInit: RuleDefaults['kernelInit'] }): Network =>
      sequential({
        inputShape: [784],
        layers: [
          dense({ units: 256, activation: 'tanh', kernelInit: d.kernelInit }),
          dense({ units: 256, activation: 'tanh', kernelInit: d.kernelInit }),
          dense({ units: 10, kernelInit: d.kernelInit }),
        ],
        seed: 7,
      });
    const run = async (ctx: { skip(note?: string): unknown }, rule: Rule, optimizer: OptimizerConfig, kernelInit: RuleDefaults['kernelInit']) => {
      const data = await realDataOrSkip('fashion-mnist', { limitTrain: 6000, limitTest: 1000 }, ctx);
      if (!data) return NaN;
      const network = net({ kernelInit });
      const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizer as never), seed: 7 });
      await trainer.fit(data.train, { epochs: 3, batchSize: 128 });
      const acc = trainer.evaluate(data.test).accuracy;
      trainer.dispose();
      network.dispose();
      return acc;
    };

    it(`backprop (its defaults) reaches ${THRESHOLD}`, async (ctx) => {
      const acc = await run(ctx, backprop(), backpropDefaults.optimizer, backpropDefaults.kernelInit);
      console.log(`[bp] fashion-mnist subset accuracy ${acc.toFixed(4)}`);
      expect(acc).toBeGreaterThanOrEqual(THRESHOLD);
    });

    it(`feedback alignment (its defaults) reaches ${THRESHOLD}`, async (ctx) => {
      const acc = await run(ctx, feedbackAlignment(), faDefaults.optimizer, faDefaults.kernelInit);
      console.log(`[fa] fashion-mnist subset accuracy ${acc.toFixed(4)}`);
      expect(acc).toBeGreaterThanOrEqual(THRESHOLD);
    });

    it(`sparse feedback alignment (50% of W and B zeroed) reaches ${THRESHOLD - 0.05}`, async (ctx) => {
      const rule = feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 });
      const acc = await run(ctx, rule, faDefaults.optimizer, faDefaults.kernelInit);
      console.log(`[sparse fa] fashion-mnist subset accuracy ${acc.toFixed(4)}`);
      expect(acc).toBeGreaterThanOrEqual(THRESHOLD - 0.05);
    });
  });
});
