// The standard MLP budget behind the rules' `RuleDefaults`: Fashion-MNIST 784-256-256-10 tanh, softmax
// cross-entropy, 10,000 train / 2,000 test, 3 epochs, batch 128, wasm; the rule and backprop (from core's pieces)
// under each optimizer / init tried, over several seeds. It prints a markdown table of test accuracies.
//
//   node --conditions=@bioprop/source --import tsx scripts/sweeps/sign-symmetry/mlp.ts [--rules usf,brsf,frsf,bp] [--seeds 7,8,9]
//     [--configs '[{"optimizer":{"name":"adam","lr":0.001},"kernelInit":"glorot","options":{}}]'] [--backend wasm]
import {
  createTrainer,
  deltaFromSignal,
  dense,
  layerwise,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type InitializerConfig,
  type JsonValue,
  type OptimizerConfig,
  type Rule,
} from '@bioprop/core';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { rules } from '@bioprop/sign-symmetry';

interface Config {
  optimizer: OptimizerConfig;
  kernelInit: InitializerConfig;
  options?: Record<string, JsonValue>;
}

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ruleIds = arg('rules', 'usf,brsf,frsf,bp').split(',');
const seeds = arg('seeds', '7,8,9').split(',').map(Number);
const configs: Config[] = JSON.parse(
  arg(
    'configs',
    JSON.stringify([
      { optimizer: { name: 'adam', lr: 1e-3 }, kernelInit: 'glorot' },
      { optimizer: { name: 'momentum', lr: 0.03, momentum: 0.9 }, kernelInit: 'glorot' },
    ]),
  ),
);

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

const make = (id: string, options: Record<string, JsonValue> = {}): Rule => {
  if (id === 'bp') return backpropHere();
  const entry = rules.find((e) => e.id === id);
  if (!entry) throw new Error(`unknown rule ${id}`);
  return entry.create(options);
};

await resolveBackend(arg('backend', 'wasm') as 'wasm' | 'blas' | 'cpu', {
  loaders: {
    blas: () => import('@bioprop/tfjs-backend-blas'),
    wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    cpu: () => import('@tensorflow/tfjs-backend-cpu'),
  },
});
const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000 });

console.log(`| rule | options | optimizer | kernel init | test accuracy (seeds ${seeds.join(' / ')}) | mean |`);
console.log('|---|---|---|---|---|---|');
for (const id of ruleIds) {
  for (const c of configs) {
    if (id === 'bp' && c.options && Object.keys(c.options).length) continue;
    const accs: number[] = [];
    for (const seed of seeds) {
      const network = sequential({
        inputShape: [784],
        layers: [
          dense({ units: 256, activation: 'tanh', kernelInit: c.kernelInit }),
          dense({ units: 256, activation: 'tanh', kernelInit: c.kernelInit }),
          dense({ units: 10, kernelInit: c.kernelInit }),
        ],
        seed,
      });
      const trainer = createTrainer({ network, rule: make(id, c.options), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(c.optimizer), seed });
      try {
        await trainer.fit(data.train, { epochs: 3, batchSize: 128 });
        accs.push(trainer.evaluate(data.test).accuracy);
      } catch (e) {
        console.error(`${id} ${JSON.stringify(c)} seed ${seed}: ${(e as Error).message.split('\n')[0]}`);
        accs.push(Number.NaN);
      } finally {
        trainer.dispose();
        network.dispose();
      }
    }
    const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
    const opt = `${c.optimizer.name} ${c.optimizer.lr}${c.optimizer.momentum ? ` (momentum ${c.optimizer.momentum})` : ''}`;
    console.log(`| ${id} | ${JSON.stringify(c.options ?? {})} | ${opt} | ${JSON.stringify(c.kernelInit)} | ${accs.map((a) => a.toFixed(4)).join(' / ')} | ${mean.toFixed(4)} |`);
  }
}
