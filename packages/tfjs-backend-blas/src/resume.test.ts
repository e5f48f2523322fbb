// Resuming on blas continues bit for bit: the fused optimizer kernels update variables in place, the trainer reuses
// its batch arrays and the fused layer kernels replace tf ops, and none of that may leak into what a checkpoint
// holds or into the continuation (an uninterrupted run, a run stopped mid-epoch and restored into a fresh trainer).
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adam, conv2d, createTrainer, dense, flatten, maxPool2d, momentum, randomSource, randomStream, sequential, type OptimizerSpec, type TrainData } from '@bioprop/core';
import { restoreTrainer, saveCheckpoint } from '@bioprop/core/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { backpropRule } from '../bench/networks.js';
import { nativeProblem, pkg } from './test-helpers.js';

const suite = describe.skipIf(nativeProblem !== null);

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend('blas');
});

/** A seeded classification set of 8×8×1 images (3 classes). */
function images(count: number): TrainData {
  const r = randomStream(7, 'data');
  const x = r.uniformArray(count * 64, 0, 1);
  const y = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) y[i * 3 + (Math.floor(x[i * 64] * 3) % 3)] = 1;
  return { x, y, count, sampleShape: [8, 8, 1], targetShape: [3] };
}

const nets = {
  // tanh MLP with momentum: fused matmul + bias, tanh VJP, softmax cross-entropy, SGD kernel in place
  mlp: (seed: number) => ({
    layers: [flatten(), dense({ units: 24, activation: 'tanh' }), dense({ units: 3 })],
    optimizer: momentum({ lr: 0.05, momentum: 0.9 }) as OptimizerSpec,
    seed,
  }),
  // conv → relu → max pool with Adam: the fused relu/pool VJP, the direct convolution, Adam in place
  conv: (seed: number) => ({
    layers: [conv2d({ filters: 6, kernelSize: 3, activation: 'relu' }), maxPool2d(2), flatten(), dense({ units: 3 })],
    optimizer: adam({ lr: 0.01 }) as OptimizerSpec,
    seed,
  }),
};

function trainer(kind: keyof typeof nets, seed: number) {
  const n = nets[kind](seed);
  const random = randomSource(seed);
  const network = sequential({ inputShape: [8, 8, 1], layers: n.layers, random });
  return createTrainer({ network, rule: backpropRule(), loss: 'softmaxCrossEntropy', optimizer: n.optimizer, random });
}

const weightBits = (t: ReturnType<typeof trainer>) =>
  Object.values(t.network.namedParams()).map((v) => Array.from(new Uint32Array((v.dataSync() as Float32Array).slice().buffer)));

suite('resume on blas', () => {
  for (const kind of ['mlp', 'conv'] as const) {
    it(`${kind}: stopped mid-epoch, saved and restored into a fresh trainer, it ends bit for bit where an uninterrupted run does`, async () => {
      pkg.resetKernelStats();
      const data = images(96);
      const dir = mkdtempSync(join(tmpdir(), 'bioprop-blas-ck-'));
      const a = trainer(kind, 3);
      const ctl = new AbortController();
      let steps = 0;
      const r = await a.fit(data, { epochs: 3, batchSize: 16, signal: ctl.signal, onProgress: () => void (++steps === 8 && ctl.abort()) });
      expect(r.stopped).toBe(true);
      await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
      await a.fit(data, { epochs: 3, batchSize: 16 });

      const b = trainer(kind, 99);
      await restoreTrainer(b, dir);
      await b.fit(data, { epochs: 3, batchSize: 16 });
      expect(weightBits(b)).toEqual(weightBits(a));

      const c = trainer(kind, 3);
      await c.fit(data, { epochs: 3, batchSize: 16 });
      expect(weightBits(c)).toEqual(weightBits(a));

      const native = pkg.kernelStats().native;
      if (kind === 'mlp') expect(native[pkg.SGD_STEP_KERNEL]).toBeGreaterThan(0);
      else expect([native[pkg.ADAM_STEP_KERNEL], native[pkg.MAX_POOL_RELU_GRAD_KERNEL]].every((n) => (n ?? 0) > 0)).toBe(true);
      for (const t of [a, b, c]) {
        t.dispose();
        t.network.dispose();
      }
    });
  }
});
