/**
 * Finds direct feedback alignment's (and, under the same budget, backprop's) defaults by measurement.
 * Budget: Fashion-MNIST, 784-256-256-10 tanh, softmax cross-entropy, limit-train 10000, limit-test 2000,
 * 3 epochs, batch 128, seed 7, wasm backend.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/direct-feedback-alignment/sweep.ts [--rule dfa|bp|all] [--grid main|refine|defaults] [--seeds 7,8,9] [--out file.json]
 *
 * `main` is the coarse grid (seed 7); `refine` re-runs the best of it and their neighbours over several seeds;
 * `defaults` runs backprop and this rule with the packages' exported defaults (the issue's target check).
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import {
  angleDeg,
  backpropSignals,
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  resolveOptimizer,
  sequential,
  softmaxCrossEntropyLoss,
  stepContext,
  type InitializerLike,
  type OptimizerConfig,
  type Rule,
} from '@bioprop/core';
import { backprop, backpropDefaults } from '@bioprop/backprop';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { dfaDefaults, directFeedbackAlignment, directFeedbackAlignmentOptions, type DirectFeedbackInit } from '@bioprop/direct-feedback-alignment';

interface Config {
  rule: 'dfa' | 'bp';
  optimizer: OptimizerConfig;
  kernelInit: InitializerLike;
  feedbackInit?: DirectFeedbackInit;
}

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const which = arg('rule', 'all');
const out = arg('out', '');
const grid = arg('grid', 'main');
const seeds = arg('seeds', '7').split(',').map(Number);

const optimizers: OptimizerConfig[] = [
  { name: 'momentum', lr: 0.01, momentum: 0.9 },
  { name: 'momentum', lr: 0.03, momentum: 0.9 },
  { name: 'momentum', lr: 0.1, momentum: 0.9 },
  { name: 'adam', lr: 3e-4 },
  { name: 'adam', lr: 1e-3 },
];
const configs: Config[] = [];
const m = (lr: number): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9 });
if (grid === 'main') {
  if (which === 'bp' || which === 'all') {
    for (const optimizer of optimizers) configs.push({ rule: 'bp', optimizer, kernelInit: 'glorot' });
  }
  if (which === 'dfa' || which === 'all') {
    // adaptive optimizers are invariant to D's overall scale, so only the momentum runs vary it
    const dfaOptimizers: OptimizerConfig[] = [
      { name: 'momentum', lr: 0.01, momentum: 0.9 },
      { name: 'momentum', lr: 0.03, momentum: 0.9 },
      { name: 'adam', lr: 3e-4 },
      { name: 'adam', lr: 1e-3 },
      { name: 'rmsprop', lr: 1e-4 },
      { name: 'rmsprop', lr: 3e-4 },
    ];
    for (const optimizer of dfaOptimizers) {
      for (const kernelInit of ['zero', 'glorot'] as InitializerLike[]) {
        const inits: DirectFeedbackInit[] = optimizer.name === 'momentum' ? ['fanInUniform', { uniform: 0.05 }] : ['fanInUniform'];
        for (const feedbackInit of inits) configs.push({ rule: 'dfa', optimizer, kernelInit, feedbackInit });
      }
    }
  }
} else if (grid === 'defaults') {
  configs.push({ rule: 'bp', optimizer: backpropDefaults.optimizer, kernelInit: backpropDefaults.kernelInit });
  configs.push({ rule: 'dfa', optimizer: dfaDefaults.optimizer, kernelInit: dfaDefaults.kernelInit, feedbackInit: directFeedbackAlignmentOptions.parse({}, 'dfa').feedbackInit });
} else {
  if (which === 'bp' || which === 'all') configs.push({ rule: 'bp', optimizer: m(0.03), kernelInit: 'glorot' });
  if (which === 'dfa' || which === 'all') {
    for (const lr of [5e-4, 1e-3, 2e-3]) configs.push({ rule: 'dfa', optimizer: { name: 'adam', lr }, kernelInit: 'zero', feedbackInit: 'fanInUniform' });
    configs.push({ rule: 'dfa', optimizer: { name: 'adam', lr: 1e-3 }, kernelInit: 'glorot', feedbackInit: 'fanInUniform' });
    configs.push({ rule: 'dfa', optimizer: { name: 'rmsprop', lr: 1e-3 }, kernelInit: 'zero', feedbackInit: 'fanInUniform' });
    for (const lr of [0.01, 0.02]) configs.push({ rule: 'dfa', optimizer: m(lr), kernelInit: 'zero', feedbackInit: 'fanInUniform' });
  }
}

/** One run of the budget: train, test accuracy, and the rule's angle to backprop on a fixed probe batch after training. */
async function runOne(c: Config, seed: number, data: Awaited<ReturnType<typeof loadFashionMnist>>) {
  const t0 = performance.now();
  const network = sequential({
    inputShape: [784],
    layers: [
      dense({ units: 256, activation: 'tanh', kernelInit: c.kernelInit }),
      dense({ units: 256, activation: 'tanh', kernelInit: c.kernelInit }),
      dense({ units: 10, activation: 'linear', kernelInit: c.kernelInit }),
    ],
    seed,
  });
  const rule: Rule = c.rule === 'bp' ? backprop() : directFeedbackAlignment({ feedbackInit: c.feedbackInit });
  const trainer = createTrainer({ network, rule, loss: softmaxCrossEntropyLoss(), optimizer: resolveOptimizer(c.optimizer as never), seed });
  let acc = NaN;
  let trainLoss = NaN;
  let angles: number[] = [];
  try {
    const fit = await trainer.fit(data.train, { epochs: 3, batchSize: 128 });
    trainLoss = fit.epochs[fit.epochs.length - 1].trainLoss;
    acc = trainer.evaluate(data.test).accuracy;
    // the first 512 training samples, with the final weights
    angles = tf.tidy(() => {
      const n = 512;
      const x = tf.tensor(data.train.x.subarray(0, n * 784), [n, 784]);
      const y = tf.tensor(data.train.y.subarray(0, n * 10), [n, 10]);
      const trace = network.forward(x, { training: false });
      const ctx = stepContext({ network, trace, target: y, loss: trainer.loss, step: 0, epoch: 0, random: randomSource(0) });
      const result = trainer.boundRule.step(ctx);
      const bp = backpropSignals(network, trace, ctx);
      return result.signals.map((s, l) => angleDeg(s, bp[l]));
    });
  } catch (err) {
    console.error(`config ${JSON.stringify(c)} seed ${seed} failed: ${(err as Error).message}`);
  }
  trainer.dispose();
  network.dispose();
  return { acc, trainLoss, angles, seconds: (performance.now() - t0) / 1000 };
}

async function main() {
  const backend = await resolveBackend('wasm');
  console.error(`backend: ${backend.name} (${backend.reason})`);
  const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, download: false });
  const rows: Record<string, unknown>[] = [];
  console.log(`| rule | optimizer | kernelInit | feedbackInit | test acc (seed ${seeds.join(' / ')}) | mean | train loss | angle to BP per layer (°, seed ${seeds[0]}) | s |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const c of configs) {
    const runs = [];
    for (const seed of seeds) runs.push(await runOne(c, seed, data));
    const mean = runs.reduce((a, r) => a + r.acc, 0) / runs.length;
    const seconds = runs.reduce((a, r) => a + r.seconds, 0);
    rows.push({ ...c, seeds, testAccuracy: runs.map((r) => r.acc), meanAccuracy: mean, trainLoss: runs.map((r) => r.trainLoss), anglesDeg: runs[0].angles, seconds });
    const opt = `${c.optimizer.name} ${c.optimizer.lr}`;
    console.log(
      `| ${c.rule} | ${opt} | ${JSON.stringify(c.kernelInit)} | ${c.feedbackInit ? JSON.stringify(c.feedbackInit) : '—'} | ${runs.map((r) => r.acc.toFixed(4)).join(' / ')} | ${mean.toFixed(4)} | ${runs[0].trainLoss.toFixed(4)} | ${runs[0].angles.map((a) => a.toFixed(1)).join(' / ')} | ${seconds.toFixed(0)} |`,
    );
  }
  if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
