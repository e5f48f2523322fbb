// Core's softmax cross-entropy through the fused kernels (BiopropSoftmaxCrossEntropy and its Grad) against the tf ops
// they stand in for: bit for bit on blas (the same native calls with the same plans), within rounding of cpu.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { SOFTMAX_CE_GRAD_KERNEL, SOFTMAX_CE_KERNEL, softmaxCrossEntropyLoss } from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { excess, nativeProblem, pkg, rng } from './test-helpers.js';

const suite = describe.skipIf(nativeProblem !== null);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

beforeAll(async () => {
  if (!nativeProblem) await tf.setBackend('blas');
});

/** Bit-for-bit equality (−0 against +0 too). */
const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && new Uint32Array(a.buffer, a.byteOffset, a.length).every((x, i) => x === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]);

interface Case {
  label: string;
  shape: number[];
  logits: Float32Array;
  labels: Float32Array;
}

function cases(): Case[] {
  const r = rng(91);
  const oneHot = (shape: number[]) => {
    const c = shape[shape.length - 1];
    const y = new Float32Array(size(shape));
    for (let i = 0; i < y.length / c; i++) y[i * c + r.int(0, c - 1)] = 1;
    return y;
  };
  const soft = (shape: number[]) => {
    const c = shape[shape.length - 1];
    const y = r.array(size(shape), 0, 1);
    for (let i = 0; i < y.length / c; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += y[i * c + j];
      for (let j = 0; j < c; j++) y[i * c + j] /= s;
    }
    return y;
  };
  return [
    { label: 'batch 128, 10 classes, one-hot', shape: [128, 10], logits: r.array(1280, -4, 4), labels: oneHot([128, 10]) },
    { label: 'large logits (exp overflows without the shift)', shape: [7, 5], logits: r.array(35, -90, 90), labels: oneHot([7, 5]) },
    { label: 'soft labels, 33 classes', shape: [9, 33], logits: r.array(297, -3, 3), labels: soft([9, 33]) },
    { label: 'rank 3', shape: [4, 3, 6], logits: r.array(72, -2, 2), labels: soft([4, 3, 6]) },
    { label: 'one sample, one class', shape: [1, 1], logits: Float32Array.of(0.3), labels: Float32Array.of(1) },
  ];
}

/** The loss value and output error on the current backend, through the module's path (fused where registered). */
function lossAndError(c: Case): { value: Float32Array; error: Float32Array } {
  const loss = softmaxCrossEntropyLoss();
  return tf.tidy(() => {
    const z = tf.tensor(c.logits, c.shape);
    const y = tf.tensor(c.labels, c.shape);
    return { value: loss.value(z, y).dataSync().slice() as Float32Array, error: loss.gradOutput(z, y).dataSync().slice() as Float32Array };
  });
}

/** The same through the tf ops, whatever is registered. */
function viaOps(c: Case): { value: Float32Array; error: Float32Array } {
  return tf.tidy(() => {
    const z = tf.tensor(c.logits, c.shape);
    const y = tf.tensor(c.labels, c.shape);
    const value = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(z)), -1)));
    const error = tf.div(tf.sub(tf.softmax(z), y), c.shape[0]);
    return { value: value.dataSync().slice() as Float32Array, error: error.dataSync().slice() as Float32Array };
  });
}

suite("core's softmax cross-entropy through the fused kernels", () => {
  it('is registered for blas only', () => {
    expect(pkg.SOFTMAX_CE_KERNEL).toBe(SOFTMAX_CE_KERNEL);
    expect(pkg.SOFTMAX_CE_GRAD_KERNEL).toBe(SOFTMAX_CE_GRAD_KERNEL);
    expect(tf.getKernel(SOFTMAX_CE_KERNEL, 'blas')).toBeDefined();
    expect(tf.getKernel(SOFTMAX_CE_KERNEL, 'cpu')).toBeUndefined();
  });

  for (const c of cases()) {
    it(`equals the tf ops bit for bit on blas (both kernel sets), and cpu within rounding: ${c.label}`, async () => {
      await tf.setBackend('cpu');
      const cpu = lossAndError(c);
      await tf.setBackend('blas');
      try {
        for (const set of ['baseline', 'avx2+fma'] as const) {
          if (!pkg.useElementwiseKernels(set)) continue;
          pkg.resetKernelStats();
          const fused = lossAndError(c);
          expect(pkg.kernelStats().native[SOFTMAX_CE_KERNEL], set).toBe(1);
          expect(pkg.kernelStats().native[SOFTMAX_CE_GRAD_KERNEL], set).toBe(1);
          const ops = viaOps(c);
          expect(sameBits(fused.value, ops.value), `${set}: value ${fused.value[0]} vs ${ops.value[0]}`).toBe(true);
          expect(sameBits(fused.error, ops.error), `${set}: error`).toBe(true);
          expect(excess(fused.value, cpu.value, 1e-5, 1e-6)).toBe(0);
          expect(excess(fused.error, cpu.error, 1e-5, 1e-7)).toBe(0);
        }
      } finally {
        if (!pkg.useElementwiseKernels('avx2+fma')) pkg.useElementwiseKernels('baseline');
      }
    });
  }

  it('takes the tf-op path under a recording tape (autodiff through the loss), with the same values', async () => {
    await tf.setBackend('blas');
    const c = cases()[0];
    const loss = softmaxCrossEntropyLoss();
    const z = tf.tensor(c.logits, c.shape);
    const y = tf.tensor(c.labels, c.shape);
    pkg.resetKernelStats();
    const g = tf.grad((zz: tf.Tensor) => loss.value(zz, y))(z);
    expect(pkg.kernelStats().native[SOFTMAX_CE_KERNEL]).toBeUndefined();
    // autodiff of the value is the output error
    const error = loss.gradOutput(z, y);
    expect(excess(g.dataSync(), error.dataSync(), 1e-5, 1e-7)).toBe(0);
    tf.dispose([z, y, g, error]);
  });

  it('leaks no tensors', async () => {
    await tf.setBackend('blas');
    const c = cases()[0];
    const before = tf.memory().numTensors;
    lossAndError(c);
    expect(tf.memory().numTensors).toBe(before);
  });
});
