// Every rule the project ships, a few asynchronous steps on webgpu (the software adapter in CI: small nets, bounded
// time), against the same steps on cpu: no synchronous read inside any rule, no tensor leaked, the same losses.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrainer, dense, resolveOptimizer, sequential, randomSource, type RuleEntry } from '@bioprop/core';
import { rules as backpropRules } from '@bioprop/backprop';
import { rules as faRules } from '@bioprop/feedback-alignment';
import { rules as dfaRules } from '@bioprop/direct-feedback-alignment';
import { rules as learnedRules } from '@bioprop/learned-feedback';
import { rules as lraRules } from '@bioprop/lra';
import { rules as tpRules } from '@bioprop/target-propagation';
import { rules as signRules } from '@bioprop/sign-symmetry';
import { registerWebGPU } from './index.js';

let unavailable = '';
try {
  await registerWebGPU({ allowSoftware: true });
} catch (err) {
  unavailable = (err as Error).message;
}
if (unavailable && process.env.CI === 'true') throw new Error(`CI=true and no WebGPU adapter (CI installs Mesa): ${unavailable}`);

const ENTRIES: readonly RuleEntry[] = [...backpropRules, ...faRules, ...dfaRules, ...learnedRules, ...lraRules, ...tpRules, ...signRules];
const STEPS = 3;
/** Losses of the same steps on webgpu and cpu, relative (llvmpipe; the largest measured is in the README). */
const LOSS_REL = 1e-4;

/** `STEPS` stepAsync calls of the rule's defaults on a 16-12-10-4 net; losses, and the tensors left after each step. */
async function run(backend: string, entry: RuleEntry) {
  await tf.setBackend(backend);
  const random = randomSource(11);
  const act = entry.defaults.activation;
  const network = sequential({ inputShape: [16], layers: [dense({ units: 12, activation: act }), dense({ units: 10, activation: act }), dense({ units: 4 })], random });
  const trainer = createTrainer({ network, rule: entry.create(), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(entry.defaults.optimizer as never), random });
  const s = randomSource(12).stream('data');
  const x = tf.tensor(s.normalArray(8 * 16), [8, 16]);
  const labels = new Float32Array(8 * 4);
  for (let i = 0; i < 8; i++) labels[i * 4 + (i % 4)] = 1;
  const y = tf.tensor(labels, [8, 4]);
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    losses.push(await trainer.stepAsync(x, y));
    tensors.push(tf.memory().numTensors);
  }
  tf.dispose([x, y]);
  trainer.dispose();
  network.dispose();
  return { losses, tensors };
}

describe.skipIf(unavailable !== '')(`every rule on webgpu, ${STEPS} asynchronous steps against cpu${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each(ENTRIES.map((e) => [e.id, e] as const))('%s', async (_, entry) => {
    const gpu = await run('webgpu', entry);
    const cpu = await run('cpu', entry);
    const rel = gpu.losses.map((l, i) => Math.abs(l - cpu.losses[i]) / Math.max(Math.abs(cpu.losses[i]), 1e-12));
    console.info(`${entry.id}: loss rel. diff max ${Math.max(...rel).toExponential(2)}`);
    for (const r of rel) expect(r).toBeLessThan(LOSS_REL);
    // after the first step (state made lazily), a step leaves no tensor behind
    expect(gpu.tensors[STEPS - 1]).toBe(gpu.tensors[1]);
  });
});
