// One optimizer step over a 784-1000-10 network's weights (794k floats) on blas: SGD, Adam through the fused
// BiopropAdamStep kernel, and Adam through core's tf ops (the kernel unregistered for those rounds). The three
// alternate round by round in one process so they see the same load.
// Run: node --conditions=@bioprop/source --import tsx scripts/adam-bench.ts [--rounds 30]
import * as tf from '@tensorflow/tfjs-core';
import { adam, randomStream, sgd, type Optimizer } from '@bioprop/core';
import { ADAM_STEP_KERNEL, BACKEND_NAME } from '../src/index.js';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 30;
const perRound = 10;

await tf.setBackend(BACKEND_NAME);
const fused = tf.getKernel(ADAM_STEP_KERNEL, BACKEND_NAME);
if (!fused) throw new Error(`${ADAM_STEP_KERNEL} is not registered on ${BACKEND_NAME}`);
const r = randomStream(1);
const shapes: Record<string, number[]> = { k0: [784, 1000], b0: [1000], k1: [1000, 10], b1: [10] };
const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
const vars = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, tf.variable(tf.tensor(r.normalArray(count(s), 0, 0.01), s))]));
const grads = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, tf.tensor(r.normalArray(count(s), 0, 0.01), s)]));

const variants: { name: string; opt: Optimizer; fused: boolean | null }[] = [
  { name: 'sgd', opt: sgd({ lr: 0.01 }).create(), fused: null },
  { name: 'adam (fused kernel)', opt: adam({ lr: 1e-3 }).create(), fused: true },
  { name: 'adam (tf ops)', opt: adam({ lr: 1e-3 }).create(), fused: false },
];
const times = new Map(variants.map((v) => [v.name, [] as number[]]));

for (let round = 0; round <= rounds; round++) {
  for (const v of variants) {
    if (v.fused === false) tf.unregisterKernel(ADAM_STEP_KERNEL, BACKEND_NAME);
    const t0 = performance.now();
    for (let i = 0; i < perRound; i++) tf.dispose(Object.values(tf.tidy(() => v.opt.apply(vars, grads))));
    const ms = (performance.now() - t0) / perRound;
    if (v.fused === false) tf.registerKernel(fused);
    // round 0 warms up (slot creation, buffer pool)
    if (round > 0) times.get(v.name)!.push(ms);
  }
}

const weights = Object.values(shapes).reduce((a, s) => a + count(s), 0);
console.log(`optimizer step over ${weights} weights on ${BACKEND_NAME}, ${rounds} rounds of ${perRound} steps (ms per step):`);
for (const [name, t] of times) {
  const s = [...t].sort((a, b) => a - b);
  console.log(`  ${name.padEnd(20)} median ${s[s.length >> 1].toFixed(3)}  best ${s[0].toFixed(3)}`);
}
