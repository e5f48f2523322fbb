import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  adam,
  createTrainer,
  momentum,
  perLayer,
  randomStream,
  resolveBackend,
  restoreTrainer,
  saveCheckpoint,
  sgd,
  type Network,
  type OptimizerSpec,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import {
  activationAlignment,
  activationAlignmentEntry,
  amp,
  decay,
  feedbackAngles,
  feedbackWeights,
  informationAlignment,
  learnedFeedback,
  learnedFeedbackEntries,
  normalTensor,
  nullTerm,
  symmetricAlignment,
  weightMirror,
} from './index.js';
import { batchOf, copy, relNorm, smallNet, teacherTask } from './test-helpers.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const task = teacherTask(1, 512, 20, 4);
const sizes = [20, 32, 24, 4];

function trainer(rule: Rule, optimizer: OptimizerSpec = momentum({ lr: 0.05 }), seed = 5, net = sizes) {
  const { network, random } = smallNet(seed, net);
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer, random });
}

function done(t: { dispose(): void; network: Network }) {
  t.dispose();
  t.network.dispose();
}

describe('learned feedback: the FA backward pass with trained B', () => {
  it('with every coefficient zero it is feedback alignment: B never moves and δ_{l-1} = backwardInput(δ_l, B) ⊙ f′', async () => {
    const t = trainer(learnedFeedback({ terms: [amp(0), decay(0)] }));
    // layer 0 has no B (nothing below it needs a signal); only sgd: no optimizer slots
    expect(Object.keys(t.boundRule.state())).toEqual(['layer1/B', 'layer2/B']);
    const before = feedbackWeights(t.network, t.boundRule).map((b) => (b ? copy(b) : null));
    let checked = 0;
    t.addHook({
      onStep({ trace, result, network, boundRule }) {
        const B = feedbackWeights(network, boundRule);
        for (const l of [1, 2]) {
          const below = trace.layers[l - 1];
          const expected = tf.mul(network.layers[l].backwardInput(result.signals[l], B[l]!), network.layers[l - 1].activation.derivative(below.pre, below.output));
          expect(relNorm(result.signals[l - 1], expected)).toBeLessThan(1e-6);
        }
        checked++;
      },
    });
    await t.fit(task, { epochs: 1, batchSize: 64 });
    expect(checked).toBe(8);
    feedbackWeights(t.network, t.boundRule).forEach((b, l) => {
      if (b) expect(copy(b)).toEqual(before[l]);
    });
    done(t);
  });

  it('no tensor leaks: numTensors is unchanged by a training step (every named rule, mirror mode included)', () => {
    const { x, y } = batchOf(task, 0, 32);
    for (const rule of [
      symmetricAlignment(),
      activationAlignment({ feedbackOptimizer: { name: 'adam', lr: 1e-3 } }),
      weightMirror(),
      informationAlignment({ feedbackOptimizer: momentum({ lr: 10 }) }),
    ]) {
      const t = trainer(rule);
      t.step(x, y);
      const n = tf.memory().numTensors;
      t.step(x, y);
      t.step(x, y);
      expect(tf.memory().numTensors, rule.id).toBe(n);
      done(t);
    }
    x.dispose();
    y.dispose();
  });

  it('B has its own optimizer, whose slots are rule state under feedbackOptimizer/ keys', () => {
    const t = trainer(symmetricAlignment({ feedbackOptimizer: momentum({ lr: 20, momentum: 0.9 }) }), sgd({ lr: 0.1 }));
    expect(Object.keys(t.boundRule.state()).sort()).toEqual([
      'layer1/B',
      'layer1/feedbackOptimizer/velocity/B',
      'layer2/B',
      'layer2/feedbackOptimizer/velocity/B',
    ]);
    const { x, y } = batchOf(task, 0, 32);
    t.step(x, y);
    // the velocity slot moved: B's momentum optimizer ran, and W's (plain sgd) optimizer has no slots
    expect(tf.tidy(() => tf.norm(t.boundRule.state()['layer1/feedbackOptimizer/velocity/B']).dataSync()[0])).toBeGreaterThan(0);
    expect(Object.keys(t.optimizer.slots())).toEqual([]);
    x.dispose();
    y.dispose();
    done(t);
  });

  it('a checkpoint resumes bit-for-bit, B, its momentum and Adam slots and counters included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lf-ck-'));
    try {
      for (const feedbackOptimizer of [momentum({ lr: 10, momentum: 0.9 }), adam({ lr: 3e-3 })]) {
        const make = () => trainer(activationAlignment({ feedbackOptimizer }), adam({ lr: 1e-3 }), 9);
        const straight = make();
        await straight.fit(task, { epochs: 2, batchSize: 64 });
        const first = make();
        await first.fit(task, { epochs: 1, batchSize: 64 });
        await saveCheckpoint(dir, { network: first.network, boundRule: first.boundRule, trainer: first });
        done(first);
        const resumed = make();
        await restoreTrainer(resumed, dir);
        await resumed.fit(task, { epochs: 2, batchSize: 64 });
        const a = { ...straight.network.namedParams(), ...straight.boundRule.state() };
        const b = { ...resumed.network.namedParams(), ...resumed.boundRule.state() };
        expect(Object.keys(b)).toEqual(Object.keys(a));
        for (const k of Object.keys(a)) expect(copy(b[k]), `${feedbackOptimizer.name} ${k}`).toEqual(copy(a[k]));
        done(straight);
        done(resumed);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scheduled coefficients: B stays put while the schedule is zero, then learns', () => {
    const rule = learnedFeedback({
      terms: [amp({ type: 'piecewise', boundaries: [3], values: [0, 1e-3] }), decay(({ step }) => (step < 3 ? 0 : 2e-3))],
    });
    expect(rule.options).toMatchObject({ terms: [{ primitive: 'amp', coefficient: { type: 'piecewise' } }, { primitive: 'decay', coefficient: '<function>' }] });
    const t = trainer(rule);
    const { x, y } = batchOf(task, 0, 32);
    const B0 = copy(feedbackWeights(t.network, t.boundRule)[1]!);
    for (let i = 0; i < 3; i++) t.step(x, y);
    expect(copy(feedbackWeights(t.network, t.boundRule)[1]!)).toEqual(B0);
    t.step(x, y);
    expect(copy(feedbackWeights(t.network, t.boundRule)[1]!)).not.toEqual(B0);
    x.dispose();
    y.dispose();
    done(t);
  });

  it('terms given as JSON train exactly like the same terms as values', async () => {
    const a = trainer(learnedFeedback({ terms: [{ primitive: 'amp', coefficient: 2e-3 }, { primitive: 'null', coefficient: 1e-3 }] }));
    const b = trainer(learnedFeedback({ terms: [amp(2e-3), nullTerm(1e-3)] }));
    await a.fit(task, { epochs: 1, batchSize: 64 });
    await b.fit(task, { epochs: 1, batchSize: 64 });
    expect(copy(feedbackWeights(a.network, a.boundRule)[2]!)).toEqual(copy(feedbackWeights(b.network, b.boundRule)[2]!));
    expect(a.rule.options).toEqual(b.rule.options);
    done(a);
    done(b);
  });

  it('composes per layer: SA feedback above, backprop at the bottom, and B still learns', async () => {
    const sa = symmetricAlignment();
    const t = trainer(perLayer([backprop(), sa, sa]));
    const start = feedbackAngles(t.network, t.boundRule);
    expect(start[1]).toBeGreaterThan(45);
    await t.fit(task, { epochs: 6, batchSize: 64 });
    const angles = feedbackAngles(t.network, t.boundRule);
    expect(Number.isNaN(angles[0])).toBe(true);
    expect(angles[1]).toBeLessThan(5);
    expect(angles[2]).toBeLessThan(5);
    done(t);
  });

  it('feedbackSamples: B learns from the first n samples of the batch only', () => {
    const make = (feedbackSamples?: number) =>
      trainer(learnedFeedback({ terms: [amp(2e-3), nullTerm(1e-3), decay(1e-3)], ...(feedbackSamples ? { feedbackSamples } : {}) }));
    const sub = make(16);
    const full = make();
    const big = batchOf(task, 0, 32);
    const head = batchOf(task, 0, 16);
    sub.step(big.x, big.y);
    full.step(head.x, head.y);
    for (const l of [1, 2]) {
      expect(copy(feedbackWeights(sub.network, sub.boundRule)[l]!)).toEqual(copy(feedbackWeights(full.network, full.boundRule)[l]!));
    }
    expect(sub.rule.options).toMatchObject({ feedbackSamples: 16 });
    for (const t of [big.x, big.y, head.x, head.y]) t.dispose();
    done(sub);
    done(full);
  });

  it('options are validated at the boundary', () => {
    expect(() => learnedFeedback({} as never)).toThrow(/terms must be an array/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackOptimizer: { name: 'lbfgs', lr: 1 } as never })).toThrow(OptionError);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackOptimizer: { name: 'sgd', lr: -1 } })).toThrow(/lr/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackInputs: { noise: -1 } })).toThrow(/noise/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackInit: 'kernal' as never })).toThrow(OptionError);
    expect(() => symmetricAlignment({ self: Infinity })).toThrow(/self coefficient/);
    expect(() => weightMirror({ mirror: { sigma: NaN } })).toThrow(/sigma/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackSamples: 0 })).toThrow(/feedbackSamples/);
  });
});

describe('mirror-mode noise', () => {
  it('normalTensor draws N(0, σ²), finite, reproducibly from its stream', () => {
    const sigma = 1.5;
    const draw = () => normalTensor(randomStream(3, 'mirror'), [301, 333], sigma);
    const z = draw();
    const values = copy(z);
    expect(values.every(Number.isFinite)).toBe(true);
    const n = values.length;
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(n));
    expect(Math.abs(std / sigma - 1)).toBeLessThan(0.01);
    // Gaussian, not merely of the right variance: E[z⁴] = 3σ⁴
    const kurtosis = values.reduce((a, b) => a + (b - mean) ** 4, 0) / n / std ** 4;
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.1);
    const again = draw();
    expect(copy(again)).toEqual(values);
    z.dispose();
    again.dispose();
  });
});

describe('named rules as entries', () => {
  it('exports sa, aa, wm, ia, kp with JSON defaults that create the rule', () => {
    expect(learnedFeedbackEntries.map((e) => e.id)).toEqual(['sa', 'aa', 'wm', 'ia', 'kp']);
    for (const e of learnedFeedbackEntries) {
      expect(JSON.parse(JSON.stringify(e.defaults))).toEqual(e.defaults);
      expect(e.supports).toContain('dense');
      const rule = e.create();
      expect(rule.id).toBe(e.id);
      expect(rule.options).toEqual(JSON.parse(JSON.stringify(rule.options)));
    }
    // user options override the tuned ones
    const r = activationAlignmentEntry.create({ sparse: 5e-3, feedbackOptimizer: { name: 'adam', lr: 1e-3 } });
    expect(r.options).toMatchObject({
      terms: [{ primitive: 'amp', coefficient: 2e-3 }, { primitive: 'sparse', coefficient: 5e-3 }],
      feedbackOptimizer: { name: 'adam', lr: 1e-3 },
    });
  });
});

export type { TrainData };
afterAll(() => undefined);
