import { describe, expect, it } from 'vitest';
import { createRng, linearTask, nonlinearRegressionTask, shuffleInPlace } from './index';

describe('createRng', () => {
  it('is deterministic per (seed, stream) and differs across seeds and streams', () => {
    const seq = (seed: number, stream = 0) => {
      const r = createRng(seed, stream);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(seq(1)).toEqual(seq(1));
    expect(seq(1)).not.toEqual(seq(2));
    expect(seq(1, 0)).not.toEqual(seq(1, 1));
    expect(seq(2 ** 40)).not.toEqual(seq(0));
  });

  it('gives uniforms in [0, 1) and standard normals', () => {
    const r = createRng(123);
    let s = 0;
    let s2 = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.05);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
    expect(shuffleInPlace([1, 2, 3, 4, 5], createRng(1)).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('linearTask (Lillicrap Task 1)', () => {
  it('y = T x with T ~ U[-1, 1] (outputs × inputs), x ~ N(0, I)', () => {
    const t = linearTask({ seed: 7, trainCount: 500, testCount: 50 });
    expect(t.T.length).toBe(10 * 30);
    expect(t.train.x.length).toBe(500 * 30);
    expect(t.train.y.length).toBe(500 * 10);
    expect(t.train.sampleShape).toEqual([30]);
    expect(t.train.targetShape).toEqual([10]);
    expect(t.train.labels).toBeUndefined();
    expect(t.train.numClasses).toBeUndefined();
    expect(Math.max(...t.T)).toBeLessThanOrEqual(1);
    expect(Math.min(...t.T)).toBeGreaterThanOrEqual(-1);
    for (const [s, o] of [
      [0, 0],
      [123, 7],
      [499, 9],
    ]) {
      let acc = 0;
      for (let i = 0; i < 30; i++) acc += t.T[o * 30 + i] * t.train.x[s * 30 + i];
      expect(t.train.y[s * 10 + o]).toBeCloseTo(acc, 4);
    }
    const mean = t.train.x.reduce((a, b) => a + b, 0) / t.train.x.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
  });

  it('same seed → identical arrays; sizes do not change other arrays; other seed differs', () => {
    const a = linearTask({ seed: 1, trainCount: 100, testCount: 20 });
    const b = linearTask({ seed: 1, trainCount: 100, testCount: 20 });
    expect(b.T).toEqual(a.T);
    expect(b.train.x).toEqual(a.train.x);
    expect(b.train.y).toEqual(a.train.y);
    expect(b.test.x).toEqual(a.test.x);
    const c = linearTask({ seed: 1, trainCount: 50, testCount: 20 });
    expect(c.test.x).toEqual(a.test.x);
    expect(c.train.x).toEqual(a.train.x.subarray(0, 50 * 30));
    expect(linearTask({ seed: 2, trainCount: 100, testCount: 20 }).T).not.toEqual(a.T);
  });
});

describe('nonlinearRegressionTask', () => {
  it('y = tanh(W2 tanh(W1 x)), deterministic in seed, in the nonlinear range', () => {
    const a = nonlinearRegressionTask({ seed: 3, trainCount: 200, testCount: 50 });
    const b = nonlinearRegressionTask({ seed: 3, trainCount: 200, testCount: 50 });
    expect(b.train.x).toEqual(a.train.x);
    expect(b.train.y).toEqual(a.train.y);
    expect(b.W1).toEqual(a.W1);
    expect(a.W1.length).toBe(20 * 30);
    expect(a.W2.length).toBe(10 * 20);
    expect(a.train.targetShape).toEqual([10]);
    const h = Array.from({ length: 20 }, (_, j) => {
      let acc = 0;
      for (let i = 0; i < 30; i++) acc += a.W1[j * 30 + i] * a.train.x[i];
      return Math.tanh(acc);
    });
    let out = 0;
    for (let j = 0; j < 20; j++) out += a.W2[j] * h[j];
    expect(a.train.y[0]).toBeCloseTo(Math.tanh(out), 4);
    // Targets spread over (-1, 1) without being all saturated.
    let sat = 0;
    let s2 = 0;
    for (const v of a.train.y) {
      if (Math.abs(v) > 0.99) sat++;
      s2 += v * v;
    }
    expect(sat / a.train.y.length).toBeLessThan(0.2);
    expect(Math.sqrt(s2 / a.train.y.length)).toBeGreaterThan(0.3);
    expect(nonlinearRegressionTask({ seed: 4, trainCount: 10, testCount: 1 }).W1).not.toEqual(a.W1);
  });
});
