import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2d, createTrainer, dense, flatten, locallyConnected2d, momentum, randomSource, resolveBackend, sequential, sgd, type BoundRule, type Network, type OptimizerSpec, type Rule } from '@bioprop/core';
import {
  activationAlignment,
  decay,
  feedbackAngles,
  informationAlignment,
  kolenPollack,
  learnedFeedback,
  symmetricAlignment,
  weightMirror,
} from './index.js';
import { batchOf, copy, relNorm, smallNet, teacherTask } from './test-helpers.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const task = teacherTask(2, 640, 20, 4);
const sizes = [20, 32, 24, 4];

function trainer(rule: Rule, optimizer: OptimizerSpec = momentum({ lr: 0.05 }), seed = 5) {
  const { network, random } = smallNet(seed, sizes);
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer, random });
}
const done = (t: ReturnType<typeof trainer>) => {
  t.dispose();
  t.network.dispose();
};
const kernels = (t: ReturnType<typeof trainer>) => t.network.layers.map((l) => l.params.kernel);
const feedback = (t: { boundRule: BoundRule; network: Network }) => t.network.layers.map((_, l) => t.boundRule.feedbackWeights(l));

describe('symmetric alignment', () => {
  it('drives the angle between B and the kernel (Wᵀ) under 5° while the network trains', async () => {
    const t = trainer(symmetricAlignment(), momentum({ lr: 0.02 }));
    const start = feedbackAngles(t.network, t.boundRule);
    expect(start[1]).toBeGreaterThan(45);
    await t.fit(task, { epochs: 12, batchSize: 64 });
    const end = feedbackAngles(t.network, t.boundRule);
    expect(end[1]).toBeLessThan(5);
    expect(end[2]).toBeLessThan(5);
    done(t);
  });

  it('reaches the fixed point B = (α/β)·kernel, with α ≠ β (W frozen: exact to 1e-5; W training: angle < 5°, scale α/β)', async () => {
    const alpha = 3e-3;
    const beta = 1e-3;
    // η_B·β = 0.5: the distance to the fixed point halves each step; α = β (B → kernel) and α = 3β
    for (const [a, b] of [
      [2e-3, 2e-3],
      [alpha, beta],
    ]) {
      const frozen = trainer(symmetricAlignment({ self: a, decay: b, feedbackOptimizer: sgd({ lr: 0.5 / b }) }), sgd({ lr: 0 }));
      await frozen.fit(task, { epochs: 4, batchSize: 64 });
      const B = feedback(frozen);
      for (const l of [1, 2]) {
        const target = tf.mul(a / b, kernels(frozen)[l]);
        expect(relNorm(B[l]!, target)).toBeLessThan(1e-5);
        target.dispose();
      }
      done(frozen);
    }

    const moving = trainer(symmetricAlignment({ self: alpha, decay: beta, feedbackOptimizer: sgd({ lr: 200 }) }));
    await moving.fit(task, { epochs: 4, batchSize: 64 });
    const Bm = feedback(moving);
    const angles = feedbackAngles(moving.network, moving.boundRule);
    for (const l of [1, 2]) {
      expect(angles[l]).toBeLessThan(5);
      const ratio = tf.norm(Bm[l]!).dataSync()[0] / tf.norm(kernels(moving)[l]).dataSync()[0];
      expect(ratio).toBeGreaterThan(0.95 * (alpha / beta));
      expect(ratio).toBeLessThan(1.05 * (alpha / beta));
    }
    done(moving);
  });
});

describe('activation alignment and weight mirror fixed points (W frozen)', () => {
  it('AA reaches Σ B = (α/β) Σ kernel, i.e. B = (α/β)·kernel for full-rank Σ (one fixed batch)', () => {
    const alpha = 2e-3;
    const beta = 1e-3;
    // a contracting net: each layer's input covariance Σ is full rank and well conditioned, so SGD converges in every direction
    const narrow = [64, 16, 8, 4];
    const data = teacherTask(3, 256, 64, 4);
    const { network, random } = smallNet(5, narrow);
    const t = createTrainer({
      network,
      rule: activationAlignment({ amp: alpha, sparse: beta, feedbackSamples: 256, feedbackOptimizer: sgd({ lr: 300 }) }),
      loss: 'softmaxCrossEntropy',
      optimizer: sgd({ lr: 0 }),
      random,
    });
    const { x, y } = batchOf(data, 0, 256);
    for (let i = 0; i < 400; i++) t.step(x, y);
    const B = feedback({ network, boundRule: t.boundRule });
    tf.tidy(() => {
      const trace = network.forward(x);
      for (const l of [1, 2]) {
        const X = trace.layers[l].input;
        const S = tf.div(tf.matMul(tf.transpose(X), X), 256);
        const target = tf.mul(alpha / beta, network.layers[l].params.kernel);
        expect(relNorm(tf.matMul(S, B[l]!), tf.matMul(S, target))).toBeLessThan(1e-4);
        expect(relNorm(B[l]!, target)).toBeLessThan(1e-3);
      }
    });
    x.dispose();
    y.dispose();
    t.dispose();
    network.dispose();
  });

  it('WM in mirror mode learns from white noise only: B → (α σ²/β)·kernel', () => {
    const sigma = 0.5;
    // α σ²/β = 2e-3·0.25/1e-3 = 0.5
    const t = trainer(weightMirror({ amp: 2e-3, decay: 1e-3, mirror: { sigma, batchSize: 512 }, feedbackOptimizer: sgd({ lr: 100 }) }), sgd({ lr: 0 }));
    const { x, y } = batchOf(task, 0, 8);
    for (let i = 0; i < 150; i++) t.step(x, y);
    const B = feedback(t);
    for (const l of [1, 2]) {
      const target = tf.mul(0.5, kernels(t)[l]);
      // the noise estimate of E[x rᵀ] fluctuates; it averages to the fixed point
      expect(relNorm(B[l]!, target)).toBeLessThan(0.15);
      target.dispose();
    }
    // the noise comes from each layer's own stream, saved with the run
    expect(t.random.getState()).toHaveProperty(['rule/wm/layer1']);
    x.dispose();
    y.dispose();
    done(t);
  });
});

describe('weight mirror on convolution and locally connected kernels (W frozen)', () => {
  it('mirror mode reaches the same fixed point B → (α σ²/β)·kernel on conv2d, locallyConnected2d and dense kernels', () => {
    const random = randomSource(4);
    // conv 'valid' so every tap of the kernel sees every position alike; the conv's 36 positions count as pairs
    const network = sequential({
      inputShape: [8, 8, 2],
      layers: [
        conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }),
        conv2d({ filters: 4, kernelSize: 3, padding: 'valid', activation: 'tanh' }),
        locallyConnected2d({ filters: 3, kernelSize: 2, activation: 'tanh' }),
        flatten(),
        dense({ units: 5 }),
      ],
      random,
    });
    const sigma = 0.5;
    const rule = weightMirror({ amp: 2e-3, decay: 1e-3, mirror: { sigma, batchSize: 256 }, feedbackOptimizer: sgd({ lr: 100 }) });
    const t = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0 }), random });
    const data = teacherTask(3, 8, 128, 5);
    const { x, y } = batchOf(data, 0, 8);
    for (let i = 0; i < 150; i++) t.step(x, y);
    for (const l of [1, 2, 3]) {
      const target = tf.mul(0.5, network.layers[l].params.kernel);
      expect(relNorm(t.boundRule.feedbackWeights(l)!, target), network.layers[l].kind).toBeLessThan(0.15);
      target.dispose();
    }
    x.dispose();
    y.dispose();
    t.dispose();
    network.dispose();
  });
});

describe('weight mirror and information alignment align B far better than feedback alignment', () => {
  it('on the same run, their B–kernel angles end well below FA’s (FA = zero coefficients)', async () => {
    // a contracting net (64-32-16-4) on white inputs: activations stay close to full rank, which IA's
    // fixed point B = α Σ Wᵀ (β W Σ Wᵀ + γ I)⁻¹ needs to approach Wᵀ (see the README)
    const wide = [64, 32, 16, 4];
    const data = teacherTask(2, 640, 64, 4);
    const run = async (rule: Rule) => {
      const { network, random } = smallNet(5, wide);
      const t = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.05 }), random });
      await t.fit(data, { epochs: 16, batchSize: 64 });
      const a = feedbackAngles(network, t.boundRule);
      t.dispose();
      network.dispose();
      return a;
    };
    const fa = await run(learnedFeedback({ id: 'fa', terms: [decay(0)] }));
    const wm = await run(weightMirror());
    const ia = await run(informationAlignment());
    // measured (160 steps): FA 71.6° / 47.4°, WM 5.5° / 3.4°, IA 38.9° / 29.6°
    for (const l of [1, 2]) {
      expect(fa[l]).toBeGreaterThan(45);
      expect(wm[l]).toBeLessThan(fa[l]! / 3);
      expect(ia[l]).toBeLessThan(fa[l]! - 15);
    }
  });
});

describe('Kolen–Pollack', () => {
  it('started from B = kernel it stays tied exactly, decay and momentum included', async () => {
    const t = trainer(kolenPollack({ feedbackInit: 'kernel' }), momentum({ lr: 0.05, decoupledDecay: 1e-2 }));
    await t.fit(task, { epochs: 2, batchSize: 64 });
    const B = feedback(t);
    for (const l of [1, 2]) expect(copy(B[l]!)).toEqual(copy(kernels(t)[l]));
    done(t);
  });

  it('from random B, W − B shrinks exactly as (1−λ)^t and B converges to the kernel', () => {
    const lambda = 0.05;
    const t = trainer(kolenPollack(), momentum({ lr: 0.05, decoupledDecay: lambda }));
    const gap = (l: number) => tf.tidy(() => tf.norm(tf.sub(kernels(t)[l], feedback(t)[l]!)).dataSync()[0]);
    const g0 = [gap(1), gap(2)];
    const { x, y } = batchOf(task, 0, 64);
    for (let step = 1; step <= 120; step++) {
      t.step(x, y);
      for (const l of [1, 2]) {
        const expected = g0[l - 1] * Math.pow(1 - lambda, step);
        expect(Math.abs(gap(l) - expected) / expected).toBeLessThan(1e-4);
      }
    }
    // (0.95)^120 ≈ 0.002 of the initial gap remains
    const angles = feedbackAngles(t.network, t.boundRule);
    expect(angles[1]).toBeLessThan(5);
    expect(angles[2]).toBeLessThan(5);
    x.dispose();
    y.dispose();
    done(t);
  });

  it('without decoupled decay (λ = 0) W − B does not shrink', () => {
    const t = trainer(kolenPollack(), momentum({ lr: 0.05 }));
    const gap = () => relNorm(kernels(t)[1], feedback(t)[1]!);
    const before = tf.tidy(() => tf.norm(tf.sub(kernels(t)[1], feedback(t)[1]!)).dataSync()[0]);
    const { x, y } = batchOf(task, 0, 64);
    for (let i = 0; i < 10; i++) t.step(x, y);
    const after = tf.tidy(() => tf.norm(tf.sub(kernels(t)[1], feedback(t)[1]!)).dataSync()[0]);
    expect(Math.abs(after - before) / before).toBeLessThan(1e-5);
    expect(gap()).toBeGreaterThan(0.5);
    x.dispose();
    y.dispose();
    done(t);
  });
});
