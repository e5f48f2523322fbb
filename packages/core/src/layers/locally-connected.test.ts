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
import { locallyConnected2d, patchGeometry, type Padding, type PatchGeometry } from './locally-connected.js';

const relErr = (a: Tensor, b: Tensor): number =>
  tf.tidy(() => {
    expect(a.shape).toEqual(b.shape);
    const num = tf.norm(tf.sub(a, b)).dataSync()[0];
    const den = tf.norm(b).dataSync()[0];
    return num / Math.max(den, 1e-12);
  });

function build(spec: ReturnType<typeof locallyConnected2d>, inputShape: number[], seed = 1): Layer {
  return sequential({ inputShape, layers: [spec], seed }).layers[0];
}

function randn(shape: number[], seed: number, std = 1): Tensor {
  return tf.tensor(randomStream(seed, 'data').normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape);
}

/** Plain loops: the locally connected map, read straight from its definition. */
function loopReference(x: Float32Array, n: number, g: PatchGeometry, kernel: Float32Array, bias: Float32Array, f: number): Float32Array {
  const { inH, inW, inC, kh, kw, sh, sw, outH, outW, padTop, padLeft } = g;
  const out = new Float32Array(n * outH * outW * f);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const p = oy * outW + ox;
        for (let j = 0; j < f; j++) {
          let s = bias[p * f + j];
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++)
              for (let c = 0; c < inC; c++) {
                const y = oy * sh + ky - padTop;
                const xx = ox * sw + kx - padLeft;
                if (y < 0 || y >= inH || xx < 0 || xx >= inW) continue;
                const k = (ky * kw + kx) * inC + c;
                s += x[((b * inH + y) * inW + xx) * inC + c] * kernel[(p * g.patchSize + k) * f + j];
              }
          out[((b * outH + oy) * outW + ox) * f + j] = s;
        }
      }
  return out;
}

/** A differentiable per-location reference built from slices (its autodiff needs no gather gradient). */
function sliceReference(x: Tensor, g: PatchGeometry, kernel: Tensor, bias: Tensor | null): Tensor {
  const n = x.shape[0];
  const padBottom = Math.max((g.outH - 1) * g.sh + g.kh - g.inH - g.padTop, 0);
  const padRight = Math.max((g.outW - 1) * g.sw + g.kw - g.inW - g.padLeft, 0);
  const xp = tf.pad(x, [[0, 0], [g.padTop, padBottom], [g.padLeft, padRight], [0, 0]]);
  const cols: Tensor[] = [];
  for (let oy = 0; oy < g.outH; oy++)
    for (let ox = 0; ox < g.outW; ox++) {
      const p = oy * g.outW + ox;
      const patch = tf.reshape(tf.slice(xp, [0, oy * g.sh, ox * g.sw, 0], [n, g.kh, g.kw, g.inC]), [n, g.patchSize]);
      cols.push(tf.matMul(patch, tf.reshape(tf.slice(kernel, [p, 0, 0], [1, g.patchSize, kernel.shape[2] as number]), [g.patchSize, kernel.shape[2] as number])));
    }
  const out = tf.reshape(tf.stack(cols, 1), [n, g.outH, g.outW, kernel.shape[2] as number]);
  return bias ? tf.add(out, bias) : out;
}

const cases: { name: string; input: number[]; kernelSize: [number, number]; strides: [number, number]; padding: Padding; filters: number }[] = [
  { name: '3×3 s1 valid', input: [5, 6, 2], kernelSize: [3, 3], strides: [1, 1], padding: 'valid', filters: 3 },
  { name: '3×2 s(2,1) same', input: [5, 6, 3], kernelSize: [3, 2], strides: [2, 1], padding: 'same', filters: 4 },
  { name: '3×3 s2 same (even input)', input: [8, 8, 1], kernelSize: [3, 3], strides: [2, 2], padding: 'same', filters: 2 },
  { name: '2×2 s3 valid (uncovered pixels)', input: [7, 7, 2], kernelSize: [2, 2], strides: [3, 3], padding: 'valid', filters: 2 },
];

describe.each(['cpu', 'wasm'])('locallyConnected2d on %s', (backend) => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await tf.setBackend(backend);
    await tf.ready();
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  it('equals a hand-computed example', () => {
    const layer = build(locallyConnected2d({ filters: 1, kernelSize: 2 }), [3, 3, 1]);
    expect(layer.outputShape).toEqual([2, 2, 1]);
    expect(layer.params.kernel.shape).toEqual([4, 4, 1]);
    expect(layer.params.bias.shape).toEqual([2, 2, 1]);
    // windows: (0,0) [1,2,4,5], (0,1) [2,3,5,6], (1,0) [4,5,7,8], (1,1) [5,6,8,9]
    layer.params.kernel.assign(tf.tensor3d([[[1], [1], [1], [1]], [[1], [0], [0], [-1]], [[0], [2], [0], [0]], [[0], [0], [0], [0.5]]]));
    layer.params.bias.assign(tf.tensor3d([[[0.5], [0]], [[0], [-1]]]));
    const out = tf.tidy(() => layer.linear(tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1])).dataSync());
    expect(Array.from(out)).toEqual([12.5, 2 - 6, 10, 4.5 - 1]);
  });

  it.each(cases)('equals the loop reference: $name', ({ input, kernelSize, strides, padding, filters }) => {
    const layer = build(locallyConnected2d({ filters, kernelSize, strides, padding }), input);
    layer.params.bias.assign(randn(layer.params.bias.shape, 9));
    const g = patchGeometry('t', input, kernelSize, strides, padding);
    const x = randn([2, ...input], 3);
    const got = tf.tidy(() => layer.linear(x));
    const want = loopReference(x.dataSync() as Float32Array, 2, g, layer.params.kernel.dataSync() as Float32Array, layer.params.bias.dataSync() as Float32Array, filters);
    expect(got.shape).toEqual([2, ...layer.outputShape]);
    expect(relErr(got, tf.tensor(want, got.shape))).toBeLessThan(1e-6);
    // flattened input is accepted too (a dense layer below hands [N, features])
    const flat = tf.tidy(() => layer.linear(tf.reshape(x, [2, -1])));
    expect(relErr(flat, got)).toBe(0);
    tf.dispose([x, got, flat]);
  });

  it.each(cases)('paramGrads and backwardInput(δ, own kernel) equal autodiff: $name', ({ input, kernelSize, strides, padding, filters }) => {
    const layer = build(locallyConnected2d({ filters, kernelSize, strides, padding }), input, 4);
    layer.params.bias.assign(randn(layer.params.bias.shape, 5));
    const g = patchGeometry('t', input, kernelSize, strides, padding);
    const x = randn([3, ...input], 6);
    const delta = randn([3, ...layer.outputShape], 7);
    const { kernel, bias } = layer.params;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const mine = layer.paramGrads(x, delta);
      const dx = layer.backwardInput(delta, kernel);
      // the reference: autodiff of Σ δ ⊙ a through the slice-built map
      const [rx, rk, rb] = tf.grads((xi: Tensor, k: Tensor, b: Tensor) => tf.sum(tf.mul(delta, sliceReference(xi, g, k, b))))([x, kernel, bias]);
      expect(relErr(mine.kernel, rk)).toBeLessThan(1e-5);
      expect(relErr(mine.bias, rb)).toBeLessThan(1e-5);
      expect(relErr(dx, rx)).toBeLessThan(1e-5);
      // and autodiff of the layer's own linear map
      const [ax, ak, ab] = tf.grads((xi: Tensor, k: Tensor, b: Tensor) => tf.sum(tf.mul(delta, layer.linear(xi, { kernel: k, bias: b }))))([x, kernel, bias]);
      expect(relErr(mine.kernel, ak)).toBeLessThan(1e-5);
      expect(relErr(mine.bias, ab)).toBeLessThan(1e-5);
      expect(relErr(dx, ax)).toBeLessThan(1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, delta]);
  });

  it.each(cases)('backwardInput with another kernel B is linear in B and is the VJP of the map with B: $name', ({ input, kernelSize, strides, padding, filters }) => {
    const layer = build(locallyConnected2d({ filters, kernelSize, strides, padding }), input, 8);
    const g = patchGeometry('t', input, kernelSize, strides, padding);
    const shape = layer.params.kernel.shape;
    tf.tidy(() => {
      const b1 = randn(shape, 10);
      const b2 = randn(shape, 11);
      const delta = randn([2, ...layer.outputShape], 12);
      const mixed = layer.backwardInput(delta, tf.add(tf.mul(2, b1), tf.mul(-3, b2)));
      const parts = tf.add(tf.mul(2, layer.backwardInput(delta, b1)), tf.mul(-3, layer.backwardInput(delta, b2)));
      expect(relErr(mixed, parts)).toBeLessThan(1e-5);
      const x = randn([2, ...input], 13);
      const ref = tf.grad((xi: Tensor) => tf.sum(tf.mul(delta, sliceReference(xi, g, b1, null))))(x);
      expect(relErr(layer.backwardInput(delta, b1), ref)).toBeLessThan(1e-5);
      expect(layer.backwardInput(delta, b1).shape).toEqual([2, ...input]);
    });
  });

  it.each(cases)('with every location tied to one conv kernel it equals conv2d: $name', ({ input, kernelSize, strides, padding, filters }) => {
    const lc = build(locallyConnected2d({ filters, kernelSize, strides, padding }), input, 14);
    const conv = build(conv2d({ filters, kernelSize, strides, padding }), input, 15);
    const p = lc.params.kernel.shape[0];
    tf.tidy(() => {
      conv.params.bias.assign(randn([filters], 16));
      const tied = tf.tile(tf.reshape(conv.params.kernel, [1, -1, filters]), [p, 1, 1]);
      lc.params.kernel.assign(tied);
      lc.params.bias.assign(tf.tile(tf.reshape(conv.params.bias, [1, 1, filters]), [lc.outputShape[0], lc.outputShape[1], 1]));
      const x = randn([2, ...input], 17);
      const delta = randn([2, ...lc.outputShape], 18);
      expect(lc.outputShape).toEqual(conv.outputShape);
      expect(relErr(lc.linear(x), conv.linear(x))).toBeLessThan(1e-5);
      expect(relErr(lc.backwardInput(delta, tied), conv.backwardInput(delta, conv.params.kernel))).toBeLessThan(1e-5);
      const gl = lc.paramGrads(x, delta);
      const gc = conv.paramGrads(x, delta);
      // weight sharing: the conv gradient is the sum over locations of the LC gradients
      expect(relErr(tf.reshape(tf.sum(gl.kernel, 0), gc.kernel.shape), gc.kernel)).toBeLessThan(1e-5);
      expect(relErr(tf.sum(gl.bias, [0, 1]), gc.bias)).toBeLessThan(1e-5);
    });
  });
});

describe('locallyConnected2d options and checkpoints', () => {
  it('rebuilds from its config through layerFromConfig', () => {
    const spec = locallyConnected2d({ filters: 3, kernelSize: [3, 2], strides: 2, padding: 'same', activation: 'tanh', name: 'lc' });
    const layer = build(spec, [6, 5, 2]);
    const cfg = JSON.parse(JSON.stringify(spec.config()));
    expect(cfg).toMatchObject({ kind: 'locallyConnected2d', filters: 3, kernelSize: [3, 2], strides: [2, 2], padding: 'same', activation: 'tanh' });
    const again = build(layerFromConfig(cfg), [6, 5, 2], 9);
    expect(again.params.kernel.shape).toEqual(layer.params.kernel.shape);
    expect(again.activation.name).toBe('tanh');
    again.params.kernel.assign(layer.params.kernel);
    again.params.bias.assign(layer.params.bias);
    tf.tidy(() => {
      const x = randn([2, 6, 5, 2], 1);
      expect(relErr(again.linear(x), layer.linear(x))).toBe(0);
    });
    expect(layer.fan).toEqual({ fanIn: 12, fanOut: 18 });
  });

  it('rejects bad options and inputs with named errors', () => {
    expect(() => locallyConnected2d({ filters: 0, kernelSize: 3 })).toThrow(OptionError);
    expect(() => locallyConnected2d({ filters: 2, kernelSize: [3, 3, 3] as unknown as [number, number] })).toThrow(OptionError);
    expect(() => build(locallyConnected2d({ filters: 2, kernelSize: 3, padding: 'full' as Padding }), [5, 5, 1])).toThrow(OptionError);
    expect(() => build(locallyConnected2d({ filters: 2, kernelSize: 6 }), [5, 5, 1])).toThrow(ShapeError);
    expect(() => build(locallyConnected2d({ filters: 2, kernelSize: 3 }), [25])).toThrow(/\[height, width, channels\]/);
    const layer = build(locallyConnected2d({ filters: 2, kernelSize: 3 }), [5, 5, 1]);
    expect(() => tf.tidy(() => layer.linear(tf.zeros([1, 24])))).toThrow(ShapeError);
  });
});
