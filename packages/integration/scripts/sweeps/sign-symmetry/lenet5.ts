// LeNet-5 on Fashion-MNIST with the preset's training, exactly as `bioprop train --arch lenet5 --dataset
// fashion-mnist` sets it up (inputs standardized by the training set's mean and std, the lenet5 preset drawn from the
// run's seed, Adam 1e-3 with a cosine schedule over the whole run, batch 128, softmax cross-entropy, the fit loop
// epoch by epoch), for this package's rules and a backprop written from core's pieces (to check the setup against
// the CLI's figure). It stands in for the CLI until the CLI lists the package: then use
// `bioprop train --rule usf --arch lenet5 --dataset fashion-mnist --epochs 10 --seed 1 --backend blas`.
//
//   node --conditions=@bioprop/source --import tsx scripts/sweeps/sign-symmetry/lenet5.ts --rule usf [--options '{"scale":"norm"}']
//     [--epochs 10] [--seed 1] [--backend blas] [--batch-size 128] [--lr 0.001] [--init '{"name":"glorot","config":{"gain":0.1}}']
//     [--limit-train n] [--out file.json]
import { writeFileSync } from 'node:fs';
import {
  createTrainer,
  deltaFromSignal,
  layerwise,
  preset,
  randomSource,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type InitializerConfig,
  type OptimizerConfig,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { rules } from '@bioprop/sign-symmetry';

const args = process.argv.slice(2);
const arg = (name: string, fallback?: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ruleId = arg('rule', 'usf')!;
const ruleOptions = JSON.parse(arg('options', '{}')!);
const epochs = Number(arg('epochs', '10'));
const seed = Number(arg('seed', '1'));
const batchSize = Number(arg('batch-size', '128'));
const lr = Number(arg('lr', '0.001'));
const init = arg('init') ? (JSON.parse(arg('init')!) as InitializerConfig) : undefined;
const limitTrain = arg('limit-train') ? Number(arg('limit-train')) : undefined;
const out = arg('out');

/** Backprop from core's pieces: the kernel itself sent down. */
const backpropHere = (): Rule =>
  layerwise({
    id: 'bp',
    name: 'backprop',
    options: {},
    usesSignal: true,
    graphs: 'any',
    step(ctx) {
      const delta = deltaFromSignal(ctx);
      const { layer, layerTrace } = ctx;
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined,
      };
    },
  });

const entry = rules.find((e) => e.id === ruleId);
if (!entry && ruleId !== 'bp') throw new Error(`--rule must be bp or one of ${rules.map((e) => e.id).join(', ')}`);
const rule = entry ? entry.create(ruleOptions) : backpropHere();

// backend packages resolve from this package's dev dependencies
const backend = await resolveBackend(arg('backend', 'blas') as 'blas' | 'wasm' | 'cpu', {
  loaders: {
    blas: () => import('@bioprop/tfjs-backend-blas'),
    wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    cpu: () => import('@tensorflow/tfjs-backend-cpu'),
  },
});
const splits = await loadFashionMnist({ flatten: true, limitTrain });

// the CLI's `standardized`: one mean and one standard deviation over every training pixel, in float64
const flat = (d: { x: Float32Array; y: Float32Array; count: number }): TrainData => ({ x: d.x, y: d.y, count: d.count, sampleShape: [784], targetShape: [10] });
let sum = 0;
for (const v of splits.train.x) sum += v;
const mean = sum / splits.train.x.length;
let sq = 0;
for (const v of splits.train.x) sq += (v - mean) ** 2;
const std = Math.sqrt(sq / splits.train.x.length) || 1;
const standardize = (d: TrainData): TrainData => ({ ...d, x: Float32Array.from(d.x, (v) => (v - mean) / std) });
const train = standardize(flat(splits.train));
const test = standardize(flat(splits.test));

const random = randomSource(seed);
const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10, kernelInit: init });
const network = sequential({ inputShape, layers, random });
const optimizer: OptimizerConfig = {
  name: 'adam',
  lr,
  schedule: { type: 'cosine', totalSteps: Math.max(1, epochs * Math.ceil(train.count / batchSize)) },
};
const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(optimizer), random });

const label = `${ruleId} ${JSON.stringify(rule.options)} batch ${batchSize} lr ${lr} init ${init ? JSON.stringify(init) : 'preset'} seed ${seed}`;
console.log(`${label}: backend ${backend.name}, ${train.count} train / ${test.count} test`);
const history: { epoch: number; trainLoss: number; testError: number; seconds: number }[] = [];
for (let epoch = 1; epoch <= epochs; epoch++) {
  const fit = await trainer.fit(train, { epochs: epoch, batchSize });
  const record = fit.epochs[fit.epochs.length - 1];
  const { accuracy } = trainer.evaluate(test);
  history.push({ epoch, trainLoss: record.trainLoss, testError: 1 - accuracy, seconds: record.seconds });
  console.log(`epoch ${epoch}/${epochs}: train loss ${record.trainLoss.toFixed(4)}, test error ${(100 * (1 - accuracy)).toFixed(2)}%, ${record.seconds.toFixed(1)} s`);
}
const final = history[history.length - 1];
console.log(`${label}: test error ${(100 * final.testError).toFixed(2)}%`);
if (out) writeFileSync(out, `${JSON.stringify({ rule: ruleId, options: rule.options, batchSize, lr, init: init ?? 'preset', seed, epochs, history }, null, 2)}\n`);
trainer.dispose();
network.dispose();
