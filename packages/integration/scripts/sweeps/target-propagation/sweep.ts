/**
 * Finds the TP family's defaults by measurement, as a coordinate search (frugal: the machine is shared).
 * Budget: Fashion-MNIST, 784-256-256-10 tanh (Glorot), softmax cross-entropy, limit-train 10000, limit-test 2000,
 * 3 epochs, batch 128, seed 7, wasm backend, Adam for the forward weights.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/target-propagation/sweep.ts [--rule dtp,sdtp,ao-sdtp,tp] [--out sweep.json]
 *
 * Stages per rule: (1) forward lr; (2) noise σ × inverse lr; (3) α (TP, DTP) or auxUnits (AO-SDTP);
 * (4) the alternating schedule at the chosen values, for the record.
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
} from '@bioprop/core';
import type { DatasetSplits } from '@bioprop/datasets';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { rules as targetPropagationEntries, type AuxiliaryOutputSdtpConfig as ResolvedOptions, type TargetPropagationVariant } from '@bioprop/target-propagation';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rules = arg('rule', 'dtp,sdtp,ao-sdtp,tp').split(',') as TargetPropagationVariant[];
const out = arg('out', '');

interface Row {
  rule: string;
  stage: string;
  lr: number;
  options: Partial<ResolvedOptions>;
  testAccuracy: number;
  trainLoss: number;
  anglesDeg: number[];
  seconds: number;
}

async function run(data: DatasetSplits, rule: TargetPropagationVariant, stage: string, lr: number, options: Partial<ResolvedOptions>): Promise<Row> {
  const t0 = performance.now();
  const network = sequential({
    inputShape: [784],
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
    seed: 7,
  });
  const entry = targetPropagationEntries.find((e) => e.id === rule)!;
  const trainer = createTrainer({ network, rule: entry.create(options), loss: softmaxCrossEntropyLoss(), optimizer: resolveOptimizer({ name: 'adam', lr }), seed: 7 });
  let acc = NaN;
  let trainLoss = NaN;
  let angles: number[] = [];
  try {
    const fit = await trainer.fit(data.train, { epochs: 3, batchSize: 128 });
    trainLoss = fit.epochs[fit.epochs.length - 1].trainLoss;
    acc = trainer.evaluate(data.test).accuracy;
    // teaching-signal angle to backprop on a fixed probe batch, after training
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
    console.error(`${rule} ${JSON.stringify(options)} failed: ${(err as Error).message}`);
  }
  trainer.dispose();
  network.dispose();
  const row = { rule, stage, lr, options, testAccuracy: acc, trainLoss, anglesDeg: angles, seconds: (performance.now() - t0) / 1000 };
  console.log(
    `| ${rule} | ${stage} | ${lr} | ${JSON.stringify(options)} | ${acc.toFixed(4)} | ${trainLoss.toFixed(4)} | ${angles.map((a) => a.toFixed(1)).join(' / ')} | ${row.seconds.toFixed(0)} |`,
  );
  return row;
}

async function main() {
  const backend = await resolveBackend('wasm');
  console.error(`backend: ${backend.name} (${backend.reason})`);
  const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, download: false });
  const rows: Row[] = [];
  console.log('| rule | stage | forward lr | options | test acc | train loss (epoch 3) | angle to BP per layer (°) | s |');
  console.log('|---|---|---|---|---|---|---|---|');
  const best = (rs: Row[]) => rs.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
  for (const rule of rules) {
    const d = targetPropagationEntries.find((e) => e.id === rule)!.options.parse({}, rule) as ResolvedOptions;
    const stage1: Row[] = [];
    for (const lr of [1e-4, 3e-4, 1e-3, 3e-3]) stage1.push(await run(data, rule, 'lr', lr, {}));
    rows.push(...stage1);
    const lr = best(stage1).lr;
    const stage2: Row[] = [best(stage1)];
    for (const noise of [0.01, 0.1, 0.3]) {
      for (const invLr of [3e-4, 1e-3, 3e-3]) {
        if (noise === d.noise && invLr === d.inverseOptimizer.lr) continue;
        stage2.push(await run(data, rule, 'σ, inverse lr', lr, { noise, inverseOptimizer: { name: 'adam', lr: invLr } }));
      }
    }
    rows.push(...stage2.slice(1));
    let chosen = best(stage2);
    const stage3: Row[] = [chosen];
    if (rule === 'dtp' || rule === 'tp') {
      for (const alpha of [0.01, 0.05, 0.2]) stage3.push(await run(data, rule, 'α', lr, { ...chosen.options, alpha }));
    } else if (rule === 'ao-sdtp') {
      for (const auxUnits of [64, 512]) stage3.push(await run(data, rule, 'auxUnits', lr, { ...chosen.options, auxUnits }));
    }
    rows.push(...stage3.slice(1));
    chosen = best(stage3);
    rows.push(await run(data, rule, 'alternating', lr, { ...chosen.options, schedule: 'alternating' }));
    console.log(`chosen ${rule}: lr ${chosen.lr} ${JSON.stringify(chosen.options)} → ${chosen.testAccuracy.toFixed(4)}`);
    if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
