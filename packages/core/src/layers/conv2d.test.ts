import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerFromConfig } from '../config.js';
import { sequential } from '../network.js';
import { OptionError, ShapeError } from '../errors.js';
import { randomStream } from '../random.js';
import type { Layer, Tensor } from '../types.js';
import { conv2d } from './conv2d.js';
import type { Padding } from './locally-connected.js';

const relErr = (a: Tensor, b: Tensor): number =>
  tf.tidy(() => {
    expect(a.shape).toEqual(b.shape);
    return tf.norm(tf.sub(a, b)).dataSync()[0] / Math.max(tf.norm(b).dataSync()[0], 1e-12);
  });

function build(options: Parameters<typeof conv2d>[0], inputShape: number[], seed = 1): Layer {
  return sequential({ inputShape, layers: [conv2d(options)], seed }).layers[0];
}

const randn = (shape: number[], seed: number): Tensor =>
  tf.tensor(randomStream(seed, 'data').normalArray(shape.reduce((a, b) => a * b, 1)), shape);

const cases: { name: string; input: number[]; kernelSize: [number, number]; strides: [number, number]; padding: Padding; filters: number }[] = [
  { name: '3×3 s1 valid', input: [5, 6, 2], kernelSize: [3, 3], strides: [1, 1], padding: 'valid', filters: 3 },
  { name: '3×2 s(2,1) same', input: [5, 6, 3], kernelSize: [3, 2], strides: [2, 1], padding: 'same', filters: 4 },
  { name: '3×3 s2 same (even input)', input: [8, 8, 1], kernelSize: [3, 3], strides: [2, 2], padding: 'same', filters: 2 },
  { name: '2×2 s3 valid (uncovered pixels)', input: [7, 7, 2], kernelSize: [2, 2], strides: [3, 3], padding: 'valid', filters: 2 },
];

/** Autodiff reference on the cpu backend (wasm has no Conv2DBackpropFilter kernel), returned as plain arrays. */
function referenceOnCpu(
  c: (typeof cases)[number],
  x: Float32Array,
  kernel: Float32Array,
  b: Float32Array,
  delta: Float32Array,
  other: Float32Array,
): { out: Float32Array; dx: Float32Array; dk: Float32Array; db: Float32Array; dxOther: Float32Array } {
  const saved = tf.getBackend();
  tf.setBackend('cpu');
  try {
    return tf.tidy(() => {
      const xs = tf.tensor4d(x, [2, ...c.input] as [number, number, number, number]);
      const k = tf.tensor4d(kernel, [...c.kernelSize, c.input[2], c.filters]);
      const bias = tf.tensor1d(b);
      const map = (xi: tf.Tensor4D, ki: tf.Tensor4D, bi: Tensor) => tf.add(tf.conv2d(xi, ki, c.strides, c.padding), bi);
      const out = map(xs, k, bias);
      const d = tf.tensor(delta, out.shape);
      const [dx, dk, db] = tf.grads((xi: Tensor, ki: Tensor, bi: Tensor) => tf.sum(tf.mul(d, map(xi as tf.Tensor4D, ki as tf.Tensor4D, bi))))([xs, k, bias]);
      const o = tf.tensor4d(other, k.shape);
      const dxOther = tf.grad((xi: Tensor) => tf.sum(tf.mul(d, tf.conv2d(xi as tf.Tensor4D, o, c.strides, c.padding))))(xs);
      const arr = (t: Tensor) => t.dataSync() as Float32Array;
      return { out: arr(out), dx: arr(dx), dk: arr(dk), db: arr(db), dxOther: arr(dxOther) };
    });
  } finally {
    tf.setBackend(saved);
  }
}

describe.each(['cpu', 'wasm'])('conv2d on %s', (backend) => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await tf.ready();
    await tf.setBackend(backend);
    await tf.ready();
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  it.each(cases)('linear, backwardInput and paramGrads equal tf.grads of tf.conv2d: $name', (c) => {
    const layer = build({ filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, padding: c.padding }, c.input, 2);
    layer.params.bias.assign(randn([c.filters], 3));
    const x = randn([2, ...c.input], 4);
    const delta = randn([2, ...layer.outputShape], 5);
    const other = randn(layer.params.kernel.shape, 6);
    const ref = referenceOnCpu(
      c,
      x.dataSync() as Float32Array,
      layer.params.kernel.dataSync() as Float32Array,
      layer.params.bias.dataSync() as Float32Array,
      delta.dataSync() as Float32Array,
      other.dataSync() as Float32Array,
    );
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = layer.linear(x);
      expect(relErr(out, tf.tensor(ref.out, out.shape))).toBeLessThan(1e-5);
      const g = layer.paramGrads(x, delta);
      expect(relErr(g.kernel, tf.tensor(ref.dk, layer.params.kernel.shape))).toBeLessThan(1e-5);
      expect(relErr(g.bias, tf.tensor(ref.db, [c.filters]))).toBeLessThan(1e-5);
      expect(relErr(layer.backwardInput(delta, layer.params.kernel), tf.tensor(ref.dx, x.shape))).toBeLessThan(1e-5);
      // another kernel B: the VJP of the convolution with B (what feedback alignment needs)
      expect(relErr(layer.backwardInput(delta, other), tf.tensor(ref.dxOther, x.shape))).toBeLessThan(1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, delta, other]);
  });

  it('backwardInput is linear in the kernel it is given', () => {
    const layer = build({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' }, [6, 6, 2]);
    tf.tidy(() => {
      const b1 = randn(layer.params.kernel.shape, 7);
      const b2 = randn(layer.params.kernel.shape, 8);
      const delta = randn([2, ...layer.outputShape], 9);
      const mixed = layer.backwardInput(delta, tf.sub(tf.mul(0.5, b1), b2));
      const parts = tf.sub(tf.mul(0.5, layer.backwardInput(delta, b1)), layer.backwardInput(delta, b2));
      expect(relErr(mixed, parts)).toBeLessThan(1e-5);
      // a flat δ (from a dense layer above that did not reshape) is accepted
      expect(relErr(layer.backwardInput(tf.reshape(delta, [2, -1]), b1), layer.backwardInput(delta, b1))).toBe(0);
    });
  });
});

describe('conv2d options and checkpoints', () => {
  it('rebuilds from its config through layerFromConfig', () => {
    const spec = conv2d({ filters: 4, kernelSize: 3, strides: [2, 1], padding: 'same', activation: 'relu', name: 'c1' });
    const layer = sequential({ inputShape: [7, 5, 3], layers: [spec], seed: 1 }).layers[0];
    expect(layer.outputShape).toEqual([4, 5, 4]);
    expect(layer.params.kernel.shape).toEqual([3, 3, 3, 4]);
    expect(layer.fan).toEqual({ fanIn: 27, fanOut: 36 });
    const cfg = JSON.parse(JSON.stringify(spec.config()));
    expect(cfg).toMatchObject({ kind: 'conv2d', filters: 4, kernelSize: [3, 3], strides: [2, 1], padding: 'same', activation: 'relu' });
    const again = sequential({ inputShape: [7, 5, 3], layers: [layerFromConfig(cfg)], seed: 9 }).layers[0];
    expect(again.activation.name).toBe('relu');
    again.params.kernel.assign(layer.params.kernel);
    again.params.bias.assign(layer.params.bias);
    tf.tidy(() => {
      const x = randn([2, 7, 5, 3], 1);
      expect(relErr(again.linear(x), layer.linear(x))).toBe(0);
    });
  });

  it('rejects bad options with named errors', () => {
    expect(() => conv2d({ filters: 1.5, kernelSize: 3 })).toThrow(OptionError);
    expect(() => conv2d({ filters: 2, kernelSize: 3, strides: 0 })).toThrow(OptionError);
    expect(() => build({ filters: 2, kernelSize: 4 }, [3, 3, 1])).toThrow(ShapeError);
    expect(() => build({ filters: 2, kernelSize: 3 }, [9, 9])).toThrow(ShapeError);
  });
});
