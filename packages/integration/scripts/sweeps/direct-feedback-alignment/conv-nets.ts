/**
 * Direct feedback alignment against backprop on LeNet-5 (the `lenet5` preset: relu, max pooling, a linear fc 84) and on
 * the same topology with tanh everywhere, on the embedded digits: test accuracy after each epoch.
 * Budget: 2000 train / 500 test, 3 epochs, batch 32, Adam 1e-3 (DFA's tuned optimizer), seed 1, wasm backend.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/direct-feedback-alignment/conv-nets.ts [--epochs 3]
 */
import '@tensorflow/tfjs-backend-wasm';
import {
  conv2d,
  createTrainer,
  dense,
  flatten,
  maxPool2d,
  preset,
  resolveBackend,
  resolveOptimizer,
  sequential,
  zeroPad2d,
  type LayerSpec,
  type Rule,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadDigits } from '@bioprop/datasets';
import { dfaDefaults, directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';

const args = process.argv.slice(2);
const epochs = Number(args[args.indexOf('--epochs') + 1] || 3) || 3;

const lenetTanh = (): LayerSpec[] => [
  zeroPad2d(2),
  conv2d({ filters: 6, kernelSize: 5, activation: 'tanh' }),
  maxPool2d(2),
  conv2d({ filters: 16, kernelSize: 5, activation: 'tanh' }),
  maxPool2d(2),
  conv2d({ filters: 120, kernelSize: 5, activation: 'tanh' }),
  flatten(),
  dense({ units: 84, activation: 'tanh' }),
  dense({ units: 10 }),
];
const NETS: Record<string, () => LayerSpec[]> = {
  'lenet5 (relu, linear fc 84)': () => preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }).layers,
  'lenet5 topology, tanh': lenetTanh,
};
const RULES: Record<string, () => Rule> = { backprop: () => backprop(), DFA: () => directFeedbackAlignment() };

await resolveBackend('wasm');
const data = await loadDigits({ limitTrain: 2000, limitTest: 500 });
console.log(`| net | rule | test accuracy after epoch ${Array.from({ length: epochs }, (_, e) => e + 1).join(' / ')} |`);
console.log('|---|---|---|');
for (const [name, layers] of Object.entries(NETS)) {
  for (const [ruleName, rule] of Object.entries(RULES)) {
    const network = sequential({ inputShape: [28, 28, 1], layers: layers(), seed: 1 });
    const trainer = createTrainer({ network, rule: rule(), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(dfaDefaults.optimizer), seed: 1 });
    const accuracies: string[] = [];
    for (let e = 1; e <= epochs; e++) {
      await trainer.fit(data.train, { epochs: e, batchSize: 32 });
      accuracies.push(trainer.evaluate(data.test).accuracy.toFixed(3));
    }
    console.log(`| ${name} | ${ruleName} | ${accuracies.join(' / ')} |`);
    trainer.dispose();
    network.dispose();
  }
}
