/**
 * The standard run with each rule's DEFAULTS (forward optimizer, batch size, rule options), next to backprop:
 * Fashion-MNIST, 784-256-256-10 tanh (Glorot), softmax cross-entropy, limit-train 10000, limit-test 2000, 3 epochs,
 * seed 7, wasm backend.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/target-propagation/standard-run.ts [ids, default tp,dtp,sdtp,ao-sdtp,bp] [options JSON] [lr]
 */
import '@tensorflow/tfjs-backend-wasm';
import { createTrainer, dense, resolveBackend, resolveOptimizer, sequential, softmaxCrossEntropyLoss, type OptimizerConfig } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { rules as targetPropagationEntries } from '@bioprop/target-propagation';

const args = process.argv.slice(2);
const ids = (args[0] ?? 'tp,dtp,sdtp,ao-sdtp,bp').split(',');
const extra = args[1] ? JSON.parse(args[1]) : {};
const lrOverride = args[2] ? Number(args[2]) : undefined;
await resolveBackend('wasm');
const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, download: false });
console.log('| rule | forward optimizer | rule options | test acc | train loss per epoch | ms/step |');
console.log('|---|---|---|---|---|---|');
for (const id of ids) {
  const entry = targetPropagationEntries.find((e) => e.id === id);
  // backprop runs with DTP's optimizer and batch, for comparison under the same budget
  const defaults = (entry ?? targetPropagationEntries.find((e) => e.id === 'dtp')!).defaults;
  const optimizer: OptimizerConfig = { ...defaults.optimizer, ...(lrOverride ? { lr: lrOverride } : {}) };
  const network = sequential({
    inputShape: [784],
    seed: 7,
    layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
  });
  const rule = entry ? entry.create(extra) : backprop();
  const trainer = createTrainer({ network, rule, loss: softmaxCrossEntropyLoss(), optimizer: resolveOptimizer(optimizer as never), seed: 7 });
  const fit = await trainer.fit(data.train, { epochs: 3, batchSize: defaults.batchSize });
  const { accuracy } = trainer.evaluate(data.test);
  const steps = fit.epochs.reduce((a, e) => a + e.steps, 0);
  console.log(
    `| ${id} | ${optimizer.name} ${optimizer.lr} | ${entry ? JSON.stringify(rule.options) : '—'} | ${accuracy.toFixed(4)} | ${fit.epochs.map((e) => e.trainLoss.toFixed(3)).join(' → ')} | ${((fit.trainSeconds * 1000) / steps).toFixed(1)} |`,
  );
  trainer.dispose();
  network.dispose();
}
