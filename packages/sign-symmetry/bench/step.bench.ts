// One training step of uSF, brSF and frSF, 784-256-256-10 tanh, batch 128, on wasm, beside backprop written from
// core's pieces (no published package depends on its siblings for its benches; interleaved step-time ratios to
// @bioprop/backprop belong in the private integration package).
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { adam, createTrainer, deltaFromSignal, dense, layerwise, randomStream, resolveBackend, sequential, type Rule } from '@bioprop/core';
import { batchwiseRandomSignFeedback, fixedRandomSignFeedback, uniformSignFeedback } from '../src/index.js';

await resolveBackend('wasm');

const BATCH = 128;
/** Backprop from core's pieces: the kernel itself sent down (the reference row). */
const backpropHere = (): Rule =>
  layerwise({
    id: 'bp',
    name: 'backprop',
    options: {},
    usesSignal: true,
    step(ctx) {
      const delta = deltaFromSignal(ctx);
      const { layer, layerTrace } = ctx;
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined,
      };
    },
  });
const trainerFor = (rule: Rule) =>
  createTrainer({
    network: sequential({
      inputShape: [784],
      layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
      seed: 1,
    }),
    rule,
    loss: 'softmaxCrossEntropy',
    optimizer: adam({ lr: 1e-3 }),
    seed: 1,
  });
// 8 seeded batches in turn: one batch repeated is memorized, and its vanishing errors turn into slow denormals
const stream = randomStream(1);
const batches = Array.from({ length: 8 }, (_, b) => [
  tf.tensor(stream.uniformArray(BATCH * 784), [BATCH, 784]),
  tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => (i * 7 + b) % 10), 'int32'), 10),
] as const);
let next = 0;

describe(`sign-concordant feedback: one training step, 784-256-256-10 tanh, batch ${BATCH}, wasm`, () => {
  for (const [id, rule] of [
    ['backprop (reference)', backpropHere()],
    ['usf', uniformSignFeedback()],
    ['usf (scale none)', uniformSignFeedback({ scale: 'none' })],
    ['brsf', batchwiseRandomSignFeedback()],
    ['frsf', fixedRandomSignFeedback()],
  ] as const) {
    const trainer = trainerFor(rule);
    bench(id, () => void trainer.step(...batches[next++ % batches.length]), { time: 2000, warmupIterations: 5 });
  }
});
