// The blas backend recycles native output buffers; these tests pin down when it must not.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlasBackend } from './index.js';
import { POOL_MAX_BYTES, POOL_PER_LENGTH } from './backend.js';
import { nativeProblem, rng } from './test-helpers.js';

const BACKEND_NAME = 'blas';

let backend: BlasBackend;
const valuesOf = (t: tf.Tensor) => backend.data.get(t.dataId).values as Float32Array;

beforeAll(async () => {
  if (nativeProblem) return;
  await tf.setBackend(BACKEND_NAME);
  backend = tf.backend() as BlasBackend;
});

describe.skipIf(nativeProblem !== null)('output buffer pool', () => {
  const x = () => tf.tensor(rng(1).array(4 * 8), [4, 8]);

  it('a disposed native output is reused by the next output of the same length', () => {
    const input = x();
    const a = tf.tanh(input);
    const buffer = valuesOf(a);
    a.dispose();
    const b = tf.exp(input);
    expect(valuesOf(b)).toBe(buffer);
    // and b holds exp, not tanh
    const expected = Float32Array.from(input.dataSync(), Math.exp);
    b.dataSync().forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    tf.dispose([input, b]);
  });

  it('never recycles a buffer that was read out (dataSync keeps returning the same values)', () => {
    const input = x();
    const a = tf.tanh(input);
    const read = a.dataSync();
    const copy = read.slice();
    a.dispose();
    const b = tf.exp(input);
    expect(valuesOf(b)).not.toBe(read);
    expect(Array.from(read)).toEqual(Array.from(copy));
    tf.dispose([input, b]);
  });

  it('keeps a buffer while a view of it (a cpu slice) is alive', () => {
    const input = x();
    const a = tf.tanh(input);
    // computed in JS: reading `a` would mark its buffer as escaped and make this test vacuous
    const expected = Float32Array.from(input.dataSync(), Math.tanh);
    const view = tf.slice(a, [0, 0], [2, 8]);
    // the cpu kernel's simple slice is a subarray: the case the reference count exists for
    expect(valuesOf(view).buffer).toBe(valuesOf(a).buffer);
    a.dispose();
    const b = tf.exp(input);
    const c = tf.sigmoid(input);
    view.dataSync().forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    tf.dispose([input, view, b, c]);
  });

  it('a transpose nobody reads is never computed, and its source is recycled once both are gone', () => {
    const input = x();
    const a = tf.tanh(input);
    const buffer = valuesOf(a);
    const t = tf.transpose(a);
    a.dispose();
    // the pending transpose still needs a's buffer
    const b = tf.exp(input);
    expect(valuesOf(b)).not.toBe(buffer);
    const before = backend.poolStats().misses;
    t.dispose();
    const c = tf.sigmoid(input);
    expect(valuesOf(c)).toBe(buffer);
    expect(backend.poolStats().misses).toBe(before);
    tf.dispose([input, b, c]);
  });

  it('stays bounded over many steps of mixed shapes', () => {
    const r = rng(2);
    for (let i = 0; i < 200; i++) {
      const n = r.int(1, 64);
      tf.tidy(() => tf.tanh(tf.add(tf.tensor(r.array(n)), 1)));
    }
    const { buffers, bytes } = backend.poolStats();
    expect(buffers).toBeLessThanOrEqual(64 * POOL_PER_LENGTH);
    expect(bytes).toBeLessThanOrEqual(POOL_MAX_BYTES);
  });
});
