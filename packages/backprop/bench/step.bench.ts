import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, dense, momentum, randomStream, resolveBackend, sequential, type Trainer } from '@bioprop/core';
import { bench, describe } from 'vitest';
import { backprop } from '../src/index.js';

// One backprop training step, 784-256-256-10 tanh, batch 128, on every backend installed here.
const BATCH = 128;

/** A trainer and one batch on the given backend. */
async function prepare(name: 'cpu' | 'wasm' | 'blas' | 'tensorflow') {
  await resolveBackend(name);
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
    seed: 1,
  });
  const trainer = createTrainer({ network, rule: backprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.01 }) });
  const x = tf.tensor(randomStream(1).uniformArray(BATCH * 784), [BATCH, 784]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10);
  trainer.step(x, y);
  return { trainer, x, y };
}

// only the backends installed here get a bench row (the others are named on the console)
const installed: ('cpu' | 'wasm' | 'blas' | 'tensorflow')[] = [];
for (const name of ['cpu', 'wasm', 'blas', 'tensorflow'] as const) {
  try {
    await resolveBackend(name);
    installed.push(name);
  } catch (e) {
    console.log(`${name}: not available (${(e as Error).message.split('. ')[0]})`);
  }
}

describe(`backprop step, 784-256-256-10 tanh, batch ${BATCH}`, () => {
  for (const name of installed) {
    let run: Awaited<ReturnType<typeof prepare>> | null = null;
    let ms = 0;
    let steps = 0;
    bench(
      name,
      () => {
        if (!run) return;
        const t0 = performance.now();
        run.trainer.step(run.x, run.y);
        ms += performance.now() - t0;
        steps++;
      },
      {
        time: name === 'cpu' ? 3000 : 2000,
        iterations: 3,
        setup: async (_task, mode) => {
          if (mode === 'warmup' || run) return;
          run = await prepare(name);
        },
        teardown: (_task, mode) => {
          if (mode === 'warmup' || !run || steps === 0) return;
          const per = ms / steps;
          console.log(`${name}: ${per.toFixed(2)} ms/step, ${Math.round((BATCH * 1000) / per)} samples/s`);
          run.trainer.dispose();
          tf.dispose([run.x, run.y]);
          run = null;
        },
      },
    );
  }
});
