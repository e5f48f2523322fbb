import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activationFromConfig, resolveActivation } from './activations.js';
import { bernoulli, isStochasticActivation, lwta } from './activations-extra.js';
import { resolveBackend } from './backend.js';
import { loadNetwork, restoreTrainer, saveCheckpoint } from './node.js';
import { OptionError, ShapeError } from './errors.js';
import { dense } from './layers/dense.js';
import { sequential } from './network.js';
import { sgd } from './optimizers.js';
import { randomStream } from './random.js';
import { deltaFromSignal, layerwise } from './rule.js';
import { createTrainer, type TrainData } from './trainer.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

// `+ 0` turns −0 (a negative unit times a 0 mask) into 0
const values = (t: tf.Tensor) => Array.from(t.dataSync(), (v) => v + 0);

describe('lwta', () => {
  it('passes only the first largest unit of each block and masks the derivative alike', () => {
    const act = lwta({ blockSize: 3 });
    const pre = tf.tensor2d([
      [1, -2, 3, 0.5, 0.25, -1],
      [-1, -1, -3, 0, 0, 0],
    ]);
    const h = act.apply(pre, { training: true });
    // row 2: ties go to the first unit of the block
    expect(values(h)).toEqual([0, 0, 3, 0.5, 0, 0, -1, 0, 0, 0, 0, 0]);
    expect(values(act.derivative(pre, h))).toEqual([0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0]);
    tf.dispose([pre, h]);
  });

  it('works along the last axis of image-shaped activations', () => {
    const act = lwta({ blockSize: 2 });
    const pre = tf.tensor4d([1, 2, 4, 3, 0, -1, -5, 5], [1, 2, 1, 4]);
    expect(values(act.apply(pre, { training: false }))).toEqual([0, 2, 4, 0, 0, 0, 0, 5]);
    pre.dispose();
  });

  it('rejects a last axis that is not a multiple of the block size, and bad options', () => {
    const pre = tf.zeros([2, 5]);
    expect(() => lwta({ blockSize: 2 }).apply(pre, { training: true })).toThrow(ShapeError);
    expect(() => lwta({ blockSize: 0 })).toThrow(OptionError);
    expect(() => lwta({ blockSize: 1.5 })).toThrow(OptionError);
    pre.dispose();
  });

  it('leaks no tensor', () => {
    const act = lwta({ blockSize: 4 });
    const pre = tf.randomNormal([8, 16]);
    const before = tf.memory().numTensors;
    const h = act.apply(pre, { training: true });
    const d = act.derivative(pre, h);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([pre, h, d]);
  });
});

describe('bernoulli', () => {
  it('samples with mean σ(a) and has the surrogate derivative σ′(a)', () => {
    const act = bernoulli();
    expect(isStochasticActivation(act)).toBe(true);
    const n = 20000;
    const levels = [-2, -0.5, 0, 1, 3];
    const pre = tf.tidy(() => tf.tile(tf.tensor2d([levels]), [n, 1]));
    const z = act.apply(pre, { training: false, random: randomStream(11, 'activations') });
    const means = values(tf.mean(z, 0));
    const sig = levels.map((a) => 1 / (1 + Math.exp(-a)));
    // 4σ of a binomial mean over 20000 draws is < 0.015
    means.forEach((m, i) => expect(Math.abs(m - sig[i])).toBeLessThan(0.015));
    expect(new Set(values(z))).toEqual(new Set([0, 1]));
    const d = values(act.derivative(tf.tensor2d([levels]), z));
    d.forEach((v, i) => expect(v).toBeCloseTo(sig[i] * (1 - sig[i]), 6));
    tf.dispose([pre, z]);
  });

  it('same seed, same samples; the stream advances, and a restored stream continues identically', () => {
    const act = bernoulli();
    const pre = tf.zeros([64, 10]);
    const a = randomStream(5, 'activations');
    const b = randomStream(5, 'activations');
    const a1 = values(act.apply(pre, { training: true, random: a }));
    expect(values(act.apply(pre, { training: true, random: b }))).toEqual(a1);
    const saved = a.getState();
    const a2 = values(act.apply(pre, { training: true, random: a }));
    expect(a2).not.toEqual(a1);
    const c = randomStream(999, 'other');
    c.setState(saved);
    expect(values(act.apply(pre, { training: true, random: c }))).toEqual(a2);
    pre.dispose();
  });

  it('says what to pass when no random stream is given', () => {
    const pre = tf.zeros([2, 2]);
    expect(() => bernoulli().apply(pre, { training: true })).toThrow(/random/);
    pre.dispose();
  });
});

/** Backprop written inline (core cannot depend on @bioprop/backprop). */
const bp = layerwise({
  id: 'bp-inline',
  name: 'inline backprop',
  options: {},
  usesSignal: true,
  step(ctx) {
    const delta = deltaFromSignal(ctx);
    return {
      delta,
      grads: ctx.layer.paramGrads(ctx.layerTrace.input, delta),
      below: ctx.needBelow ? { gradOutput: ctx.layer.backwardInput(delta, ctx.layer.params.kernel) } : undefined,
    };
  },
});

function toyData(): TrainData {
  const s = randomStream(1, 'data');
  const count = 48;
  const x = s.normalArray(count * 6);
  const y = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) y[i * 2 + (x[i * 6] + x[i * 6 + 1] > 0 ? 1 : 0)] = 1;
  return { x, y, count, sampleShape: [6], targetShape: [2] };
}

const makeNet = () =>
  sequential({
    inputShape: [6],
    layers: [dense({ units: 8, activation: 'bernoulli' }), dense({ units: 8, activation: lwta({ blockSize: 4 }) }), dense({ units: 2 })],
    seed: 4,
  });

describe('checkpoints with lwta and bernoulli layers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bioprop-act-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a resumed run with bernoulli units continues bit-for-bit (the activation stream is saved)', async () => {
    const data = toyData();
    const opts = { loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 9 } as const;
    const straight = createTrainer({ network: makeNet(), rule: bp, ...opts });
    await straight.fit(data, { epochs: 2, batchSize: 16 });
    const want = Object.values(straight.network.namedParams()).map(values);

    const first = createTrainer({ network: makeNet(), rule: bp, ...opts });
    await first.fit(data, { epochs: 1, batchSize: 16 });
    await saveCheckpoint(dir, { network: first.network, boundRule: first.boundRule, trainer: first });
    const resumed = createTrainer({ network: makeNet(), rule: bp, ...opts });
    await restoreTrainer(resumed, dir);
    await resumed.fit(data, { epochs: 2, batchSize: 16 });
    expect(Object.values(resumed.network.namedParams()).map(values)).toEqual(want);
    // the samples did matter: a different activation stream gives different weights
    const other = createTrainer({ network: makeNet(), rule: bp, ...opts, seed: 10 });
    await other.fit(data, { epochs: 2, batchSize: 16 });
    expect(Object.values(other.network.namedParams()).map(values)).not.toEqual(want);
    for (const t of [straight, first, resumed, other]) {
      t.dispose();
      t.network.dispose();
    }
  });

  it('reloads lwta (with its block size) and bernoulli from a saved network', async () => {
    const net = makeNet();
    const trainer = createTrainer({ network: net, rule: bp, loss: 'softmaxCrossEntropy' });
    await saveCheckpoint(dir, { network: net, boundRule: trainer.boundRule });
    const { network, ruleState } = await loadNetwork(dir);
    expect(network.layers[0].activation.name).toBe('bernoulli');
    expect(network.layers[1].activation.name).toBe('lwta');
    expect(network.layers[1].activation.config).toEqual({ blockSize: 4 });
    const x = tf.randomNormal([5, 6], 0, 1, 'float32', 3);
    const ctx = () => ({ training: false, random: randomStream(2, 'eval') });
    expect(values(network.predict(x, ctx()))).toEqual(values(net.predict(x, ctx())));
    expect(activationFromConfig({ name: 'lwta', config: { blockSize: 2 } }).config).toEqual({ blockSize: 2 });
    expect(resolveActivation('bernoulli').name).toBe('bernoulli');
    tf.dispose([x, ...Object.values(ruleState)]);
    trainer.dispose();
    net.dispose();
    network.dispose();
  });
});
