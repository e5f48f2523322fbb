import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relErr, testBackprop } from './test-utils.js';
import { backpropPass, stepContext } from './rule.js';
import { dense } from './layers/dense.js';
import { batchNorm } from './modules/batch-norm.js';
import { dropout } from './modules/dropout.js';
import { sequential } from './network.js';
import { createTrainer, type TrainData } from './trainer.js';
import { momentum, adam } from './optimizers.js';
import { CheckpointError, DivergenceError, OptionError, ShapeError } from './errors.js';
import { loadNetwork, readCheckpoint, restoreTrainer, saveCheckpoint } from './node.js';
import { randomSource, randomStream } from './random.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function toyData(seed: number, count: number): TrainData {
  const r = randomStream(seed, 'data');
  const x = r.normalArray(count * 8);
  const y = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    // the class is the argmax of three fixed projections
    const s = [0, 1, 2].map((k) => x[i * 8 + k] + 0.5 * x[i * 8 + k + 3]);
    y[i * 3 + s.indexOf(Math.max(...s))] = 1;
  }
  return { x, y, count, sampleShape: [8], targetShape: [3] };
}

function makeTrainer(seed = 1) {
  const random = randomSource(seed);
  const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 3 })], random });
  return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 0.01 }), random });
}

const weights = (t: ReturnType<typeof makeTrainer>) => Object.values(t.network.namedParams()).map((v) => Array.from(v.dataSync()));

describe('trainer', () => {
  it('learns a toy task and leaks no tensor per step', async () => {
    const t = makeTrainer();
    const data = toyData(3, 512);
    const before = t.evaluate(data);
    await t.fit(data, { epochs: 1, batchSize: 32 }); // warm-up: optimizer slots are created lazily
    const n = tf.memory().numTensors;
    const fit = await t.fit(data, { epochs: 6, batchSize: 32 });
    expect(tf.memory().numTensors).toBe(n);
    const after = t.evaluate(data);
    expect(after.loss).toBeLessThan(before.loss * 0.5);
    expect(after.accuracy).toBeGreaterThan(0.85);
    expect(fit.epochs.map((e) => e.epoch)).toEqual([2, 3, 4, 5, 6]);
    expect(fit.samples).toBe(512 * 5);
    t.dispose();
  });

  it('a step applies exactly backprop grads through the optimizer (sgd)', () => {
    const random = randomSource(4);
    const network = sequential({ inputShape: [8], layers: [dense({ units: 5, activation: 'sigmoid' }), dense({ units: 3 })], random });
    const t = createTrainer({ network, rule: testBackprop(), loss: 'mse', random });
    const x = tf.tensor(randomStream(1).normalArray(4 * 8), [4, 8]);
    const y = tf.tensor(randomStream(2).normalArray(4 * 3), [4, 3]);
    const want = tf.tidy(() => {
      const trace = network.forward(x);
      const ctx = stepContext({ network, trace, target: y, loss: t.loss, step: 0, epoch: 0, random });
      const g = backpropPass(network, trace, ctx).grads;
      return network.layers.map((l, i) => tf.sub(l.params.kernel, tf.mul(0.01, g[i].kernel)));
    });
    t.step(x, y);
    network.layers.forEach((l, i) => expect(relErr(l.params.kernel, want[i])).toBeLessThan(1e-6));
  });

  it('same seed → identical weights; another seed → different', async () => {
    const data = toyData(5, 128);
    const a = makeTrainer(7);
    const b = makeTrainer(7);
    const c = makeTrainer(8);
    for (const t of [a, b, c]) await t.fit(data, { epochs: 2, batchSize: 16 });
    expect(weights(b)).toEqual(weights(a));
    expect(weights(c)).not.toEqual(weights(a));
  });

  it('fit refills its batch arrays only when no tensor on them outlived the step (a hook keeping a view of its input)', async () => {
    const data = toyData(5, 40);
    const t = makeTrainer(3);
    // each step the hook keeps a reshape of the input (sharing its data) and drops the one it kept before
    let kept: tf.Tensor | null = null;
    let keptCopy: number[] = [];
    let checked = 0;
    t.addHook({
      onStep({ input }) {
        if (kept) {
          // the batch arrays must not have been refilled under the kept tensor
          expect(Array.from(kept.dataSync())).toEqual(keptCopy);
          checked++;
          kept.dispose();
        }
        kept = tf.keep(tf.reshape(input, input.shape));
        keptCopy = Array.from(input.dataSync());
      },
    });
    await t.fit(data, { epochs: 2, batchSize: 8 });
    expect(checked).toBe(9);
    (kept as tf.Tensor | null)?.dispose();
    // and a run without hooks (arrays reused from step to step) trains exactly as a fresh run with the hook did
    const a = makeTrainer(3);
    const b = makeTrainer(3);
    b.addHook({ onStep: () => undefined });
    await a.fit(data, { epochs: 2, batchSize: 8 });
    await b.fit(data, { epochs: 2, batchSize: 8 });
    expect(weights(a)).toEqual(weights(b));
  });

  it('a wrong input width is a ShapeError naming the shapes', () => {
    const t = makeTrainer();
    expect(() => t.step(tf.zeros([4, 9]), tf.zeros([4, 3]))).toThrow(ShapeError);
    expect(() => t.step(tf.zeros([4, 9]), tf.zeros([4, 3]))).toThrow(/expected \[N, 8\], got \[4, 9\]/);
    expect(() => t.step(tf.zeros([4, 8]), tf.zeros([4, 2]))).toThrow(/target shape/);
  });

  it('fit rejects data of the wrong size', async () => {
    const t = makeTrainer();
    const bad = { ...toyData(1, 10), count: 11 };
    await expect(t.fit(bad, { epochs: 1 })).rejects.toThrow(/x has 80 values, expected 11 × 8/);
    await expect(t.fit(toyData(1, 10), { epochs: -1 })).rejects.toThrow(OptionError);
  });

  it('an unknown activation is a clear error', () => {
    expect(() => dense({ units: 3, activation: 'gelu' })).toThrow(/unknown activation "gelu"/);
  });

  it('a NaN loss stops training with an error naming the step and layer, weights untouched', async () => {
    const t = makeTrainer();
    const data = toyData(2, 64);
    await t.fit(data, { epochs: 1, batchSize: 32 });
    const w = weights(t);
    const x = tf.tensor(new Float32Array(4 * 8).fill(1), [4, 8]);
    // poison layer 1's kernel: layer 0 stays finite, layer 1's output is NaN
    const k = t.network.layers[1].params.kernel;
    const saved = k.clone();
    k.assign(tf.fill(k.shape, NaN));
    let err: unknown;
    try {
      t.step(x, tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as Error).message).toMatch(/loss is NaN at step 3 .*layer 1 \(dense_2\)/);
    expect((err as DivergenceError).layer).toBe(1);
    k.assign(saved);
    expect(weights(t)).toEqual(w);
  });
});

describe('trainer: asynchronous reads, divergence without NaN, step limits', () => {
  it('stepAsync equals step bit for bit (dropout, batch norm, Adam) and leaks nothing', async () => {
    const make = () => {
      const random = randomSource(9);
      const network = sequential({
        inputShape: [8],
        layers: [dense({ units: 12, activation: 'tanh' }), batchNorm(), dropout(0.3), dense({ units: 3 })],
        random,
      });
      return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 0.01 }), random });
    };
    const data = toyData(6, 64);
    const a = make();
    const b = make();
    await a.fit(data, { epochs: 2, batchSize: 16, async: false });
    await b.fit(data, { epochs: 2, batchSize: 16, async: true });
    const bits = (t: ReturnType<typeof make>) =>
      [...Object.values(t.network.namedParams()), ...Object.values(t.network.namedBuffers())].map((v) => Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer)));
    expect(bits(b)).toEqual(bits(a));
    expect(b.random.getState()).toEqual(a.random.getState());
    const n1 = tf.memory().numTensors;
    const x = tf.tensor(data.x.subarray(0, 16 * 8), [16, 8]);
    const y = tf.tensor(data.y.subarray(0, 16 * 3), [16, 3]);
    for (let i = 0; i < 3; i++) await b.stepAsync(x, y);
    expect(tf.memory().numTensors).toBe(n1 + 2);
    expect(x.isDisposed || y.isDisposed).toBe(false);
    tf.dispose([x, y]);
    for (const t of [a, b]) {
      t.dispose();
      t.network.dispose();
    }
  });

  it('a running loss far above the first steps\' mean stops training with a DivergenceError naming the step (no NaN needed)', async () => {
    const random = randomSource(2);
    const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'relu' }), dense({ units: 3 })], random });
    // a large rate that makes the loss grow by orders of magnitude while staying finite for a while
    const t = createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 3 }), random });
    const err = await t.fit(toyData(3, 512), { epochs: 20, batchSize: 16 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as Error).message).toMatch(/running loss .* at step \d+ .* over 100× the loss at the initial weights/);
    expect(Number.isFinite(t.position.lossWatch!.running!)).toBe(true);
    const allowed = createTrainer({ network: sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'relu' }), dense({ units: 3 })], seed: 2 }), rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 3 }), seed: 2, divergence: false, checkFinite: false });
    await expect(allowed.fit(toyData(3, 512), { epochs: 2, batchSize: 16 })).resolves.toBeDefined();
    for (const x of [t, allowed]) {
      x.dispose();
      x.network.dispose();
    }
  });

  it('a loss that explodes within the first 10 steps is measured against the loss at the initial weights (lr 1e6)', async () => {
    const make = (divergence?: false) => {
      const random = randomSource(4);
      const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 3 })], random });
      // tanh keeps the logits finite (|logit| ≤ the last kernel's row sums) while they grow by orders of magnitude at once
      return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 1e6, momentum: 0 }), random, divergence });
    };
    const lossesOf = (t: ReturnType<typeof make>) => {
      const losses: number[] = [];
      t.addHook({ onStep: ({ loss }) => void losses.push(loss) });
      return losses;
    };
    // unwatched: every loss stays finite, and after the first step none is ever 100× the first 10 steps' mean (that
    // mean already holds the explosion, so a watch with it as the baseline never fires)
    const free = make(false);
    const all = lossesOf(free);
    await free.fit(toyData(5, 512), { epochs: 1, batchSize: 16 });
    expect(all).toHaveLength(32);
    expect(all.every(Number.isFinite)).toBe(true);
    const firstTen = all.slice(0, 10).reduce((a, b) => a + b, 0) / 10;
    expect(Math.max(...all.slice(1))).toBeLessThan(100 * firstTen);
    expect(all[0]).toBeLessThan(3);
    expect(all[1]).toBeGreaterThan(200 * all[0]);
    // watched: stopped at the second step, against the first step's loss
    const t = make();
    const losses = lossesOf(t);
    const err = await t.fit(toyData(5, 512), { epochs: 1, batchSize: 16 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as Error).message).toMatch(/running loss .* at step 2 .* over 100× the loss at the initial weights \(1\.\d+\)/);
    expect(losses).toEqual(all.slice(0, 2));
    expect(t.position.lossWatch).toMatchObject({ first: all[0] });
    for (const x of [t, free]) {
      x.dispose();
      x.network.dispose();
    }
  });

  it('a loss at the initial weights far above an all-zero output\'s stops at the first step (weights ×1e30), unless allowed', async () => {
    const make = (divergence?: false) => {
      const random = randomSource(6);
      const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'relu' }), dense({ units: 3 })], random });
      for (const v of Object.values(network.namedParams())) v.assign(tf.mul(v, 1e15));
      return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.01 }), random, divergence });
    };
    const t = make();
    const err = await t.fit(toyData(5, 64), { epochs: 1, batchSize: 16 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as Error).message).toMatch(/the loss at the initial weights, \d.*e\+\d+ at step 1 \(epoch 1, batch 1\), is over 10000× the loss of an all-zero output \(1\.09\d+\)/);
    expect(t.position.step).toBe(1);
    const allowed = make(false);
    await expect(allowed.fit(toyData(5, 64), { epochs: 1, batchSize: 16 })).resolves.toBeDefined();
    for (const x of [t, allowed]) {
      x.dispose();
      x.network.dispose();
    }
  });

  it('healthy training from a poor but finite start is not flagged (normal:1-like weights, MSE)', async () => {
    const random = randomSource(8);
    const network = sequential({ inputShape: [8], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 3 })], random });
    for (const v of Object.values(network.namedParams())) v.assign(tf.mul(v, 3));
    const t = createTrainer({ network, rule: testBackprop(), loss: 'mse', optimizer: adam({ lr: 0.01 }), random });
    const r = await t.fit(toyData(5, 256), { epochs: 3, batchSize: 8 });
    expect(r.stopped).toBe(false);
    expect(t.position.lossWatch!.reference).toBeGreaterThan(0);
    t.dispose();
    t.network.dispose();
  });

  it('maxSteps stops fit mid-epoch, and a later fit continues from there', async () => {
    const t = makeTrainer();
    const data = toyData(3, 128);
    const first = await t.fit(data, { epochs: 3, batchSize: 16, maxSteps: 5 });
    expect(first).toMatchObject({ stopped: true, stoppedBy: 'maxSteps', samples: 80 });
    expect(t.position).toMatchObject({ epoch: 0, batch: 5, step: 5 });
    const rest = await t.fit(data, { epochs: 3, batchSize: 16 });
    expect(rest.stopped).toBe(false);
    expect(t.position.step).toBe(24);
    t.dispose();
    t.network.dispose();
  });
});

describe('checkpoints', () => {
  it('save → restore → identical continuation mid-epoch (optimizer slots, streams, position)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-'));
    const data = toyData(9, 100);
    const a = makeTrainer(3);
    const ctl = new AbortController();
    let steps = 0;
    const r = await a.fit(data, {
      epochs: 3,
      batchSize: 16,
      signal: ctl.signal,
      onProgress: () => {
        if (++steps === 10) ctl.abort();
      },
    });
    expect(r.stopped).toBe(true);
    expect(a.position).toMatchObject({ epoch: 1, batch: 3 });
    await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a, extra: { note: 'x' } });
    await a.fit(data, { epochs: 3, batchSize: 16 });

    const b = makeTrainer(99); // other init and streams: everything must come from the checkpoint
    const manifest = await restoreTrainer(b, dir);
    expect(manifest.extra).toEqual({ note: 'x' });
    await b.fit(data, { epochs: 3, batchSize: 16 });
    expect(weights(b)).toEqual(weights(a));

    // and an uninterrupted run agrees too
    const c = makeTrainer(3);
    await c.fit(data, { epochs: 3, batchSize: 16 });
    expect(weights(c)).toEqual(weights(a));
  });

  it('loadNetwork rebuilds the network with its weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-'));
    const a = makeTrainer(2);
    await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule });
    const { network, manifest } = await loadNetwork(dir);
    expect(manifest.rule.id).toBe('bp');
    expect(network.layers.map((l) => l.config())).toEqual(a.network.layers.map((l) => l.config()));
    const x = tf.ones([2, 8]);
    expect(relErr(network.predict(x), a.network.predict(x))).toBe(0);
  });

  it('a corrupt or truncated checkpoint is a CheckpointError naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-'));
    const a = makeTrainer(2);
    const m = await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
    const wfile = join(dir, m.weightsFile);
    const good = readFileSync(wfile);
    writeFileSync(wfile, good.subarray(0, good.length - 8));
    await expect(readCheckpoint(dir)).rejects.toThrow(CheckpointError);
    await expect(readCheckpoint(dir)).rejects.toThrow(/weights-.*\.bin: \d+ bytes, the manifest says/);
    const flipped = Buffer.from(good);
    flipped[5] ^= 0xff;
    writeFileSync(wfile, flipped);
    await expect(readCheckpoint(dir)).rejects.toThrow(/SHA-256 does not match/);
    writeFileSync(join(dir, 'manifest.json'), '{ not json');
    await expect(readCheckpoint(dir)).rejects.toThrow(/manifest.json: corrupt manifest/);
    await expect(readCheckpoint(join(dir, 'nothing'))).rejects.toThrow(/manifest.json is missing/);
  });

  it('an interrupted save leaves the previous checkpoint whole; a completed one replaces it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-'));
    const a = makeTrainer(2);
    const first = await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
    // what a crash mid-save leaves: a new weights file and a temp manifest, the old manifest in place
    writeFileSync(join(dir, 'weights-ffffffffffffffff.bin'), Buffer.alloc(12));
    writeFileSync(join(dir, 'manifest.json.tmp-1-abc'), '{"format":');
    const ck = await readCheckpoint(dir);
    expect(ck.manifest.sha256).toBe(first.sha256);
    ck.dispose();
    await a.fit(toyData(1, 32), { epochs: 1, batchSize: 8 });
    const second = await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', second.weightsFile].sort());
  });

  it('restoring into a trainer of another rule or shape is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-'));
    const a = makeTrainer(2);
    await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
    const random = randomSource(1);
    const network = sequential({ inputShape: [8], layers: [dense({ units: 7, activation: 'tanh' }), dense({ units: 3 })], random });
    const other = createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.1 }), random });
    await expect(restoreTrainer(other, dir)).rejects.toThrow(/shape \[8,16\], the network has \[8,7\]/);
  });
});
