/**
 * The TP family on LeNet-5 (max pooling and flatten in its blocks) against backprop: Fashion-MNIST 28×28×1,
 * limit-train 10000, limit-test 2000, batch 128, seed 7, wasm, each rule's forward optimizer from its defaults.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/target-propagation/lenet5-run.ts [epochs, default 1] [ids, default tp,dtp,sdtp,ao-sdtp,bp] [options JSON]
 *     [forward optimizer JSON, default each rule's]
 */
import '@tensorflow/tfjs-backend-wasm';
import { createTrainer, preset, type OptimizerConfig, resolveBackend, resolveOptimizer, sequential, softmaxCrossEntropyLoss } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { rules as targetPropagationEntries } from '@bioprop/target-propagation';

const epochs = Number(process.argv[2] ?? 1);
const ids = (process.argv[3] ?? 'tp,dtp,sdtp,ao-sdtp,bp').split(',');
const extra = process.argv[4] ? JSON.parse(process.argv[4]) : {};
const optimizerOverride: OptimizerConfig | undefined = process.argv[5] ? JSON.parse(process.argv[5]) : undefined;
await resolveBackend('wasm');
const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, flatten: false, download: false });
console.log('| rule | forward optimizer | rule options | test acc | train loss per epoch | ms/step |');
console.log('|---|---|---|---|---|---|');
for (const id of ids) {
  const entry = targetPropagationEntries.find((e) => e.id === id);
  // backprop runs with DTP's optimizer and batch, for comparison under the same budget
  const defaults = (entry ?? targetPropagationEntries.find((e) => e.id === 'dtp')!).defaults;
  const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
  const network = sequential({ inputShape, layers, seed: 7 });
  const rule = entry ? entry.create(extra) : backprop();
  const optimizer = optimizerOverride ?? defaults.optimizer;
  const trainer = createTrainer({ network, rule, loss: softmaxCrossEntropyLoss(), optimizer: resolveOptimizer(optimizer as never), seed: 7 });
  try {
    const fit = await trainer.fit(data.train, { epochs, batchSize: defaults.batchSize });
    const { accuracy } = trainer.evaluate(data.test);
    const steps = fit.epochs.reduce((a, e) => a + e.steps, 0);
    console.log(
      `| ${id} | ${JSON.stringify(optimizer)} | ${entry ? JSON.stringify(extra) : '—'} | ${accuracy.toFixed(4)} | ${fit.epochs.map((e) => e.trainLoss.toFixed(3)).join(' → ')} | ${((fit.trainSeconds * 1000) / steps).toFixed(0)} |`,
    );
  } catch (e) {
    console.log(`| ${id} | ${JSON.stringify(optimizer)} | ${JSON.stringify(extra)} | — | ${(e as Error).message.slice(0, 120)} | — |`);
  } finally {
    trainer.dispose();
    network.dispose();
  }
}
