import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ShapeError,
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  type BoundRule,
  type Network,
  type Rule,
  type StepContext,
  type Tensor,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';
import { expectClose } from '@bioprop/testing';
import { alignmentCondition, angleDeg, signalAngles, weightAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const net = (seed = 3): Network =>
  sequential({
    inputShape: [12],
    layers: [dense({ units: 10, activation: 'tanh' }), dense({ units: 8, activation: 'tanh' }), dense({ units: 4 })],
    seed,
  });

function batch(seed: number, n: number): [Tensor, Tensor] {
  const s = randomSource(seed).stream('data');
  const x = tf.tensor(s.normalArray(n * 12), [n, 12]);
  const labels = Array.from({ length: n }, () => Math.floor(s.next() * 4));
  return [x, tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 4), 'float32'))];
}

/** Bind `rule`, build a step context on a fresh batch, run `fn` inside one tidy. */
function withRule(rule: Rule, fn: (network: Network, bound: BoundRule, ctx: StepContext) => void, seed = 3): void {
  const network = net(seed);
  const bound = rule.bind(network, randomSource(seed));
  const [x, y] = batch(seed, 16);
  tf.tidy(() => {
    const trace = network.forward(x);
    const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
    fn(network, bound, ctx);
  });
  bound.dispose();
  network.dispose();
  tf.dispose([x, y]);
}

describe('angleDeg', () => {
  it('0° for identical, 180° for opposite, 90° for orthogonal, 45° and 60° where known', () => {
    tf.tidy(() => {
      const a = tf.tensor([[1, 2], [3, 4]]);
      expect(angleDeg(a, a)).toBe(0);
      expect(angleDeg(a, tf.mul(a, 7))).toBeCloseTo(0, 5);
      expect(angleDeg(a, tf.neg(a))).toBeCloseTo(180, 4);
      expect(angleDeg(tf.tensor([1, 0, 0]), tf.tensor([0, 3, 0]))).toBeCloseTo(90, 5);
      expect(angleDeg(tf.tensor([1, 0]), tf.tensor([1, 1]))).toBeCloseTo(45, 5);
      expect(angleDeg(tf.tensor([1, 0]), tf.tensor([0.5, Math.sqrt(3) / 2]))).toBeCloseTo(60, 5);
    });
  });

  it('is accurate for tiny angles and tiny or huge magnitudes', () => {
    tf.tidy(() => {
      const eps = 1e-4;
      expect(angleDeg(tf.tensor([1, 0]), tf.tensor([1, eps]))).toBeCloseTo((Math.atan(eps) * 180) / Math.PI, 7);
      expect(angleDeg(tf.tensor([1e-30, 0]), tf.tensor([1e-30, 1e-30]))).toBeCloseTo(45, 4);
      expect(angleDeg(tf.tensor([1e30, 0]), tf.tensor([1e30, 1e30]))).toBeCloseTo(45, 4);
    });
  });

  it('defines a zero or non-finite vector as 90° (never NaN), and refuses different sizes', () => {
    tf.tidy(() => {
      expect(angleDeg(tf.zeros([3]), tf.tensor([1, 2, 3]))).toBe(90);
      expect(angleDeg(tf.zeros([3]), tf.zeros([3]))).toBe(90);
      expect(angleDeg(tf.tensor([NaN, 1]), tf.tensor([1, 1]))).toBe(90);
      expect(() => angleDeg(tf.zeros([3]), tf.zeros([4]))).toThrow(ShapeError);
    });
  });
});

describe('signalAngles', () => {
  it('is exactly 0° on every layer for backprop, and for feedback alignment with B := kernel', () => {
    withRule(backprop(), (network, bound, ctx) => {
      const a = signalAngles(network, ctx.trace, bound.step(ctx), ctx);
      expect(a.deltaDeg).toEqual([0, 0, 0]);
      expect(a.updateDeg).toEqual([0, 0, 0]);
      expect(a.pbp?.layer).toBe(1);
    });
    withRule(feedbackAlignment(), (network, bound, ctx) => {
      // layer 0 sends nothing down and has no B
      network.layers.forEach((layer, l) => l > 0 && bound.state()[`layer${l}/B`].assign(layer.params.kernel));
      const a = signalAngles(network, ctx.trace, bound.step(ctx), ctx);
      a.deltaDeg.forEach((d) => expect(d).toBeLessThan(1e-3));
      a.updateDeg.forEach((d) => expect(d).toBeLessThan(1e-3));
    });
  });

  it('for random feedback: 0° at the top, the hidden angles those of the signals themselves', () => {
    withRule(feedbackAlignment({ feedbackInit: { uniform: 0.5 } }), (network, bound, ctx) => {
      const r = bound.step(ctx);
      const bp = backprop().bind(network, randomSource(0)).step(ctx);
      const a = signalAngles(network, ctx.trace, r, ctx);
      expect(a.deltaDeg[2]).toBe(0);
      for (const l of [0, 1]) {
        expect(a.deltaDeg[l]).toBeGreaterThan(1);
        expect(a.deltaDeg[l]).toBeCloseTo(angleDeg(r.signals[l], bp.signals[l]), 6);
        expect(a.updateDeg[l]).toBeCloseTo(angleDeg(r.grads[l].kernel, bp.grads[l].kernel), 6);
      }
      expect(a.pbp!.ruleDeg).toBeGreaterThan(0);
      expect(a.pbp!.backpropDeg).toBeGreaterThan(0);
    });
  });

  it('evaluates backprop with `params` when given (the weights the rule saw)', () => {
    withRule(backprop(), (network, bound, ctx) => {
      const r = bound.step(ctx);
      const saw = network.layers.map((l) => ({ kernel: tf.clone(l.params.kernel), bias: tf.clone(l.params.bias) }));
      network.layers.forEach((l) => l.params.kernel.assign(tf.randomNormal(l.params.kernel.shape, 0, 1, 'float32', 5)));
      expect(signalAngles(network, ctx.trace, r, ctx).deltaDeg[0]).toBeGreaterThan(1);
      expect(signalAngles(network, ctx.trace, r, ctx, { params: saw }).deltaDeg).toEqual([0, 0, 0]);
    });
  });
});

describe('weightAlignment', () => {
  it('angle between B and the kernel and ‖B‖/‖W‖ per layer with feedback; nothing for backprop', () => {
    withRule(feedbackAlignment({ feedbackInit: { uniform: 0.5 } }), (network, bound) => {
      const w = weightAlignment(network, bound);
      expect(w.map((e) => e.layer)).toEqual([1, 2]);
      for (const e of w) {
        const b = bound.state()[`layer${e.layer}/B`];
        const k = network.layers[e.layer].params.kernel;
        expect(e.angleDeg).toBeCloseTo(angleDeg(b, k), 6);
        const norm = (t: Tensor) => Math.sqrt(Array.from(t.dataSync()).reduce((s, v) => s + v * v, 0));
        expect(e.normRatio).toBeCloseTo(norm(b) / norm(k), 4);
      }
      bound.state()['layer2/B'].assign(network.layers[2].params.kernel);
      const synced = weightAlignment(network, bound).find((e) => e.layer === 2)!;
      expect(synced.angleDeg).toBe(0);
      expect(synced.normRatio).toBeCloseTo(1, 6);
    });
    withRule(backprop(), (network, bound) => expect(weightAlignment(network, bound)).toEqual([]));
  });

  it('takes DFA’s last hidden D, transposed, as the output layer’s feedback', () => {
    withRule(directFeedbackAlignment(), (network, bound) => {
      expectClose(bound.feedbackWeights(2)!, tf.transpose(bound.state()['layer1/D']), 0, 'Dᵀ');
      expect(weightAlignment(network, bound).map((e) => e.layer)).toEqual([2]);
    });
  });
});

describe('alignmentCondition eᵀWBe', () => {
  it('equals e_iᵀ W B e_i computed in the column convention (W = kernelᵀ, e_i = N·outputError_i), mean and sign', () => {
    withRule(feedbackAlignment({ feedbackInit: { uniform: 0.5 } }), (network, bound, ctx) => {
      const got = alignmentCondition(network, bound, ctx.outputError)!;
      const K = network.layers[2].params.kernel.arraySync() as number[][]; // [n_{L−1}][n_L]
      const B = bound.state()['layer2/B'].arraySync() as number[][]; // [n_{L−1}][n_L]
      const E = ctx.outputError.arraySync() as number[][];
      const N = E.length;
      const nL = K[0].length;
      const nH = K.length;
      const W = Array.from({ length: nL }, (_, i) => Array.from({ length: nH }, (_, j) => K[j][i])); // n_L × n_{L−1}
      const values = E.map((row) => {
        const e = row.map((v) => v * N);
        const Be = Array.from({ length: nH }, (_, j) => e.reduce((s, ek, k) => s + B[j][k] * ek, 0));
        const WBe = Array.from({ length: nL }, (_, i) => Be.reduce((s, b, j) => s + W[i][j] * b, 0));
        return e.reduce((s, ei, i) => s + ei * WBe[i], 0);
      });
      const mean = values.reduce((a, b) => a + b, 0) / N;
      expect(got.layer).toBe(2);
      expect(got.mean).toBeCloseTo(mean, 5);
      expect(got.positiveFraction).toBe(values.filter((v) => v > 0).length / N);
      // B := kernel: eᵀ W Wᵀ e = ‖Wᵀe‖² > 0 for every sample
      bound.state()['layer2/B'].assign(network.layers[2].params.kernel);
      expect(alignmentCondition(network, bound, ctx.outputError)!.positiveFraction).toBe(1);
    });
    withRule(backprop(), (network, bound, ctx) => expect(alignmentCondition(network, bound, ctx.outputError)).toBeNull());
  });
});

describe('no tensor leaks', () => {
  it('the plain functions leave the tensor count unchanged', () => {
    const network = net();
    const trainer = createTrainer({ network, rule: feedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }) });
    const [x, y] = batch(1, 8);
    const n0 = tf.memory().numTensors;
    tf.tidy(() => {
      const trace = network.forward(x);
      const ctx = stepContext({ network, trace, target: y, loss: trainer.loss, step: 0, epoch: 0, random: randomSource(0) });
      const r = trainer.boundRule.step(ctx);
      const before = tf.memory().numTensors;
      signalAngles(network, trace, r, ctx);
      weightAlignment(network, trainer.boundRule);
      alignmentCondition(network, trainer.boundRule, ctx.outputError);
      angleDeg(x, x);
      expect(tf.memory().numTensors).toBe(before);
    });
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });
});
