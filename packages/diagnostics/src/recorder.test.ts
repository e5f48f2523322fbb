import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  deltaFromSignal,
  dense,
  layerwise,
  resolveBackend,
  resolveOptimizer,
  sequential,
  sgd,
  type Network,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { faDefaults, feedbackAlignment } from '@bioprop/feedback-alignment';
import { dfaDefaults, directFeedbackAlignment } from '@bioprop/direct-feedback-alignment';
import { linearTask } from '@bioprop/datasets';
import { realDataOrSkip } from '@bioprop/datasets/node';
import { seededData } from '@bioprop/testing';
import { alignmentRecorder, probeAlignment, type AlignmentRecord } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const small = (seed = 2): Network =>
  sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 12, activation: 'tanh' }), dense({ units: 5 })], seed });

const numbersOnly = (r: AlignmentRecord) =>
  [...r.deltaAngleDeg, ...r.updateAngleDeg, ...r.weights.flatMap((w) => [w.angleDeg, w.normRatio ?? 0])].every((v) => Number.isFinite(v));

/**
 * Backprop that also learns inside `step` (a counter in its state) and draws from the run's random source: what a
 * probe must undo and must not disturb.
 */
const statefulBackprop = (): Rule =>
  layerwise({
    id: 'bp-stateful',
    name: 'stateful test rule',
    options: {},
    usesSignal: true,
    init: () => ({ tensors: { count: tf.zeros([1]) }, learned: ['count'] }),
    step(ctx) {
      ctx.state.tensors.count.assign(tf.add(ctx.state.tensors.count, ctx.random.next()));
      const delta = deltaFromSignal(ctx);
      return {
        delta,
        grads: ctx.layer.paramGrads(ctx.layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: ctx.layer.backwardInput(delta, ctx.layer.params.kernel) } : undefined,
      };
    },
  });

describe('alignmentRecorder', () => {
  it('step mode: backprop measured against itself is exactly 0° at every step, even with large steps (uses the weights the rule saw)', async () => {
    const trainer = createTrainer({ network: small(), rule: backprop(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 2 }), seed: 1 });
    const rec = alignmentRecorder({ every: 'step', everySteps: 2 });
    trainer.addHook(rec);
    await trainer.fit(seededData(1, 96, [20], 5), { epochs: 2, batchSize: 16 });
    expect(rec.history.length).toBe(6);
    expect(rec.history.map((r) => r.step)).toEqual([2, 4, 6, 8, 10, 12]);
    expect(rec.history.map((r) => r.epoch)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(rec.history[0].batch).toBe(1);
    for (const r of rec.history) {
      expect(r.deltaAngleDeg).toEqual([0, 0, 0]);
      expect(r.updateAngleDeg).toEqual([0, 0, 0]);
      expect(r.weights).toEqual([]);
      expect(r.condition).toBeNull();
    }
    rec.dispose();
    trainer.dispose();
    trainer.network.dispose();
  });

  it('epoch mode (last batch, and a fixed probe) records once per epoch and does not change training', async () => {
    const data = seededData(2, 100, [20], 5);
    const probe = { x: data.x.slice(0, 20 * 20), y: data.y.slice(0, 20 * 5), count: 20 };
    const run = async (rule: () => Rule, hooks: ReturnType<typeof alignmentRecorder>[]) => {
      const t = createTrainer({ network: small(4), rule: rule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 3 });
      hooks.forEach((h) => t.addHook(h));
      await t.fit(data, { epochs: 3, batchSize: 32 });
      const weights = Object.values(t.network.namedParams()).map((v) => Array.from(v.dataSync()));
      const state = Object.values(t.boundRule.state()).map((v) => Array.from(v.dataSync()));
      const rnd = JSON.stringify(t.random.getState());
      t.dispose();
      t.network.dispose();
      return { weights, state, rnd };
    };
    for (const rule of [() => feedbackAlignment(), statefulBackprop]) {
      const last = alignmentRecorder();
      const fixed = alignmentRecorder({ probe });
      const n0 = tf.memory().numTensors;
      const withRec = await run(rule, [last, fixed]);
      last.dispose();
      fixed.dispose();
      expect(tf.memory().numTensors).toBe(n0);
      const without = await run(rule, []);
      expect(withRec).toEqual(without);
      for (const rec of [last, fixed]) {
        expect(rec.history.map((r) => r.epoch)).toEqual([1, 2, 3]);
        expect(rec.history.map((r) => r.step)).toEqual([4, 8, 12]);
        expect(rec.history.every(numbersOnly)).toBe(true);
        expect(rec.history[0].batch).toBeNull();
      }
      expect(JSON.parse(JSON.stringify(fixed.toJSON()))).toEqual(fixed.history);
    }
  });

  it('step mode leaks no tensor', async () => {
    const trainer = createTrainer({ network: small(), rule: feedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }) });
    const rec = alignmentRecorder({ every: 'step' });
    trainer.addHook(rec);
    const data = seededData(3, 32, [20], 5);
    await trainer.fit(data, { epochs: 1, batchSize: 16 });
    const n0 = tf.memory().numTensors;
    await trainer.fit(data, { epochs: 2, batchSize: 16 });
    expect(tf.memory().numTensors).toBe(n0);
    expect(rec.history.length).toBe(4);
    trainer.dispose();
    trainer.network.dispose();
  });

  it('rejects bad options', () => {
    expect(() => alignmentRecorder({ every: 'batch' as never })).toThrow(/every must be/);
    expect(() => alignmentRecorder({ everySteps: 0 })).toThrow(/everySteps/);
    expect(() => alignmentRecorder({ probe: { x: [1], y: [1], count: 1 } as never })).toThrow(/probe must be/);
  });
});

describe('Lillicrap Task 1: 30-20-10 linear network, MSE, y = Tx (seeded)', () => {
  it('FA’s hidden update turns from ~90° to under 45° of backprop’s, and eᵀWBe becomes positive', async () => {
    const task = linearTask({ seed: 1, trainCount: 1000, testCount: 200 });
    // methods.md: W ~ U[−0.01, 0.01], B ~ U[−0.5, 0.5]
    const network = sequential({
      inputShape: [30],
      layers: [dense({ units: 20, kernelInit: { uniform: 0.01 }, useBias: false }), dense({ units: 10, kernelInit: { uniform: 0.01 }, useBias: false })],
      seed: 1,
    });
    const trainer = createTrainer({ network, rule: feedbackAlignment({ feedbackInit: { uniform: 0.5 } }), loss: 'mse', optimizer: sgd({ lr: 0.005 }), seed: 1 });
    // before any step: the first 20 training samples
    const x0 = tf.tensor(task.train.x.subarray(0, 20 * 30), [20, 30]);
    const y0 = tf.tensor(task.train.y.subarray(0, 20 * 10), [20, 10]);
    const start = probeAlignment({ network, boundRule: trainer.boundRule, loss: trainer.loss, input: x0, target: y0 });
    tf.dispose([x0, y0]);
    const rec = alignmentRecorder({ every: 'step', everySteps: 10 });
    trainer.addHook(rec);
    await trainer.fit(task.train, { epochs: 3, batchSize: 20 });
    const end = rec.history.slice(-5);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const endDelta = mean(end.map((r) => r.deltaAngleDeg[0]));
    const endUpdate = mean(end.map((r) => r.updateAngleDeg[0]));
    console.log(
      `[diagnostics] task 1: hidden δ angle to BP ${start.deltaAngleDeg[0].toFixed(1)}° → ${endDelta.toFixed(1)}° (ΔW ${start.updateAngleDeg[0].toFixed(1)}° → ${endUpdate.toFixed(1)}°); ` +
        `to PBP ${start.pbp!.ruleDeg.toFixed(1)}° → ${mean(end.map((r) => r.pbp!.ruleDeg)).toFixed(1)}°; ` +
        `eᵀWBe mean ${start.condition!.mean.toExponential(2)} (positive ${start.condition!.positiveFraction}) → ${end[4].condition!.mean.toExponential(2)} (positive ${end[4].condition!.positiveFraction}); ` +
        `B vs W ${start.weights[0].angleDeg.toFixed(1)}° → ${end[4].weights[0].angleDeg.toFixed(1)}°`,
    );
    expect(start.deltaAngleDeg[0]).toBeGreaterThan(75);
    expect(start.deltaAngleDeg[0]).toBeLessThan(105);
    expect(endDelta).toBeLessThan(45);
    expect(endUpdate).toBeLessThan(45);
    for (const r of end) {
      expect(r.condition!.mean).toBeGreaterThan(0);
      expect(r.condition!.positiveFraction).toBe(1);
    }
    // the feedback and forward weights themselves align
    expect(end[4].weights[0].angleDeg).toBeLessThan(start.weights[0].angleDeg - 30);
    rec.dispose();
    trainer.dispose();
    network.dispose();
  });
});

describe('on a Fashion-MNIST subset (6000 train, 784-256-256-10 tanh, 3 epochs, seed 7, each rule’s defaults)', () => {
  const run = async (ctx: { skip(note?: string): unknown }, rule: Rule, d: typeof faDefaults) => {
    const data = await realDataOrSkip('fashion-mnist', { limitTrain: 6000, limitTest: 1000 }, ctx);
    if (!data) return null;
    const network = sequential({
      inputShape: [784],
      layers: [
        dense({ units: 256, activation: 'tanh', kernelInit: d.kernelInit }),
        dense({ units: 256, activation: 'tanh', kernelInit: d.kernelInit }),
        dense({ units: 10, kernelInit: d.kernelInit }),
      ],
      seed: 7,
    });
    const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(d.optimizer as never), seed: 7 });
    const probe: TrainData & { count: number } = { ...data.test, x: data.test.x.slice(0, 256 * 784), y: data.test.y.slice(0, 256 * 10), count: 256 };
    const rec = alignmentRecorder({ probe });
    trainer.addHook(rec);
    await trainer.fit(data.train, { epochs: 3, batchSize: d.batchSize });
    trainer.dispose();
    network.dispose();
    return rec.history;
  };

  it('feedback alignment’s last-epoch angle to backprop is under 90° on every layer', async (ctx) => {
    const h = await run(ctx, feedbackAlignment(), faDefaults);
    if (!h) return;
    const last = h[h.length - 1];
    console.log(`[diagnostics] fa δ angles per epoch: ${h.map((r) => r.deltaAngleDeg.map((a) => a.toFixed(1)).join('/')).join(' → ')}; ΔW ${last.updateAngleDeg.map((a) => a.toFixed(1)).join('/')}; weights ${last.weights.map((w) => w.angleDeg.toFixed(1)).join('/')}`);
    expect(h.length).toBe(3);
    last.deltaAngleDeg.forEach((a) => expect(a).toBeLessThan(90));
    expect(last.condition!.mean).toBeGreaterThan(0);
  });

  it('direct feedback alignment’s last-epoch angle to backprop is under 90° on every layer', async (ctx) => {
    const h = await run(ctx, directFeedbackAlignment(), dfaDefaults);
    if (!h) return;
    const last = h[h.length - 1];
    console.log(`[diagnostics] dfa δ angles per epoch: ${h.map((r) => r.deltaAngleDeg.map((a) => a.toFixed(1)).join('/')).join(' → ')}; ΔW ${last.updateAngleDeg.map((a) => a.toFixed(1)).join('/')}`);
    last.deltaAngleDeg.forEach((a) => expect(a).toBeLessThan(90));
  });
});
