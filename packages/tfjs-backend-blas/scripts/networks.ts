/**
 * The network targets as one JSON report (stdout; progress on stderr): a backprop step of LeNet-5 and of ResNet-20
 * (32×32×3), batch 128, Adam, and Trainer.fit epochs of the 784-256-256-10 tanh MLP (backprop's momentum defaults)
 * after the first, each against its target. The load average is part of the report: on a shared machine the median
 * is mostly the wait for a core, and the best step is the closest to what an idle machine does.
 *
 *   OPENBLAS_NUM_THREADS=1 node --conditions=@bioprop/source --import tsx scripts/networks.ts [--quick]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { blasInfo } from '../src/index.js';
import { BATCH, TARGETS, mlpEpochs, presetStep, type PresetNet } from '../bench/networks.js';

const quick = process.argv.includes('--quick');
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const load = () => loadavg().map((l) => round(l, 2));

await tf.setBackend('blas');
const report: Record<string, unknown> = { blas: blasInfo(), loadavgBefore: load() };

for (const [name, steps] of [
  ['lenet5', quick ? 30 : 100],
  ['resnet20', quick ? 4 : 10],
] as [PresetNet, number][]) {
  log(`${name}: ${steps} steps…`);
  const f = presetStep(name);
  for (let i = 0; i < (name === 'lenet5' ? 5 : 2); i++) f.step();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    f.step();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  f.dispose();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const target = TARGETS[name];
  report[name] = {
    steps,
    msMedian: round(median, 2),
    msBest: round(times[0], 2),
    cpuMsPerStep: round((cpu.user + cpu.system) / 1000 / steps, 2),
    samplesPerSec: Math.round((BATCH / median) * 1000),
    samplesPerSecAtBest: Math.round((BATCH / times[0]) * 1000),
    target,
    met: (BATCH / median) * 1000 >= target,
    metAtBest: (BATCH / times[0]) * 1000 >= target,
    loadavg: load(),
  };
}

const epochs = quick ? 2 : 4;
log(`784-256-256-10 MLP: ${epochs} epochs…`);
const { source, perEpoch } = await mlpEpochs(epochs);
const after = perEpoch.slice(1);
report.mlpEpoch = {
  data: source,
  samplesPerSecPerEpoch: perEpoch.map((r) => Math.round(r)),
  afterFirstBest: Math.round(Math.max(...after)),
  afterFirstMedian: Math.round([...after].sort((a, b) => a - b)[Math.floor(after.length / 2)]),
  target: TARGETS.mlpEpoch,
  met: Math.max(...after) >= TARGETS.mlpEpoch,
  loadavg: load(),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
