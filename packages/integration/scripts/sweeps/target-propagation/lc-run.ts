/**
 * DTP and SDTP (tuned defaults) against backprop on the small locally connected net
 * (3×3,16,s2),(3×3,32,s2),FC 10 on 28×28×1 Fashion-MNIST, limit-train 10000, limit-test 2000, seed 7, wasm.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/target-propagation/lc-run.ts [epochs, default 1]
 */
import '@tensorflow/tfjs-backend-wasm';
import { createTrainer, dense, locallyConnected2d, resolveBackend, resolveOptimizer, sequential, softmaxCrossEntropyLoss } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { dtpEntry, sdtpEntry } from '@bioprop/target-propagation';

const epochs = Number(process.argv[2] ?? 1);
await resolveBackend('wasm');
const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, flatten: false, download: false });
console.log('| rule | forward optimizer | test acc | train loss per epoch | ms/step |');
console.log('|---|---|---|---|---|');
for (const [id, entry] of [['dtp', dtpEntry], ['sdtp', sdtpEntry], ['bp', null]] as const) {
  const defaults = (entry ?? dtpEntry).defaults;
  const network = sequential({
    inputShape: [28, 28, 1],
    seed: 7,
    layers: [
      locallyConnected2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 10 }),
    ],
  });
  const trainer = createTrainer({
    network,
    rule: entry ? entry.create() : backprop(),
    loss: softmaxCrossEntropyLoss(),
    optimizer: resolveOptimizer(defaults.optimizer as never),
    seed: 7,
  });
  const fit = await trainer.fit(data.train, { epochs, batchSize: defaults.batchSize });
  const { accuracy } = trainer.evaluate(data.test);
  const steps = fit.epochs.reduce((a, e) => a + e.steps, 0);
  console.log(`| ${id} | ${defaults.optimizer.name} ${defaults.optimizer.lr} | ${accuracy.toFixed(4)} | ${fit.epochs.map((e) => e.trainLoss.toFixed(3)).join(' → ')} | ${((fit.trainSeconds * 1000) / steps).toFixed(0)} |`);
  trainer.dispose();
  network.dispose();
}
