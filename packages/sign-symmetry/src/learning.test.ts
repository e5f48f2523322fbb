// Learning on a real-data subset, seeded: each sign-concordant rule with its defaults clears the bar backprop (with
// its own defaults) must clear, and stays within a few points of backprop.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTrainer, dense, resolveBackend, resolveOptimizer, sequential, type Rule, type RuleDefaults } from '@bioprop/core';
import { backprop, backpropDefaults } from '@bioprop/backprop';
import { realDataOrSkip } from '@bioprop/datasets/node';
import { brsfEntry, frsfEntry, usfEntry } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

describe('sign-concordant feedback learns Fashion-MNIST (6000 train, 1000 test, 784-256-256-10 tanh, 3 epochs, seed 7)', () => {
  const THRESHOLD = 0.78;
  const run = async (ctx: { skip(note?: string): unknown }, rule: Rule, defaults: RuleDefaults) => {
    const data = await realDataOrSkip('fashion-mnist', { limitTrain: 6000, limitTest: 1000 }, ctx);
    if (!data) return Number.NaN;
    const network = sequential({
      inputShape: [784],
      layers: [
        dense({ units: 256, activation: 'tanh', kernelInit: defaults.kernelInit }),
        dense({ units: 256, activation: 'tanh', kernelInit: defaults.kernelInit }),
        dense({ units: 10, kernelInit: defaults.kernelInit }),
      ],
      seed: 7,
    });
    const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(defaults.optimizer), seed: 7 });
    await trainer.fit(data.train, { epochs: 3, batchSize: defaults.batchSize });
    const accuracy = trainer.evaluate(data.test).accuracy;
    trainer.dispose();
    network.dispose();
    return accuracy;
  };

  let bp = Number.NaN;
  it(`backprop (its defaults) reaches ${THRESHOLD}`, async (ctx) => {
    bp = await run(ctx, backprop(), backpropDefaults);
    console.log(`[bp] fashion-mnist subset accuracy ${bp.toFixed(4)}`);
    expect(bp).toBeGreaterThanOrEqual(THRESHOLD);
  });

  for (const entry of [usfEntry, brsfEntry, frsfEntry]) {
    it(`${entry.id} (its defaults) reaches ${THRESHOLD}, within 3 points of backprop`, async (ctx) => {
      const accuracy = await run(ctx, entry.create(), entry.defaults);
      console.log(`[${entry.id}] fashion-mnist subset accuracy ${accuracy.toFixed(4)}`);
      expect(accuracy).toBeGreaterThanOrEqual(THRESHOLD);
      if (Number.isFinite(bp)) expect(accuracy).toBeGreaterThanOrEqual(bp - 0.03);
    });
  }
});
