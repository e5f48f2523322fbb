// The dense workloads of the blas speed figures: one training step of a dense tanh network per backend and rule
// (bp, fa, dfa), and a whole train epoch through Trainer.fit. Shared by bench/blas-dense.bench.ts (vitest bench) and
// scripts/blas-report.ts (JSON); moved here from @bioprop/tfjs-backend-blas so that package depends on no rule.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createTrainer, dense, sequential, sgd, type Rule, type TrainData, type Trainer } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { denseStepFlops, type DenseRuleKind } from './flops.js';

export const RULES: Record<DenseRuleKind, () => Rule> = {
  bp: () => backprop(),
  fa: () => feedbackAlignment(),
  dfa: () => directFeedbackAlignment(),
};

/** A dense network: tanh hidden layers, a linear output for softmax cross-entropy. */
export function denseTrainer(sizes: readonly number[], rule: DenseRuleKind, seed = 1): Trainer {
  const layers = sizes.slice(1).map((units, i) => dense({ units, activation: i === sizes.length - 2 ? 'linear' : 'tanh' }));
  const network = sequential({ inputShape: [sizes[0]], layers, seed });
  return createTrainer({ network, rule: RULES[rule](), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.01 }), seed });
}

/** A seeded batch: inputs in [0, 1) like pixels, one-hot targets. */
export function denseBatch(sizes: readonly number[], batch: number, seed = 2): { x: tf.Tensor; y: tf.Tensor } {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const nIn = sizes[0];
  const nOut = sizes[sizes.length - 1];
  const x = Float32Array.from({ length: batch * nIn }, next);
  const y = new Float32Array(batch * nOut);
  for (let i = 0; i < batch; i++) y[i * nOut + Math.floor(next() * nOut)] = 1;
  return { x: tf.tensor(x, [batch, nIn]), y: tf.tensor(y, [batch, nOut]) };
}

export interface StepTiming {
  backend: string;
  rule: DenseRuleKind;
  steps: number;
  /** Wall-clock milliseconds per step: median, mean, 10th percentile, best (on a shared machine the low ones show the code, the median the load). */
  msMedian: number;
  msMean: number;
  msP10: number;
  msBest: number;
  /** Process CPU milliseconds per step (all threads): shows how much of the wall time other processes took. */
  cpuMsMean: number;
  samplesPerSec: number;
  /** Matrix-product GFLOP/s at the median step time. */
  gflops: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))];

/** Time `steps` training steps (after `warmup`) of `sizes` on `backend`. */
export async function timeStep(backend: string, rule: DenseRuleKind, sizes: readonly number[], batch: number, steps: number, warmup = 3): Promise<StepTiming> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialize`);
  await tf.ready();
  const trainer = denseTrainer(sizes, rule);
  const { x, y } = denseBatch(sizes, batch);
  try {
    for (let i = 0; i < warmup; i++) trainer.step(x, y);
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      trainer.step(x, y);
      times.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    const msMedian = median(times);
    const flops = denseStepFlops({ sizes, batch, rule });
    return {
      backend,
      rule,
      steps,
      msMedian,
      msMean: times.reduce((a, b) => a + b, 0) / steps,
      msP10: quantile(times, 0.1),
      msBest: Math.min(...times),
      cpuMsMean: (cpu.user + cpu.system) / 1000 / steps,
      samplesPerSec: (batch / msMedian) * 1000,
      gflops: flops / (msMedian / 1000) / 1e9,
    };
  } finally {
    tf.dispose([x, y]);
    trainer.network.dispose();
    trainer.dispose();
  }
}

/** 60,000 training samples: Fashion-MNIST when it is on this machine (never downloaded here), else a same-size synthetic array. */
export async function epochData(count = 60_000): Promise<{ data: TrainData; source: string }> {
  try {
    const splits = await loadFashionMnist({ download: false, limitTrain: count, limitTest: 1 });
    if (splits.train.count === count) return { data: splits.train, source: 'fashion-mnist' };
  } catch {
    /* fall through to synthetic */
  }
  const { x, y } = tf.tidy(() => denseBatch([784, 10], count, 5));
  const data: TrainData = { x: x.dataSync() as Float32Array, y: y.dataSync() as Float32Array, count, sampleShape: [784], targetShape: [10] };
  tf.dispose([x, y]);
  return { data, source: 'synthetic (Fashion-MNIST not found)' };
}

export interface EpochTiming {
  backend: string;
  rule: DenseRuleKind;
  samples: number;
  /** Seconds inside training steps (Trainer.fit's own count: batch gathering, step, update) and the whole fit. */
  trainSeconds: number;
  wallSeconds: number;
  samplesPerSec: number;
  finalLoss: number;
}

/** One epoch of Trainer.fit (batch 128, shuffled, no evaluation). */
export async function timeEpoch(backend: string, rule: DenseRuleKind, sizes: readonly number[], data: TrainData, batchSize = 128): Promise<EpochTiming> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialize`);
  const trainer = denseTrainer(sizes, rule);
  try {
    const t0 = performance.now();
    const fit = await trainer.fit(data, { epochs: 1, batchSize });
    const wallSeconds = (performance.now() - t0) / 1000;
    return {
      backend,
      rule,
      samples: fit.samples,
      trainSeconds: fit.trainSeconds,
      wallSeconds,
      samplesPerSec: fit.samples / fit.trainSeconds,
      finalLoss: fit.epochs[0]?.trainLoss ?? NaN,
    };
  } finally {
    trainer.network.dispose();
    trainer.dispose();
  }
}
