import * as tf from '@tensorflow/tfjs-core';
import { randomStream, type RuleEntry } from '@bioprop/core';
import { buildTrainer, resolveConfig, type OptimizerName } from './run.js';
import type { DatasetName } from './data.js';
import { archLabel, archPreset, parseArch, type ArchSpec, type DataShape } from './network.js';

/** One row of `bioprop bench --json`. */
export interface BenchResult {
  rule: string;
  backend: string;
  arch: string;
  batchSize: number;
  samplesPerSecond: number;
  msPerStep: number;
  /** The step's matmul FLOPs (2·m·n·k each, as executed: forward, backward, weight gradients, rule extras) over its time. */
  gflops: number;
  /** OpenBLAS sgemm peak of this machine (GFLOP/s), measured once per run; null when the blas addon is absent. */
  sgemmPeakGflops: number | null;
  /** `gflops / sgemmPeakGflops`: the share of the raw sgemm rate the whole step achieves; null without a peak. */
  efficiency: number | null;
  /** The step's FLOPs counted (see `gflops`). */
  flopsPerStep: number;
  steps: number;
  /** Median and fastest single step (ms): on a shared machine the mean includes waits for a core. */
  msPerStepMedian: number;
  msPerStepBest: number;
  /** The device a WebGPU run used (`software adapter llvmpipe…`), for the notes; absent on other backends. */
  adapter?: string;
}

/** The fields `bioprop bench --json` prints, in this order (the rest of `BenchResult` is for the table and notes). */
export const BENCH_JSON_FIELDS = ['rule', 'backend', 'arch', 'batchSize', 'samplesPerSecond', 'msPerStep', 'gflops', 'sgemmPeakGflops', 'efficiency'] as const;

export function benchJsonRow(r: BenchResult): Pick<BenchResult, (typeof BENCH_JSON_FIELDS)[number]> {
  return Object.fromEntries(BENCH_JSON_FIELDS.map((k) => [k, r[k]])) as Pick<BenchResult, (typeof BENCH_JSON_FIELDS)[number]>;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The data an architecture is timed on: its widths' input and output, or a preset's own data. */
export function benchShape(arch: ArchSpec): DataShape {
  if (arch.kind === 'widths') return { sampleShape: [arch.widths[0]], outputs: arch.widths[arch.widths.length - 1] };
  const p = archPreset(arch);
  if (p) return { sampleShape: p.defaultInput.inputShape, outputs: p.defaultInput.classes };
  return { sampleShape: [784], outputs: 10 };
}

/**
 * 2·m·n·k for every matrix product a function runs, and the multiply-adds of its convolutions (forward, input and
 * filter gradients), read from TensorFlow.js's kernel profile.
 */
export async function countMatmulFlops(run: () => unknown): Promise<number> {
  // an asynchronous step's promise is awaited by the profile, so the kernels after its loss read count too
  const info = await tf.profile(async () => {
    await run();
  });
  let flops = 0;
  const size = (s: readonly number[] | undefined) => (s ?? []).reduce((p, d) => p * d, 1);
  for (const k of info.kernels) {
    // a convolution: 2 · (output or output-gradient elements) · kh·kw·inC
    if (k.name === 'Conv2D' || k.name === 'Conv2DBackpropInput') {
      const filter = k.inputShapes[1] ?? [];
      const big = k.name === 'Conv2D' ? size(k.outputShapes[0]) : size(k.inputShapes[0]);
      flops += 2 * big * (filter[0] ?? 0) * (filter[1] ?? 0) * (filter[2] ?? 0);
      continue;
    }
    if (k.name === 'Conv2DBackpropFilter') {
      const filter = k.outputShapes[0] ?? [];
      flops += 2 * size(k.inputShapes[1]) * (filter[0] ?? 0) * (filter[1] ?? 0) * (filter[2] ?? 0);
      continue;
    }
    if (k.name !== 'BatchMatMul' && k.name !== '_FusedMatMul') continue;
    const out = k.outputShapes[0] ?? [];
    const a = k.inputShapes[0] ?? [];
    const outSize = out.reduce((p, d) => p * d, 1);
    const aSize = a.reduce((p, d) => p * d, 1);
    // out is [batch…, m, n] and a holds batch·m·k values, whichever way it is transposed
    const rows = outSize / (out[out.length - 1] ?? 1);
    const inner = rows > 0 ? aSize / rows : 0;
    flops += 2 * outSize * inner;
  }
  return flops;
}

/** Nominal backprop FLOPs of a dense stack (fallback when the profile is unavailable; 0 for other architectures). */
export function nominalFlops(arch: ArchSpec, batch: number): number {
  if (arch.kind !== 'widths') return 0;
  const w = arch.widths;
  let flops = 0;
  for (let l = 1; l < w.length; l++) flops += 2 * batch * w[l - 1] * w[l] * (l === 1 ? 2 : 3);
  return flops;
}

/** Wait until the device has finished every update queued so far: read one value of each parameter. */
async function settle(trainer: { network: { namedParams(): Record<string, tf.Tensor> } }): Promise<void> {
  const firsts = Object.values(trainer.network.namedParams()).map((p) => tf.tidy(() => tf.slice(tf.reshape(p, [-1]), 0, 1)));
  try {
    await Promise.all(firsts.map((t) => t.data()));
  } finally {
    tf.dispose(firsts);
  }
}

/** Time training steps of one rule on random data with the current backend. */
export async function benchRule(
  entry: RuleEntry,
  options: {
    arch: string;
    batchSize: number | null;
    activation: string | null;
    optimizer: OptimizerName | null;
    lr: number | null;
    seed: number;
    minSeconds: number;
    backend: string;
    /** GFLOP/s the efficiency divides by (the sgemm peak), or null. */
    sgemmPeakGflops?: number | null;
    /**
     * Step with `stepAsync` (the loss read with `await data()`): backends that cannot read synchronously. Each
     * step's time then includes waiting for the device to finish it, as the next step's loss read does anyway.
     */
    asyncSteps?: boolean;
    /** Described in the result (the WebGPU adapter). */
    adapter?: string;
  },
): Promise<BenchResult> {
  const dataset: DatasetName = 'digits';
  const config = resolveConfig(
    entry,
    {
      rule: entry.id,
      dataset,
      dataDir: null,
      arch: options.arch,
      activation: options.activation,
      epochs: 1,
      batchSize: options.batchSize,
      optimizer: options.optimizer,
      lr: options.lr,
      init: null,
      seed: options.seed,
      limitTrain: null,
      limitTest: null,
      angles: false,
    },
    { ...benchShape(parseArch(options.arch)), task: 'classification' },
  );
  const shape = benchShape(config.arch);
  const trainer = buildTrainer(entry, config, shape);
  const n = config.batchSize;
  const inW = shape.sampleShape.reduce((a, b) => a * b, 1);
  const outW = shape.outputs;
  const stream = randomStream(options.seed, 'bench-data');
  const labels = new Float32Array(n * outW);
  for (let i = 0; i < n; i++) labels[i * outW + Math.floor(stream.next() * outW)] = 1;
  const x = tf.tensor(stream.uniformArray(n * inW, 0, 1), [n, ...trainer.network.inputShape]);
  const y = tf.tensor2d(labels, [n, outW]);
  const asyncSteps = options.asyncSteps ?? false;
  try {
    let flops: number;
    if (asyncSteps) {
      // warm-up (shaders compile on first use); the profile counts kernels without reading values
      for (let i = 0; i < 2; i++) await trainer.stepAsync(x, y);
      flops = nominalFlops(config.arch, n);
      try {
        const counted = await countMatmulFlops(() => trainer.stepAsync(x, y));
        await settle(trainer);
        if (counted > 0) flops = counted;
      } catch {
        // the profile is optional: the nominal count stands
      }
    } else {
      for (let i = 0; i < 2; i++) trainer.step(x, y);
      try {
        flops = await countMatmulFlops(() => trainer.step(x, y));
      } catch {
        flops = nominalFlops(config.arch, n);
      }
    }
    if (!(flops > 0)) flops = nominalFlops(config.arch, n);
    // synchronous backends compute eagerly, so a step's time is the time of its call; an asynchronous step's call
    // returns once its loss is read, and the weights it updates are waited for before the clock stops
    const times: number[] = [];
    const t0 = performance.now();
    let elapsed = 0;
    while (times.length < 3 || elapsed < options.minSeconds * 1000) {
      const t = performance.now();
      if (asyncSteps) await trainer.stepAsync(x, y);
      else trainer.step(x, y);
      const now = performance.now();
      times.push(now - t);
      elapsed = now - t0;
    }
    if (asyncSteps) {
      await settle(trainer);
      elapsed = performance.now() - t0;
    }
    const steps = times.length;
    const msPerStep = elapsed / steps;
    const gflops = flops / (msPerStep * 1e6);
    const peak = options.sgemmPeakGflops ?? null;
    return {
      rule: entry.id,
      backend: options.backend,
      arch: archLabel(config.arch),
      batchSize: n,
      samplesPerSecond: (n * 1000) / msPerStep,
      msPerStep,
      gflops,
      sgemmPeakGflops: peak,
      efficiency: peak === null ? null : gflops / peak,
      flopsPerStep: flops,
      steps,
      msPerStepMedian: median(times),
      msPerStepBest: Math.min(...times),
      ...(options.adapter ? { adapter: options.adapter } : {}),
    };
  } finally {
    x.dispose();
    y.dispose();
    trainer.network.dispose();
    trainer.dispose();
  }
}
