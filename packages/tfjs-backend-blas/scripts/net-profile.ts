/**
 * Times and profiles a backprop training step (batch 128) of a preset network on a backend: the step's median and
 * best over `steps` steps, then `tf.profile` over `runs` more steps keeping, per kernel, the smallest time of each
 * call (the machine is shared: minima show the code). `mlp` times whole `Trainer.fit` epochs of 784-256-256-10 tanh
 * (momentum 0.9, lr 0.03: backprop's defaults) after the first, and profiles one of its steps.
 *
 *   OPENBLAS_NUM_THREADS=1 node --conditions=@bioprop/source --import tsx scripts/net-profile.ts lenet5|resnet20|mlp [backend=blas] [steps] [runs]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { adam, createTrainer, deltaFromSignal, dense, layerwise, momentum, preset, randomStream, sequential, type Rule, type Trainer } from '@bioprop/core';
import '../src/index.js';
import { epochData } from '../bench/networks.js';

const name = process.argv[2] ?? 'lenet5';
const backend = process.argv[3] ?? 'blas';
const heavy = name === 'resnet20';
const steps = Number(process.argv[4] ?? (heavy ? 6 : 40));
const runs = Number(process.argv[5] ?? (heavy ? 3 : 10));
const BATCH = 128;

// backprop as @bioprop/backprop defines it (kept here so the script does not depend on the rule package)
const bp: Rule = layerwise({
  id: 'bp',
  name: 'backprop',
  options: {},
  usesSignal: true,
  graphs: 'any',
  step(ctx) {
    const delta = deltaFromSignal(ctx);
    const { layer, layerTrace } = ctx;
    return { delta, grads: layer.paramGrads(layerTrace.input, delta), below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined };
  },
});

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
await tf.setBackend(backend);
await tf.ready();
console.log(`${name} on ${tf.getBackend()}, batch ${BATCH}; load average at start ${load()}`);

function makeTrainer(): { trainer: Trainer; inputShape: number[] } {
  if (name === 'mlp') {
    const layers = [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })];
    const network = sequential({ inputShape: [784], layers, seed: 1 });
    return { trainer: createTrainer({ network, rule: bp, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.03, momentum: 0.9 }), seed: 1 }), inputShape: [784] };
  }
  const { inputShape, layers } = preset(name).build({ inputShape: name === 'lenet5' ? [28, 28, 1] : [32, 32, 3], classes: 10 });
  const network = sequential({ inputShape, layers, seed: 1 });
  return { trainer: createTrainer({ network, rule: bp, loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 }), inputShape };
}

const { trainer, inputShape } = makeTrainer();
const r = randomStream(1, 'x');
const x = tf.tensor(r.normalArray(BATCH * inputShape.reduce((a, b) => a * b, 1)), [BATCH, ...inputShape]);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10), 'float32'));
for (let i = 0; i < (heavy ? 2 : 5); i++) trainer.step(x, y);

const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  trainer.step(x, y);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const med = times[Math.floor(times.length / 2)];
console.log(
  `step: median ${med.toFixed(2)} ms (${((BATCH / med) * 1000).toFixed(0)} samples/s), best ${times[0].toFixed(2)} ms (${((BATCH / times[0]) * 1000).toFixed(0)} samples/s); load ${load()}`,
);

if (name === 'mlp') {
  const { data, source } = await epochData();
  const epochs = 4;
  const t = createTrainer({ network: trainer.network, rule: bp, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.03, momentum: 0.9 }), seed: 2 });
  const fit = await t.fit(data, { epochs, batchSize: BATCH });
  const rates = fit.epochs.map((e) => data.count / e.seconds);
  console.log(`epochs (${source}, ${data.count} samples): ${rates.map((v) => v.toFixed(0)).join(', ')} samples/s; after the first: best ${Math.max(...rates.slice(1)).toFixed(0)}; load ${load()}`);
  t.dispose();
}

if (runs > 0) {
  let calls: { name: string; shapes: string; ms: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const prof = await tf.profile(() => {
      trainer.step(x, y);
    });
    const now = prof.kernels.map((k) => ({ name: k.name, shapes: k.inputShapes.map((s) => `[${s}]`).join('·'), ms: k.kernelTimeMs as number }));
    if (i === 0) calls = now;
    else now.forEach((k, j) => (calls[j].ms = Math.min(calls[j].ms, k.ms)));
  }
  const by = new Map<string, { n: number; ms: number; worst: { shapes: string; ms: number }[] }>();
  for (const k of calls) {
    const e = by.get(k.name) ?? { n: 0, ms: 0, worst: [] };
    e.n++;
    e.ms += k.ms;
    e.worst.push(k);
    by.set(k.name, e);
  }
  let total = 0;
  console.log(`per kernel (calls, ms: the sum over calls of each call's smallest time over ${runs} profiled steps; the costliest calls)`);
  for (const [k, v] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    total += v.ms;
    const worst = v.worst.sort((a, b) => b.ms - a.ms).slice(0, 3).map((w) => `${w.shapes} ${w.ms.toFixed(2)}`);
    console.log(`  ${k.padEnd(22)} ${String(v.n).padStart(4)} ${v.ms.toFixed(2).padStart(9)}   ${worst.join(' ; ')}`);
  }
  console.log(`kernels: ${calls.length} calls, ${total.toFixed(2)} ms (sum of minima); load ${load()}`);
}
