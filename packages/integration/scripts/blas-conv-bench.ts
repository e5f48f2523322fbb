/**
 * One training step of the small locally connected net (LC (3×3,16,s2), LC (3×3,32,s2), FC 10 on 28×28×1, tanh,
 * batch 128, Adam) with backprop and DTP: on wasm, and on blas with Conv2D / Conv2DBackpropInput native ("after")
 * and handed back to the cpu backend's kernels ("before"). The two blas variants take turns round by round in one
 * process so they see the same load; wasm runs after them. Also a conv2d net (3×3,16,s2),(3×3,32,s2),FC 10 for bp.
 *
 *   pnpm --filter @bioprop/integration script scripts/blas-conv-bench.ts [rounds, default 12]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { adam, conv2d, createTrainer, dense, locallyConnected2d, randomSource, resolveBackend, sequential, type LayerSpec, type Rule, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { differenceTargetPropagation } from '@bioprop/target-propagation';
import { BACKEND_NAME, kernelStats, resetKernelStats } from '@bioprop/tfjs-backend-blas';

const rounds = Number(process.argv[2] ?? 12);
const BATCH = 128;
const CONV_KERNELS = ['Conv2D', 'Conv2DBackpropInput'];
const NETS: { name: string; layers: () => LayerSpec[]; rules: string[] }[] = [
  {
    name: 'LC (3×3,16,s2),(3×3,32,s2),FC 10',
    layers: () => [
      locallyConnected2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 10 }),
    ],
    rules: ['bp', 'dtp'],
  },
  {
    name: 'conv (3×3,16,s2),(3×3,32,s2),FC 10',
    layers: () => [
      conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 10 }),
    ],
    rules: ['bp', 'dtp'],
  },
];
const RULES: Record<string, () => Rule> = { bp: () => backprop(), dtp: () => differenceTargetPropagation() };
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const best = (v: number[]) => Math.min(...v);

const native = Object.fromEntries(CONV_KERNELS.map((k) => [k, tf.getKernel(k, BACKEND_NAME)]));
/** Put the cpu backend's kernels (before) or the native ones (after) under blas. */
function useNativeConv(on: boolean) {
  for (const k of CONV_KERNELS) {
    tf.unregisterKernel(k, BACKEND_NAME);
    tf.registerKernel(on ? native[k] : { ...tf.getKernel(k, 'cpu'), backendName: BACKEND_NAME });
  }
}

function makeData() {
  const s = randomSource(3).stream('bench');
  const x = tf.tensor(s.uniformArray(BATCH * 784, 0, 1), [BATCH, 28, 28, 1]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10), 'float32'));
  return { x, y };
}
const makeTrainer = (net: (typeof NETS)[number], rule: string): Trainer =>
  createTrainer({ network: sequential({ inputShape: [28, 28, 1], layers: net.layers(), seed: 1 }), rule: RULES[rule](), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 });
function dispose(trainers: Trainer[]) {
  for (const t of trainers) {
    t.dispose();
    t.network.dispose();
  }
}

const rows: string[] = [];
await tf.setBackend(BACKEND_NAME);
for (const net of NETS) {
  const { x, y } = makeData();
  for (const rule of net.rules) {
    const trainer = makeTrainer(net, rule);
    const times: Record<string, number[]> = { before: [], after: [] };
    for (let r = -1; r < rounds; r++) {
      for (const variant of ['before', 'after']) {
        useNativeConv(variant === 'after');
        if (variant === 'after') resetKernelStats();
        const t0 = performance.now();
        trainer.step(x, y);
        // round −1 warms up (buffer pool, first-touch pages)
        if (r >= 0) times[variant].push(performance.now() - t0);
      }
    }
    const stats = kernelStats();
    const ran = CONV_KERNELS.map((k) => `${k} ${stats.native[k] ?? 0} native/${stats.fallback[k] ?? 0} fallback`).join(', ');
    for (const v of ['before', 'after']) rows.push(`| ${net.name} | ${rule} | blas (${v === 'before' ? 'cpu Conv2D' : 'native Conv2D'}) | ${median(times[v]).toFixed(1)} | ${best(times[v]).toFixed(1)} |`);
    console.error(`${net.name} ${rule}: last native step ran ${ran}`);
    dispose([trainer]);
  }
  tf.dispose([x, y]);
}
useNativeConv(true);

await resolveBackend('wasm');
for (const net of NETS) {
  const { x, y } = makeData();
  for (const rule of net.rules) {
    const trainer = makeTrainer(net, rule);
    const times: number[] = [];
    for (let r = -1; r < rounds; r++) {
      const t0 = performance.now();
      trainer.step(x, y);
      if (r >= 0) times.push(performance.now() - t0);
    }
    rows.push(`| ${net.name} | ${rule} | wasm | ${median(times).toFixed(1)} | ${best(times).toFixed(1)} |`);
    dispose([trainer]);
  }
  tf.dispose([x, y]);
}

console.log(`batch ${BATCH}, Adam, ${rounds} timed steps each (load ${(await import('node:os')).loadavg()[0].toFixed(1)})`);
console.log('| net | rule | backend | median ms/step | best ms/step |');
console.log('|---|---|---|---|---|');
for (const r of rows.sort()) console.log(r);
