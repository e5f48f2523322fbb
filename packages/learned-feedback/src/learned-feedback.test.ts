import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  activation,
  adam,
  batchNorm,
  conv2d,
  createTrainer,
  dense,
  flatten,
  locallyConnected2d,
  maxPool2d,
  momentum,
  perLayer,
  randomSource,
  randomStream,
  resolveBackend,
  sequential,
  sgd,
  stepContext,
  type Network,
  type OptimizerSpec,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { restoreTrainer, saveCheckpoint } from '@bioprop/core/node';
import { backprop } from '@bioprop/backprop';
import {
  activationAlignment,
  activationAlignmentEntry,
  amp,
  decay,
  feedbackAngles,
  sparse,
  informationAlignment,
  kolenPollack,
  learnedFeedback,
  normalTensor,
  nullTerm,
  rules,
  symmetricAlignment,
  weightMirror,
  weightMirrorEntry,
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
  it('with every coefficient zero it is feedback alignment: B never moves and δ_{l-1} = blockVjp(backwardInput(δ_l, B))', async () => {
    const t = trainer(learnedFeedback({ terms: [amp(0), decay(0)] }));
    // layer 0 has no B (nothing below it needs a signal); B's sgd keeps no slots
    expect(Object.keys(t.boundRule.state())).toEqual(['layer1/B', 'layer2/B']);
    const before = [1, 2].map((l) => copy(t.boundRule.feedbackWeights(l)!));
    let checked = 0;
    t.addHook({
      onStep({ trace, result, network, boundRule }) {
        for (const l of [1, 2]) {
          const sent = network.layers[l].backwardInput(result.signals[l], boundRule.feedbackWeights(l)!);
          expect(relNorm(result.signals[l - 1], network.layers[l - 1].blockVjp(trace, sent).delta)).toBeLessThan(1e-6);
        }
        checked++;
      },
    });
    await t.fit(task, { epochs: 1, batchSize: 64 });
    expect(checked).toBe(8);
    [1, 2].forEach((l, i) => expect(copy(t.boundRule.feedbackWeights(l)!)).toEqual(before[i]));
    done(t);
  });

  it('declares its feedback weights: feedbackWeights(l) is the learned state B (null at layer 0), for every rule', () => {
    for (const rule of [symmetricAlignment(), activationAlignment(), weightMirror(), informationAlignment(), kolenPollack()]) {
      const t = trainer(rule);
      const state = t.boundRule.state();
      expect(t.boundRule.feedbackWeights(0), rule.id).toBeNull();
      for (const l of [1, 2]) {
        const B = t.boundRule.feedbackWeights(l)!;
        expect(B, `${rule.id} layer ${l}`).toBe(state[`layer${l}/B`]);
        expect(B.shape).toEqual(t.network.layers[l].params.kernel.shape);
      }
      // B is what the rule learns; its optimizer's slots are not
      expect(t.boundRule.learned(), rule.id).toEqual(['layer1/B', 'layer2/B']);
      done(t);
    }
  });

  it('each layer draws B from its own stream rule/<id>/layer<l>: the same seed gives the same B, another layer another B', () => {
    const a = trainer(symmetricAlignment());
    const b = trainer(symmetricAlignment());
    expect(Object.keys(a.random.getState())).toEqual(expect.arrayContaining(['rule/sa/layer1', 'rule/sa/layer2']));
    expect(copy(a.boundRule.feedbackWeights(2)!)).toEqual(copy(b.boundRule.feedbackWeights(2)!));
    // B_1 is Glorot uniform from rule/sa/layer1 alone
    const stream = randomSource(5).stream('rule/sa/layer1');
    const limit = Math.sqrt(6 / (32 + 24));
    expect(copy(a.boundRule.feedbackWeights(1)!)).toEqual(stream.uniformArray(32 * 24, -limit, limit));
    done(a);
    done(b);
  });

  it('sends a signal below layer 0 when a module with parameters sits in front of it (batch norm on the input)', () => {
    const random = randomSource(5);
    const network = sequential({
      inputShape: [20],
      layers: [batchNorm(), dense({ units: 16, activation: 'tanh' }), dense({ units: 4 })],
      random,
    });
    const t = createTrainer({ network, rule: symmetricAlignment(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.05 }), random });
    expect(t.boundRule.feedbackWeights(0)?.shape).toEqual([20, 16]);
    const { x, y } = batchOf(task, 0, 32);
    tf.tidy(() => {
      const trace = network.forward(x, { training: true, random: random.stream('forward') });
      const ctx = stepContext({ network, trace, target: y, loss: t.loss, step: 0, epoch: 0, random });
      // the signal is sent with B as it was before the step (which also updates B)
      const B0 = t.boundRule.feedbackWeights(0)!.clone();
      const result = t.boundRule.step(ctx);
      // batch norm's γ and β train on B_0's signal: exactly what backprop would send with B_0 in the kernel's place
      const sent = network.layers[0].backwardInput(result.signals[0], B0);
      const bn = network.nodes[0].module;
      const expected = bn.vjp(sent, trace.nodes[0]).params!;
      expect(relNorm(result.moduleGrads![bn.name].gamma, expected.gamma)).toBeLessThan(1e-6);
    });
    x.dispose();
    y.dispose();
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

  it('B has its own optimizer `feedback`, whose slots and step count core keeps with the layer state', () => {
    const t = trainer(symmetricAlignment({ feedbackOptimizer: adam({ lr: 1e-2 }) }), sgd({ lr: 0.1 }));
    expect(Object.keys(t.boundRule.state()).sort()).toEqual([
      'layer1/B',
      'layer1/optimizers/feedback/m/B',
      'layer1/optimizers/feedback/v/B',
      'layer2/B',
      'layer2/optimizers/feedback/m/B',
      'layer2/optimizers/feedback/v/B',
    ]);
    const { x, y } = batchOf(task, 0, 32);
    t.step(x, y);
    t.step(x, y);
    // the slots moved: B's Adam ran (twice: its step count is saved beside), and W's plain sgd keeps no slots
    expect(tf.tidy(() => tf.norm(t.boundRule.state()['layer1/optimizers/feedback/m/B']).dataSync()[0])).toBeGreaterThan(0);
    expect(t.boundRule.getMeta()).toEqual({ layers: [null, { meta: null, optimizers: { feedback: { steps: 2 } } }, { meta: null, optimizers: { feedback: { steps: 2 } } }] });
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
    const B0 = copy(t.boundRule.feedbackWeights(1)!);
    for (let i = 0; i < 3; i++) t.step(x, y);
    expect(copy(t.boundRule.feedbackWeights(1)!)).toEqual(B0);
    t.step(x, y);
    expect(copy(t.boundRule.feedbackWeights(1)!)).not.toEqual(B0);
    x.dispose();
    y.dispose();
    done(t);
  });

  it('terms given as JSON train exactly like the same terms as values', async () => {
    const a = trainer(learnedFeedback({ terms: [{ primitive: 'amp', coefficient: 2e-3 }, { primitive: 'null', coefficient: 1e-3 }] }));
    const b = trainer(learnedFeedback({ terms: [amp(2e-3), nullTerm(1e-3)] }));
    await a.fit(task, { epochs: 1, batchSize: 64 });
    await b.fit(task, { epochs: 1, batchSize: 64 });
    expect(copy(a.boundRule.feedbackWeights(2)!)).toEqual(copy(b.boundRule.feedbackWeights(2)!));
    expect(a.rule.options).toEqual(b.rule.options);
    done(a);
    done(b);
  });

  it('composes per layer: SA feedback above, backprop at the bottom, and B still learns', async () => {
    const sa = symmetricAlignment();
    const t = trainer(perLayer([backprop(), sa, sa]));
    const start = feedbackAngles(t.network, t.boundRule);
    expect(start[1]).toBeGreaterThan(45);
    await t.fit(task, { epochs: 12, batchSize: 64 });
    const angles = feedbackAngles(t.network, t.boundRule);
    expect(angles[0]).toBeNull();
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
      expect(copy(sub.boundRule.feedbackWeights(l)!)).toEqual(copy(full.boundRule.feedbackWeights(l)!));
    }
    expect(sub.rule.options).toMatchObject({ feedbackSamples: 16 });
    for (const t of [big.x, big.y, head.x, head.y]) t.dispose();
    done(sub);
    done(full);
  });

  it('feedbackSamples on convolution and locally connected kernels inside blocks (pooling, batch norm): the same B as a batch of those samples', () => {
    const imageTrainer = (feedbackSamples?: number) => {
      const random = randomSource(6);
      const network = sequential({
        inputShape: [8, 8, 2],
        layers: [
          conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }),
          maxPool2d(2),
          conv2d({ filters: 4, kernelSize: 3, padding: 'same' }),
          activation('tanh'),
          locallyConnected2d({ filters: 3, kernelSize: 2, activation: 'tanh' }),
          flatten(),
          // after the kernel: r is read before it (batch statistics would make the kernels' inputs depend on the batch)
          dense({ units: 4 }),
          batchNorm(),
        ],
        random,
      });
      const rule = learnedFeedback({ terms: [amp(2e-3), nullTerm(1e-3), sparse(1e-3), decay(1e-3)], ...(feedbackSamples ? { feedbackSamples } : {}) });
      return createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.05 }), random });
    };
    const images = teacherTask(7, 12, 128, 4);
    const sub = imageTrainer(5);
    const full = imageTrainer();
    const big = batchOf(images, 0, 12);
    const head = batchOf(images, 0, 5);
    const B0 = copy(sub.boundRule.feedbackWeights(1)!);
    sub.step(big.x, big.y);
    full.step(head.x, head.y);
    for (const l of [1, 2, 3]) {
      expect(copy(sub.boundRule.feedbackWeights(l)!), sub.network.layers[l].kind).toEqual(copy(full.boundRule.feedbackWeights(l)!));
    }
    expect(copy(sub.boundRule.feedbackWeights(1)!)).not.toEqual(B0);
    for (const t of [big.x, big.y, head.x, head.y]) t.dispose();
    done(sub);
    done(full);
  });

  it('options are validated at the boundary, messages naming the rule and the option', () => {
    expect(() => learnedFeedback({} as never)).toThrow(/lf\.terms is required/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackOptimizer: { name: 'lbfgs', lr: 1 } as never })).toThrow(OptionError);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackOptimizer: { name: 'sgd', lr: -1 } })).toThrow(/lf\.feedbackOptimizer must be an optimizer spec/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackInputs: { noise: -1 } })).toThrow(/lf\.feedbackInputs must be/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackInit: 'kernal' as never })).toThrow(/lf\.feedbackInit must be one of 'glorot', 'kernel'/);
    expect(() => learnedFeedback({ id: 'mine', terms: [amp(1)], feedbakSamples: 2 } as never)).toThrow(/mine: unknown option "feedbakSamples" \(known: terms, /);
    expect(() => learnedFeedback({ terms: [{ primitive: 'hebbian', coefficient: 1 } as never] })).toThrow(/lf\.terms\[0\] must be a term/);
    expect(() => symmetricAlignment({ self: Infinity })).toThrow(/sa\.self must be a number, a schedule/);
    expect(() => weightMirror({ mirror: { sigma: NaN } })).toThrow(/wm\.mirror must be false, or an object with keys sigma, batchSize/);
    expect(() => learnedFeedback({ terms: [amp(1)], feedbackSamples: 0 })).toThrow(/lf\.feedbackSamples must be an integer ≥ 1 or null/);
    // a cross-field check the schema cannot express: σ = √(decay/amp) needs a non-negative ratio
    expect(() => weightMirror({ amp: 1e-3, decay: -2e-3 })).toThrow(/wm: σ = √\(decay\/amp\) needs decay\/amp ≥ 0/);
    expect(weightMirror({ amp: 1e-3, decay: -2e-3, mirror: { sigma: 1 } }).options).toMatchObject({ mirror: { sigma: 1, batchSize: 64 } });
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
  it('exports sa, aa, wm, ia, kp with JSON defaults; each creates its rule with its filled options', () => {
    expect(rules.map((e) => e.id)).toEqual(['sa', 'aa', 'wm', 'ia', 'kp']);
    for (const e of rules) {
      expect(JSON.parse(JSON.stringify(e.defaults))).toEqual(e.defaults);
      expect(e.supports).toContain('dense');
      const rule = e.create();
      expect(rule.id).toBe(e.id);
      expect(rule.options).toEqual(JSON.parse(JSON.stringify(rule.options)));
      // the options a rule reports create the same rule again
      expect(e.create(rule.options).options).toEqual(rule.options);
    }
    // weight mirror's noise: σ = √(decay/amp) of the options in force (the fixed point stays the kernel), 64 samples
    expect(weightMirrorEntry.create().options).toMatchObject({ mirror: { sigma: Math.sqrt(2), batchSize: 64 } });
    expect(weightMirrorEntry.create({ amp: 2e-3 }).options).toMatchObject({ mirror: { sigma: 1, batchSize: 64 } });
    expect(weightMirrorEntry.create({ mirror: false }).options).toMatchObject({ mirror: false });
    // user options override the tuned ones
    const r = activationAlignmentEntry.create({ sparse: 5e-3, feedbackOptimizer: { name: 'adam', lr: 1e-3 } });
    expect(r.options).toEqual({ amp: 2e-3, sparse: 5e-3, feedbackOptimizer: { name: 'adam', lr: 1e-3 }, feedbackInit: 'glorot', feedbackSamples: 32 });
  });
});

export type { TrainData };
afterAll(() => undefined);
