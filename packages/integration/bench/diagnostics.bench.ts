// What @bioprop/diagnostics costs next to the training step it measures (wasm backend, 784-256-256-10 tanh, batch 128,
// feedback alignment). Here, not in the diagnostics package: it needs a rule package and the embedded digits.
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { createTrainer, dense, momentum, randomSource, resolveBackend, sequential, stepContext } from '@bioprop/core';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { loadDigits } from '@bioprop/datasets';
import { alignmentCondition, probeAlignment, signalAngles, weightAlignment } from '@bioprop/diagnostics';

await resolveBackend('wasm');

const BATCH = 128;
const network = sequential({
  inputShape: [784],
  layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
  seed: 1,
});
const trainer = createTrainer({ network, rule: feedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.01, momentum: 0.9 }), seed: 1 });
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

describe(`feedback alignment, 784-256-256-10 tanh, batch ${BATCH}`, () => {
  const options = { time: 3000, warmupIterations: 10 };
  bench('training step', () => void trainer.step(...batch()), options);
  bench('signalAngles + weightAlignment + eᵀWBe on a step (step-mode recorder)', () => {
    const [x, y] = batch();
    tf.tidy(() => {
      const trace = network.forward(x);
      const ctx = stepContext({ network, trace, target: y, loss: trainer.loss, step: 0, epoch: 0, random: randomSource(0) });
      const result = trainer.boundRule.step(ctx);
      signalAngles(network, trace, result, ctx);
      weightAlignment(network, trainer.boundRule);
      alignmentCondition(network, trainer.boundRule, ctx.outputError);
    });
  }, options);
  bench('probeAlignment (epoch-mode recorder)', () => {
    const [x, y] = batch();
    probeAlignment({ network, boundRule: trainer.boundRule, loss: trainer.loss, input: x, target: y });
  }, options);
});
