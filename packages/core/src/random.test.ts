import { describe, expect, it } from 'vitest';
import { permutation, randomSource, randomStream } from './random.js';

describe('seeded random streams', () => {
  it('same seed and name → same numbers; other name or seed → other numbers', () => {
    const a = randomStream(5, 'init').uniformArray(100);
    expect(randomStream(5, 'init').uniformArray(100)).toEqual(a);
    expect(randomStream(5, 'shuffle').uniformArray(100)).not.toEqual(a);
    expect(randomStream(6, 'init').uniformArray(100)).not.toEqual(a);
  });

  it('a restored state continues exactly, including a cached Box–Muller normal', () => {
    const s = randomStream(1, 'x');
    s.normal(); // leaves a cached spare
    const state = s.getState();
    const next = [s.normal(), s.next(), s.normal()];
    const t = randomStream(999, 'y');
    t.setState(state);
    expect([t.normal(), t.next(), t.normal()]).toEqual(next);
  });

  it('normals have mean ≈ 0 and variance ≈ 1; uniforms lie in [lo, hi)', () => {
    const s = randomStream(3);
    const n = s.normalArray(200_000);
    const mean = n.reduce((a, b) => a + b, 0) / n.length;
    const v = n.reduce((a, b) => a + (b - mean) ** 2, 0) / n.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(v - 1)).toBeLessThan(0.01);
    const u = s.uniformArray(10_000, -0.5, 0.25);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...u)).toBeLessThan(0.25);
  });

  it('a source saves and restores every stream it made', () => {
    const src = randomSource(42);
    src.stream('a').next();
    src.stream('b').normal();
    const saved = src.getState();
    const want = [src.stream('a').next(), src.stream('b').normal()];
    const other = randomSource(42);
    other.setState(saved);
    expect([other.stream('a').next(), other.stream('b').normal()]).toEqual(want);
  });

  it('permutation is a permutation and depends on the stream', () => {
    const p = permutation(1000, randomStream(1));
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(1000).keys()]);
    expect(permutation(1000, randomStream(2))).not.toEqual(p);
  });

  it('rejects a bad seed', () => {
    expect(() => randomSource(-1)).toThrow(/seed/);
    expect(() => randomSource(1.5)).toThrow(/seed/);
  });
});
