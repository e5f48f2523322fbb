import { activation, conv2d, dense, locallyConnected2d, preset, residual, resolveBackend, sequential, type Network } from '@bioprop/core';
import { checkLossFalls, runConformance } from '@bioprop/testing';
import { beforeAll, describe, it } from 'vitest';
import { lraDiff, lraDiffEntry, lraFdbk, lraFdbkEntry } from './index.js';

/** A residual block in the middle: targets cannot be split between its two branches, so LRA refuses it. */
const residualNet = (): Network =>
  sequential({
    inputShape: [20],
    layers: [dense({ units: 8, activation: 'tanh' }), residual({ body: [dense({ units: 8 }), activation('tanh')] }), dense({ units: 5 })],
    seed: 1,
  });
const unsupported = { network: residualNet, match: /module add_1 \(add\)/ };

runConformance({ name: 'lra-fdbk (defaults)', createRule: () => lraFdbkEntry.create(), optimizer: lraFdbkEntry.defaults.optimizer, unsupported });
runConformance({ name: 'lra-diff (defaults)', createRule: () => lraDiffEntry.create(), optimizer: lraDiffEntry.defaults.optimizer, unsupported });
runConformance({
  name: 'lra-fdbk K = 4, updates from the forward pass',
  createRule: () => lraFdbk({ k: 4, updateFrom: 'forward' }),
  optimizer: lraFdbkEntry.defaults.optimizer,
  unsupported,
});
runConformance({ name: 'lra-diff K = 3, Cauchy output', createRule: () => lraDiff({ k: 3, outputLoss: 'cauchy' }), optimizer: lraDiffEntry.defaults.optimizer, unsupported });

/** Images through a convolution and a locally connected layer: E_l is shaped like each kernel, used through backwardInput. */
const convNet = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      conv2d({ filters: 4, kernelSize: 3, activation: 'tanh' }),
      locallyConnected2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      dense({ units: 5 }),
    ],
    seed,
  });
runConformance({ name: 'lra-fdbk on conv2d + locallyConnected2d', createRule: () => lraFdbkEntry.create(), optimizer: lraFdbkEntry.defaults.optimizer, network: convNet, unsupported });
runConformance({ name: 'lra-diff on conv2d + locallyConnected2d', createRule: () => lraDiffEntry.create(), optimizer: lraDiffEntry.defaults.optimizer, network: convNet, unsupported });

/** LeNet-5: zero padding, relu and max-pooling blocks, a flatten, a linear hidden layer (an empty block). */
const lenet5 = (seed: number): Network => sequential({ ...preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }), seed });
runConformance({ name: 'lra-diff on lenet5', createRule: () => lraDiffEntry.create(), optimizer: lraDiffEntry.defaults.optimizer, network: lenet5, unsupported });
// the defaults diverge on relu lenet5 (2.38 → 35.2 in the kit's 64 steps: README, "LeNet-5"); feedbackStd 0.2 trains it
// (loss ratio 0.06 here, 0.08–0.17 with seeds 2–4), 0.3 does on some seeds only
runConformance({
  name: 'lra-fdbk on lenet5 (feedbackStd 0.2)',
  createRule: () => lraFdbkEntry.create({ feedbackStd: 0.2 }),
  optimizer: lraFdbkEntry.defaults.optimizer,
  network: lenet5,
  unsupported,
});

// Bartunov et al.'s locally connected MNIST net (LC 3×3×32 s2, LC 3×3×64 s2, fc 1024, tanh): ≈ 0.7 s a step here, so
// the kit's loss-falls check alone, on a shorter budget (16 steps); measured ratios: fdbk 0.48, diff 0.002
describe('the locally connected preset bartunov-lc-mnist', () => {
  beforeAll(async () => {
    await resolveBackend('wasm');
  });
  const lcNet = (seed: number): Network => sequential({ ...preset('bartunov-lc-mnist').build({ inputShape: [28, 28, 1], classes: 10 }), seed });
  it.each([lraFdbkEntry, lraDiffEntry])('$id lowers the loss on the seeded task to ≤ 0.8 of its initial value in 16 steps', async (entry) => {
    await checkLossFalls({ createRule: () => entry.create(), optimizer: entry.defaults.optimizer, network: lcNet, lossFalls: { samples: 128, epochs: 4 } });
  }, 120_000);
});
