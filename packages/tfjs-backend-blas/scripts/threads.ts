// Paired comparison of OpenBLAS thread counts (and elementwise threads) in one process: alternating blocks of
// training steps so both settings see the same background load. Prints best and median step times per setting.
// Usage: node --conditions=@bioprop/source --import tsx scripts/threads.ts [sizes=784,1000,10] [rounds=6]
import * as tf from '@tensorflow/tfjs-core';
import { denseBatch, denseTrainer } from '../bench/networks.js';
import { measureSgemmPeak, setBlasThreads } from '../src/index.js';

const sizes = (process.argv[2] ?? '784,1000,10').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 6);
await tf.setBackend('blas');
const trainer = denseTrainer(sizes);
const { x, y } = denseBatch(sizes, 128);
const settings = [
  { openblas: 1, elementwise: 1 },
  { openblas: 2, elementwise: 1 },
  { openblas: 2, elementwise: 2 },
];
const times = settings.map(() => [] as number[]);
const peaks = settings.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  settings.forEach((s, i) => {
    setBlasThreads(s);
    for (let k = 0; k < 3; k++) trainer.step(x, y);
    for (let k = 0; k < 15; k++) {
      const t0 = performance.now();
      trainer.step(x, y);
      times[i].push(performance.now() - t0);
    }
    peaks[i].push(measureSgemmPeak({ reps: 3 }));
  });
}
const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))];
settings.forEach((s, i) =>
  console.log(
    `openblas ${s.openblas} elementwise ${s.elementwise}: step best ${q(times[i], 0).toFixed(2)} p10 ${q(times[i], 0.1).toFixed(2)} median ${q(times[i], 0.5).toFixed(2)} ms; sgemm 1024² best ${Math.max(...peaks[i]).toFixed(1)} median ${q(peaks[i], 0.5).toFixed(1)} GFLOP/s`,
  ),
);
