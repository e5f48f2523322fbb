import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTrainer, dense, resolveBackend, sequential, sgd } from '@bioprop/core';
import { angleDeg, expectClose, relativeError, seededData } from './index.js';
import { localBackprop } from './test-rules.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

describe('relativeError', () => {
  it('is ‖a−b‖/‖b‖ for tensors and arrays alike', () => {
    const a = Float32Array.from([3, 4]);
    const b = Float32Array.from([0, 4]);
    expect(relativeError(a, b)).toBeCloseTo(3 / 4, 12);
    const ta = tf.tensor(a);
    const tb = tf.tensor(b);
    expect(relativeError(ta, tb)).toBeCloseTo(0.75, 12);
    tf.dispose([ta, tb]);
  });

  it('divides by a tiny floor, not by zero, when b is zero', () => {
    expect(relativeError([0, 0], [0, 0])).toBe(0);
    expect(relativeError([1e-13, 0], [0, 0])).toBeCloseTo(0.1, 12);
  });

  it('refuses tensors of different shapes', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([3, 2]);
    expect(() => relativeError(a, b)).toThrow(/shapes differ, \[2, 3\] vs \[3, 2\]/);
    tf.dispose([a, b]);
  });
});

describe('expectClose', () => {
  it('passes within tolerance and reports the worst element otherwise', () => {
    expect(() => expectClose([1, 2, 3], [1, 2, 3 + 1e-6])).not.toThrow();
    expect(() => expectClose([1, 2, 3], [1, 2.5, 3], 1e-5, 'grad')).toThrow(/grad: relative error .* > 1e-5 .*index 1: 2 vs 2\.5/);
  });
});

describe('angleDeg', () => {
  it('measures flattened angles in degrees', () => {
    expect(angleDeg([1, 0], [0, 2])).toBeCloseTo(90, 10);
    expect(angleDeg([1, 1], [2, 2])).toBeCloseTo(0, 5);
    expect(angleDeg([1, 0], [-1, 0])).toBeCloseTo(180, 10);
    const a = tf.tensor([[1, 0], [0, 1]]);
    const b = tf.tensor([[1, 0], [0, -1]]);
    expect(angleDeg(a, b)).toBeCloseTo(90, 10);
    tf.dispose([a, b]);
    // a zero vector has no direction: 90°, as everywhere in bioprop
    expect(angleDeg([0, 0], [1, 0])).toBe(90);
  });
});

describe('seededData', () => {
  it('is a function of its arguments only', () => {
    const a = seededData(3, 50, [20], 5, 'classification');
    const b = seededData(3, 50, [20], 5, 'classification');
    const c = seededData(4, 50, [20], 5, 'classification');
    expect(a.x).toEqual(b.x);
    expect(a.y).toEqual(b.y);
    expect(a.x).not.toEqual(c.x);
    expect(a).toMatchObject({ count: 50, sampleShape: [20], targetShape: [5] });
  });

  it('classification targets are one-hot and use several classes; regression targets lie in (−1, 1)', () => {
    const cls = seededData(1, 400, [20], 5, 'classification');
    const counts = new Array(5).fill(0);
    for (let s = 0; s < 400; s++) {
      const row = cls.y.subarray(s * 5, s * 5 + 5);
      expect(row.reduce((p, v) => p + v, 0)).toBe(1);
      counts[row.indexOf(1)]++;
    }
    expect(counts.filter((c) => c >= 20).length).toBeGreaterThanOrEqual(4);
    const reg = seededData(1, 100, [2, 3], 4, 'regression');
    expect(reg.x.length).toBe(600);
    expect(Math.max(...reg.y.map(Math.abs))).toBeLessThan(1);
    expect(Math.max(...reg.y.map(Math.abs))).toBeGreaterThan(0.3);
  });

  it('is learnable: backprop reaches 85% training accuracy on 256 samples', async () => {
    const data = seededData(2, 256, [20], 5, 'classification');
    const network = sequential({ inputShape: [20], layers: [dense({ units: 32, activation: 'tanh' }), dense({ units: 5 })], seed: 2 });
    const trainer = createTrainer({ network, rule: localBackprop(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.5 }), seed: 2 });
    await trainer.fit(data, { epochs: 40, batchSize: 32 });
    const { accuracy } = trainer.evaluate(data);
    trainer.dispose();
    network.dispose();
    expect(accuracy).toBeGreaterThan(0.85);
  });
});
