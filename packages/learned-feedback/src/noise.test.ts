import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  UPDATE_NOISE_STREAM,
  createTrainer,
  momentum,
  resolveBackend,
  sgd,
  withUpdateNoise,
  type OptimizerSpec,
  type Rule,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { decay, kolenPollack, learnedFeedback } from './index.js';
import { batchOf, copy, relNorm, smallNet, teacherTask } from './test-helpers.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const sizes = [200, 300, 40, 10];
const task = teacherTask(4, 64, 200, 10);

function trainer(rule: Rule, optimizer: OptimizerSpec = sgd({ lr: 0 }), seed = 3) {
  const { network, random } = smallNet(seed, sizes);
  return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer, random });
}

/** Mean and standard deviation of the elementwise differences of two snapshots. */
function stats(after: Float32Array[], before: Float32Array[]): { mean: number; std: number; n: number } {
  let n = 0;
  let sum = 0;
  let sq = 0;
  after.forEach((a, i) => {
    for (let j = 0; j < a.length; j++) {
      const d = a[j] - before[i][j];
      sum += d;
      sq += d * d;
      n++;
    }
  });
  const mean = sum / n;
  return { mean, std: Math.sqrt(sq / n - mean * mean), n };
}

const snapshot = (ts: tf.Tensor[]) => ts.map(copy);

describe('withUpdateNoise (core): Gaussian noise of a chosen σ on every update', () => {
  for (const sigma of [0.01, 0.1]) {
    it(`forward: each parameter moves by N(0, σ²) on top of the optimizer's step (σ = ${sigma})`, () => {
      // lr 0: the optimizer's step is exactly zero, so the change is the noise alone
      const t = trainer(withUpdateNoise(backprop(), { sigma }));
      const params = Object.values(t.network.namedParams());
      const before = snapshot(params);
      const { x, y } = batchOf(task, 0, 32);
      t.step(x, y);
      const s = stats(snapshot(params), before);
      expect(s.n).toBeGreaterThan(70_000);
      // the estimate's relative standard error is 1/√(2n) ≈ 0.26%: 2% is ~8 standard errors
      expect(Math.abs(s.std / sigma - 1)).toBeLessThan(0.02);
      expect(Math.abs(s.mean)).toBeLessThan((5 * sigma) / Math.sqrt(s.n));
      x.dispose();
      y.dispose();
      t.dispose();
      t.network.dispose();
    });
  }

  it('backward: exactly what the rule learns (B) gets N(0, σ²); its optimizer slots and the forward weights none', () => {
    const sigma = 0.05;
    // zero coefficients: B's own rule leaves it still, so its change is the noise alone
    const rule = learnedFeedback({ terms: [decay(0)], feedbackOptimizer: momentum({ lr: 1 }) });
    const t = trainer(withUpdateNoise(rule, { sigma, on: 'backward' }));
    const state = t.boundRule.state();
    const learned = t.boundRule.learned();
    expect(learned).toEqual(['layer1/B', 'layer2/B']);
    const B = learned.map((k) => state[k]);
    expect(B).toEqual([t.boundRule.feedbackWeights(1), t.boundRule.feedbackWeights(2)]);
    const slotKeys = Object.keys(state).filter((k) => !learned.includes(k));
    expect(slotKeys).toEqual(['layer1/optimizers/feedback/velocity/B', 'layer2/optimizers/feedback/velocity/B']);
    const slots = slotKeys.map((k) => state[k]);
    const params = Object.values(t.network.namedParams());
    const [b0, s0, p0] = [snapshot(B), snapshot(slots), snapshot(params)];
    const { x, y } = batchOf(task, 0, 32);
    t.step(x, y);
    const s = stats(snapshot(B), b0);
    expect(Math.abs(s.std / sigma - 1)).toBeLessThan(0.02);
    expect(snapshot(slots)).toEqual(s0);
    expect(snapshot(params)).toEqual(p0);
    x.dispose();
    y.dispose();
    t.dispose();
    t.network.dispose();
  });

  it('both: forward and backward at once; the same seed draws the same noise (its stream is saved with the run)', () => {
    const make = () => trainer(withUpdateNoise(learnedFeedback({ terms: [decay(0)] }), { sigma: 0.02, on: 'both' }), sgd({ lr: 0.1 }));
    const a = make();
    const b = make();
    const { x, y } = batchOf(task, 0, 32);
    for (const t of [a, b]) {
      t.step(x, y);
      t.step(x, y);
    }
    const all = (t: ReturnType<typeof make>) => snapshot([...Object.values(t.network.namedParams()), ...Object.values(t.boundRule.state())]);
    expect(all(a)).toEqual(all(b));
    expect(a.random.getState()).toHaveProperty(UPDATE_NOISE_STREAM);
    const n = tf.memory().numTensors;
    a.step(x, y);
    expect(tf.memory().numTensors).toBe(n);
    x.dispose();
    y.dispose();
    for (const t of [a, b]) {
      t.dispose();
      t.network.dispose();
    }
  });

  it('the inner rule sees the noisy applied step: Kolen–Pollack started tied stays tied under forward noise (to rounding)', () => {
    const t = trainer(withUpdateNoise(kolenPollack({ feedbackInit: 'kernel' }), { sigma: 0.01 }), momentum({ lr: 0.05, decoupledDecay: 1e-2 }));
    const { x, y } = batchOf(task, 0, 32);
    for (let i = 0; i < 3; i++) t.step(x, y);
    // W gets (step) then (+ noise), B gets (step + noise): equal up to float32 rounding, not bit for bit
    for (const l of [1, 2]) expect(relNorm(t.boundRule.feedbackWeights(l)!, t.network.layers[l].params.kernel)).toBeLessThan(1e-6);
    x.dispose();
    y.dispose();
    t.dispose();
    t.network.dispose();
  });

  it('validates its options and keeps the rule id', () => {
    expect(() => withUpdateNoise(backprop(), { sigma: -1 })).toThrow(OptionError);
    expect(() => withUpdateNoise(backprop(), { sigma: 0.1, on: 'sideways' as never })).toThrow(/forward/);
    expect(() => withUpdateNoise({} as never, { sigma: 0.1 })).toThrow(/rule/);
    const r = withUpdateNoise(backprop(), { sigma: 0.1, on: 'both' });
    expect(r.id).toBe('bp');
    expect(r.options).toEqual({ rule: {}, updateNoise: { sigma: 0.1, on: 'both' } });
  });
});
