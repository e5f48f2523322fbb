// The paper networks on blas, against their targets (one OpenBLAS thread, idle machine; the figures and how they were
// measured are in the README): one backprop step (batch 128, Adam) of LeNet-5 (≥ 13,500 samples/s, i.e. ≤ 9.5 ms)
// and ResNet-20 on 32×32×3 (≥ 200 samples/s, ≤ 640 ms), and a Trainer.fit epoch of the 784-256-256-10 MLP after the
// first (≥ 65,000 samples/s, ≤ 0.92 s for 60,000 samples). `scripts/networks.ts` prints the same as JSON.
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import '../src/index.js';
import { BATCH, TARGETS, epochData, mlpTrainer, presetStep, type StepFixture } from './networks.js';

function stepBench(name: 'lenet5' | 'resnet20') {
  let fixture: StepFixture | null = null;
  return {
    setup: async () => {
      await tf.setBackend('blas');
      fixture ??= presetStep(name);
    },
    step: () => fixture!.step(),
  };
}

describe(`one backprop step on blas, batch ${BATCH}, Adam`, () => {
  const lenet = stepBench('lenet5');
  bench(`lenet5 28×28×1 (target ≤ ${((BATCH / TARGETS.lenet5) * 1000).toFixed(1)} ms)`, lenet.step, { setup: lenet.setup, time: 3000, warmupIterations: 5 });
  const resnet = stepBench('resnet20');
  bench(`resnet20 32×32×3 (target ≤ ${((BATCH / TARGETS.resnet20) * 1000).toFixed(0)} ms)`, resnet.step, { setup: resnet.setup, time: 0, iterations: 6, warmupIterations: 2 });
});

describe('Trainer.fit epoch of 784-256-256-10 tanh bp on blas, 60,000 samples, batch 128', () => {
  let state: { fit: () => Promise<unknown> } | null = null;
  bench(
    `one epoch after the first (target ≤ ${((60_000 / TARGETS.mlpEpoch) * 1000).toFixed(0)} ms)`,
    async () => {
      await state!.fit();
    },
    {
      setup: async () => {
        await tf.setBackend('blas');
        if (state) return;
        const { data } = await epochData();
        const trainer = mlpTrainer();
        let epochs = 1;
        await trainer.fit(data, { epochs, batchSize: BATCH });
        state = { fit: () => trainer.fit(data, { epochs: ++epochs, batchSize: BATCH }) };
      },
      time: 0,
      iterations: 4,
      warmupIterations: 0,
    },
  );
});
