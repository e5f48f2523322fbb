import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { fanInUniformInit, glorotInit, normalInit, resolveInitializer, uniformInit, zeroInit } from './initializers.js';
import { randomStream } from './random.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const fan = { fanIn: 300, fanOut: 100 };
const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('seeded initializers', () => {
  it('uniform ±ω stays within ω and has variance ω²/3', () => {
    const v = values(uniformInit(0.5).init([300, 100], fan, randomStream(1)));
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(0.5);
    const var_ = v.reduce((a, b) => a + b * b, 0) / v.length;
    expect(var_).toBeCloseTo(0.25 / 3, 2);
  });

  it('normal σ has standard deviation σ', () => {
    const v = values(normalInit(0.1).init([300, 100], fan, randomStream(2)));
    expect(Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length)).toBeCloseTo(0.1, 2);
  });

  it('Glorot uses the limit √(6/(fanIn+fanOut)); fan-in uniform 1/√fanIn; zero is zero', () => {
    const g = values(glorotInit().init([300, 100], fan, randomStream(3)));
    const limit = Math.sqrt(6 / 400);
    expect(Math.max(...g.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(0.99 * limit);
    const f = values(fanInUniformInit().init([300, 100], fan, randomStream(3)));
    expect(Math.max(...f.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(300));
    expect(values(zeroInit().init([3, 2], fan, randomStream(3)))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('the same stream state gives the same tensor', () => {
    expect(values(glorotInit().init([20, 10], fan, randomStream(9, 'a')))).toEqual(values(glorotInit().init([20, 10], fan, randomStream(9, 'a'))));
  });

  it('names and shorthands resolve; unknown ones are clear errors', () => {
    expect(resolveInitializer({ uniform: 0.01 }, zeroInit()).config).toEqual({ scale: 0.01 });
    expect(resolveInitializer('zero', glorotInit()).name).toBe('zero');
    expect(resolveInitializer(undefined, glorotInit()).name).toBe('glorot');
    expect(() => resolveInitializer('he' as never, glorotInit())).toThrow(/unknown initializer "he"/);
    expect(() => uniformInit(-1)).toThrow(/scale/);
  });
});
