// Profiles a training step (tf.profile) of a dense tanh network on a backend: per kernel, the smallest time seen
// over several profiled steps (the machine is shared: minima are what a quiet machine would show), and the step.
// Usage: pnpm --filter @bioprop/integration script scripts/blas-profile.ts [backend=blas] [sizes=784,1000,10] [rule=bp|fa|dfa] [runs=15]
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendId } from '../src/backends.js';
import { denseBatch, denseTrainer } from '../src/dense-workloads.js';
import type { DenseRuleKind } from '../src/flops.js';

const backend = (process.argv[2] ?? 'blas') as BackendId;
const sizes = (process.argv[3] ?? '784,1000,10').split(',').map(Number);
const rule = (process.argv[4] ?? 'bp') as DenseRuleKind;
const runs = Number(process.argv[5] ?? 15);
await useBackend(backend);
const trainer = denseTrainer(sizes, rule);
const { x, y } = denseBatch(sizes, 128);
for (let i = 0; i < 5; i++) trainer.step(x, y);

let kernels: { name: string; shapes: string; ms: number }[] = [];
for (let r = 0; r < runs; r++) {
  const prof = await tf.profile(() => {
    trainer.step(x, y);
  });
  prof.kernels.forEach((k, i) => {
    const ms = k.kernelTimeMs as number;
    if (r === 0) kernels.push({ name: k.name, shapes: k.inputShapes.map((s) => `[${s}]`).join('x'), ms });
    else kernels[i].ms = Math.min(kernels[i].ms, ms);
  });
}
const by = new Map<string, { n: number; ms: number; shapes: string[] }>();
for (const k of kernels) {
  const e = by.get(k.name) ?? { n: 0, ms: 0, shapes: [] };
  e.n++;
  e.ms += k.ms;
  e.shapes.push(`${k.shapes} ${k.ms.toFixed(3)}`);
  by.set(k.name, e);
}
let total = 0;
for (const [name, v] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
  total += v.ms;
  console.log(name.padEnd(16), String(v.n).padStart(3), v.ms.toFixed(3).padStart(8), '  ', v.shapes.slice(0, 6).join(' ; '));
}
console.log(`sum of per-kernel minima: ${total.toFixed(2)} ms`);
const times: number[] = [];
for (let i = 0; i < 40; i++) {
  const t0 = performance.now();
  trainer.step(x, y);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(`step on ${backend} (${rule}): best ${times[0].toFixed(2)} ms, p25 ${times[10].toFixed(2)} ms, median ${times[20].toFixed(2)} ms → ${(128000 / times[0]).toFixed(0)} samples/s at best`);
