/**
 * One training step of every rule of every rule package, through the packages (each rule with its tuned optimizer
 * and default options), on each backend present here: cpu, wasm, blas (when its addon loads), tensorflow (when
 * @tensorflow/tfjs-node is installed). 784-256-256-10 tanh, batch 128, the embedded digits in turn. For ratios to
 * backprop that hold on a loaded machine use `pnpm step-ratio` (interleaved steps), not the differences of these means.
 */
import { createTrainer, resolveOptimizer, sequential, type Trainer } from '@bioprop/core';
import { bench, describe } from 'vitest';
import { presentBackends, useBackend, type BackendId } from '../src/backends.js';
import { disposeBatches, trainingBatches, type Batch } from '../src/data.js';
import { RULES } from '../src/rules.js';
import { archNetwork, parseArch } from '../src/step-ratio.js';

const ARCH = parseArch('784-256-256-10');
const BATCH = 128;
const { present, absent } = await presentBackends();
for (const a of absent) console.log(`${a.name}: not available (${a.why})`);

/** A trainer and batches made on `backend` when the bench starts, disposed when it ends. */
function fixture(backend: BackendId, id: string) {
  let state: { trainer: Trainer; batches: Batch[]; next: number } | null = null;
  return {
    setup: async () => {
      await useBackend(backend);
      if (state) return;
      const { entry } = RULES.get(id)!;
      const { inputShape, classes, layers } = archNetwork(ARCH);
      const network = sequential({ inputShape, layers, seed: 1 });
      const trainer = createTrainer({ network, rule: entry.create(), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(entry.defaults.optimizer as never), seed: 1 });
      const { batches } = await trainingBatches({ inputShape, classes, batchSize: BATCH, count: 20 });
      state = { trainer, batches, next: 0 };
    },
    step: () => {
      const s = state!;
      const { x, y } = s.batches[s.next++ % s.batches.length];
      s.trainer.step(x, y);
    },
    teardown: (_task: unknown, mode: 'warmup' | 'run') => {
      if (mode !== 'run' || !state) return;
      state.trainer.dispose();
      state.trainer.network.dispose();
      disposeBatches(state.batches);
      state = null;
    },
  };
}

for (const backend of present) {
  describe(`one training step on ${backend}, ${ARCH.label} tanh, batch ${BATCH}, each rule's tuned optimizer`, () => {
    for (const [id, { package: pkg }] of RULES) {
      const f = fixture(backend, id);
      // the cpu backend takes a large fraction of a second a step: a few iterations say enough
      const timing = backend === 'cpu' ? { time: 0, iterations: 3, warmupIterations: 1 } : { time: 1000, warmupIterations: 5 };
      bench(`${id} (${pkg})`, f.step, { ...timing, setup: f.setup, teardown: f.teardown });
    }
  });
}
