// One training step of the 784-1000-10 tanh network (batch 128) per backend and rule, in one run: cpu (pure JS),
// wasm (explicit transposes, as core's dense layer does) and blas (when its addon loads). The JSON report with
// samples/s, sgemm efficiency and the epoch figure is `pnpm --filter @bioprop/integration blas-report`.
import { bench, describe } from 'vitest';
import { blasProblem, useBackend, type BackendId } from '../src/backends.js';
import { denseBatch, denseTrainer } from '../src/dense-workloads.js';
import type { DenseRuleKind } from '../src/flops.js';

const SIZES = [784, 1000, 10];
const BATCH = 128;
const problem = await blasProblem();
if (problem) console.log(`blas: not available (${problem})`);

/** A trainer and a batch made on `backend`, so no step moves data between backends. */
function fixture(backend: BackendId, rule: DenseRuleKind) {
  let state: { step: () => void } | null = null;
  return {
    setup: async () => {
      await useBackend(backend);
      if (!state) {
        const trainer = denseTrainer(SIZES, rule);
        const { x, y } = denseBatch(SIZES, BATCH);
        state = { step: () => void trainer.step(x, y) };
      }
    },
    step: () => state!.step(),
  };
}

describe(`one training step, ${SIZES.join('-')} tanh, batch ${BATCH}`, () => {
  for (const rule of ['bp', 'fa', 'dfa'] as const) {
    if (!problem) {
      const blas = fixture('blas', rule);
      bench(`blas ${rule}`, blas.step, { setup: blas.setup, time: 2000, warmupIterations: 5 });
    }
    const wasm = fixture('wasm', rule);
    bench(`wasm ${rule}`, wasm.step, { setup: wasm.setup, time: 2000, warmupIterations: 3 });
  }
  // the cpu backend takes about a second a step: a few iterations say enough
  const cpu = fixture('cpu', 'bp');
  bench('cpu bp', cpu.step, { setup: cpu.setup, time: 0, iterations: 3, warmupIterations: 1 });
});

