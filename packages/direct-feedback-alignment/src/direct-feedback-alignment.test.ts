import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  RuleSupportError,
  SequentialNetwork,
  createTrainer,
  dense,
  perLayer,
  randomSource,
  resolveBackend,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  type BoundRule,
  type Layer,
  type Network,
  type StepResult,
  type Tensor,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { expectClose, runConformance } from '@bioprop/testing';
import { dfaDefaults, dfaEntry, directFeedbackAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const net = (units: number[], seed = 3, act = 'tanh', nIn = 12, nOut = 4): Network =>
  sequential({
    inputShape: [nIn],
    layers: [...units.map((u) => dense({ units: u, activation: act })), dense({ units: nOut, activation: 'linear' })],
    seed,
  });

function batch(seed: number, n: number, nIn: number, nOut: number): [Tensor, Tensor] {
  const s = randomSource(seed).stream('data');
  const x = tf.tensor(s.normalArray(n * nIn), [n, nIn]);
  const labels = Array.from({ length: n }, () => Math.floor(s.next() * nOut));
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), nOut), 'float32'));
  return [x, y];
}

/** Run `fn` on one step context built from a forward pass of `network` on (x, y). */
function withStep<T>(network: Network, x: Tensor, y: Tensor, fn: (ctx: ReturnType<typeof stepContext>) => T): T {
  return tf.tidy(() => {
    const trace = network.forward(x);
    const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
    return fn(ctx) as never;
  });
}

const copy = (r: StepResult) => ({
  signals: r.signals.map((s) => Array.from(s.dataSync())),
  grads: r.grads.map((g) => Object.fromEntries(Object.entries(g).map(([k, t]) => [k, Array.from(t.dataSync())]))),
});

describe('direct feedback alignment: options and state', () => {
  it('rejects unknown options and bad values with an OptionError', () => {
    expect(() => directFeedbackAlignment({ fusd: true } as never)).toThrow(/unknown option "fusd"/);
    expect(() => directFeedbackAlignment({ fused: 'yes' as never })).toThrow(OptionError);
    expect(() => directFeedbackAlignment({ feedbackInit: { normal: -2 } })).toThrow(OptionError);
  });

  it('stores D_l as layer{l}/directFeedback [n_L, prod(outputShape_l)] for hidden layers only, seeded', () => {
    const network = net([10, 8, 6]);
    const a = directFeedbackAlignment().bind(network, randomSource(4));
    const b = directFeedbackAlignment().bind(network, randomSource(4));
    expect(Object.keys(a.state())).toEqual(['layer0/directFeedback', 'layer1/directFeedback', 'layer2/directFeedback']);
    expect(a.state()['layer0/directFeedback'].shape).toEqual([4, 10]);
    expect(a.state()['layer2/directFeedback'].shape).toEqual([4, 6]);
    for (const k of Object.keys(a.state())) expect(Array.from(a.state()[k].dataSync())).toEqual(Array.from(b.state()[k].dataSync()));
    // fanInUniform: U[±1/√n_L]
    const d = dfaEntry.create({ feedbackInit: 'fanInUniform' }).bind(network, randomSource(4));
    expect(Math.max(...Array.from(d.state()['layer0/directFeedback'].dataSync()).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(4));
    [a, b, d].forEach((r) => r.dispose());
    network.dispose();
  });

  it('declares usesSignal: false and sends nothing down', () => {
    expect(directFeedbackAlignment().layerwise?.usesSignal).toBe(false);
    const network = net([10, 8]);
    const [x, y] = batch(1, 8, 12, 4);
    const rule = directFeedbackAlignment().layerwise!;
    const bound = directFeedbackAlignment().bind(network, randomSource(1));
    withStep(network, x, y, (ctx) => {
      const r = rule.stepLayer({ ...ctx, index: 1, layer: network.layers[1], layerTrace: ctx.trace.layers[1], signal: {}, state: { directFeedback: bound.state()['layer1/directFeedback'] }, needBelow: true });
      expect(r.below).toBeUndefined();
    });
    bound.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('direct feedback alignment: what it equals', () => {
  it('δ_l = reshape(e·D_l) ⊙ f′(a_l) at hidden layers, δ_L = e at the top, ∇W_l = h_{l−1}ᵀ δ_l', () => {
    const network = net([10, 8]);
    const [x, y] = batch(2, 16, 12, 4);
    const bound = directFeedbackAlignment().bind(network, randomSource(2));
    const state = bound.state();
    withStep(network, x, y, (ctx) => {
      const r = bound.step(ctx);
      const e = ctx.outputError;
      expectClose(r.signals[2], e, 0, 'δ_top');
      for (const l of [0, 1]) {
        const t = ctx.trace.layers[l];
        const want = tf.mul(tf.matMul(e, state[`layer${l}/directFeedback`]), tf.sub(1, tf.square(t.output)));
        expectClose(r.signals[l], want, 1e-6, `δ_${l}`);
        expectClose(r.grads[l].kernel, tf.matMul(tf.transpose(t.input), want), 1e-5, `∇W_${l}`);
      }
    });
    bound.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });

  it('with one hidden layer and D = B (D_1 = B_2ᵀ in storage) gives exactly feedback alignment’s updates', () => {
    const network = net([10]);
    const [x, y] = batch(3, 16, 12, 4);
    const dfa = directFeedbackAlignment().bind(network, randomSource(5));
    const fa = feedbackAlignment({ feedbackInit: { uniform: 0.5 } }).bind(network, randomSource(6));
    dfa.state()['layer0/directFeedback'].assign(tf.transpose(fa.state()['layer1/feedback']));
    withStep(network, x, y, (ctx) => {
      const a = dfa.step(ctx);
      const b = fa.step(ctx);
      for (const l of [0, 1]) {
        expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
        expectClose(a.grads[l].kernel, b.grads[l].kernel, 1e-6, `∇W_${l}`);
        expectClose(a.grads[l].bias, b.grads[l].bias, 1e-6, `∇b_${l}`);
      }
    });
    dfa.dispose();
    fa.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });

  it('hidden updates do not change when the upper layers’ forward weights are scrambled (backprop’s do)', () => {
    const network = net([10, 8, 6]);
    const [x, y] = batch(4, 16, 12, 4);
    const dfa = directFeedbackAlignment().bind(network, randomSource(7));
    const bp = backprop().bind(network, randomSource(7));
    withStep(network, x, y, (ctx) => {
      const before = copy(dfa.step(ctx));
      const bpBefore = copy(bp.step(ctx));
      // same trace and error; every kernel above layer 0 replaced by noise
      for (const l of [1, 2, 3]) {
        const k = network.layers[l].params.kernel;
        k.assign(tf.randomNormal(k.shape, 0, 1, 'float32', 100 + l));
      }
      const after = copy(dfa.step(ctx));
      const bpAfter = copy(bp.step(ctx));
      for (const l of [0, 1, 2]) {
        expect(after.signals[l]).toEqual(before.signals[l]);
        expect(after.grads[l].kernel).toEqual(before.grads[l].kernel);
      }
      expect(bpAfter.grads[0].kernel).not.toEqual(bpBefore.grads[0].kernel);
    });
    dfa.dispose();
    bp.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });

  it('the fused projection (one matmul against the concatenated D) equals one matmul per layer', () => {
    const network = net([10, 8, 6, 5]);
    const [x, y] = batch(5, 16, 12, 4);
    const fused = directFeedbackAlignment({ fused: true }).bind(network, randomSource(8));
    const plain = directFeedbackAlignment({ fused: false }).bind(network, randomSource(8));
    withStep(network, x, y, (ctx) => {
      const a = fused.step(ctx);
      const b = plain.step(ctx);
      for (let l = 0; l < 5; l++) {
        expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
        expectClose(a.grads[l].kernel, b.grads[l].kernel, 1e-6, `∇W_${l}`);
      }
    });
    // state loaded between steps is used at the next step (the cache never serves stale projections)
    const other = directFeedbackAlignment({ fused: false }).bind(network, randomSource(9));
    fused.loadState(other.state());
    plain.loadState(other.state());
    withStep(network, x, y, (ctx) => {
      const a = fused.step(ctx);
      const b = plain.step(ctx);
      const c = other.step(ctx);
      for (let l = 0; l < 4; l++) {
        expectClose(a.signals[l], c.signals[l], 1e-6, `δ_${l} after loadState`);
        expectClose(b.signals[l], c.signals[l], 1e-6, `δ_${l} after loadState`);
      }
    });
    [fused, plain, other].forEach((r) => r.dispose());
    network.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('direct feedback alignment: composition', () => {
  it('under a backprop top layer, its hidden layers still read the output error (backprop sends nothing down)', () => {
    const network = net([10, 8]);
    const [x, y] = batch(6, 16, 12, 4);
    const mixed = perLayer({ default: directFeedbackAlignment(), layers: { 2: backprop() } }).bind(network, randomSource(3));
    const pure = directFeedbackAlignment().bind(network, randomSource(3));
    withStep(network, x, y, (ctx) => {
      const a = mixed.step(ctx);
      const b = pure.step(ctx);
      for (const l of [0, 1, 2]) expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
    });
    mixed.dispose();
    pure.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });

  it('a backprop layer below a DFA layer gets core’s clear error: DFA sends no teaching signal', () => {
    const network = net([10, 8]);
    const [x, y] = batch(7, 16, 12, 4);
    const mixed: BoundRule = perLayer([backprop(), directFeedbackAlignment(), directFeedbackAlignment()]).bind(network, randomSource(3));
    expect(() => withStep(network, x, y, (ctx) => mixed.step(ctx))).toThrow(RuleSupportError);
    expect(() => withStep(network, x, y, (ctx) => mixed.step(ctx))).toThrow(
      /rule "dfa" at layer 1 sends no teaching signal, but layer 0 uses rule "bp", which needs one/,
    );
    mixed.dispose();
    network.dispose();
    x.dispose();
    y.dispose();
  });

  it('exports a RuleEntry "dfa" whose create merges options over the tuned defaults', () => {
    expect(dfaEntry.id).toBe('dfa');
    expect(dfaEntry.defaults).toBe(dfaDefaults);
    const r = dfaEntry.create({ fused: true });
    expect(r.id).toBe('dfa');
    expect(r.options).toMatchObject({ ...(dfaDefaults.ruleOptions as object), fused: true });
  });

  it('leaks no tensor in a training step (fused and not)', () => {
    for (const fused of [true, false]) {
      const trainer = createTrainer({ network: net([10, 8, 6]), rule: directFeedbackAlignment({ fused }), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }) });
      const [x, y] = batch(1, 8, 12, 4);
      trainer.step(x, y);
      const n0 = tf.memory().numTensors;
      trainer.step(x, y);
      expect(tf.memory().numTensors).toBe(n0);
      trainer.dispose();
      trainer.network.dispose();
      x.dispose();
      y.dispose();
    }
  });
});

/** A network whose second layer has no kernel (an elementwise gain): what the rule must refuse. */
function kernellessNetwork(): Network {
  const first = dense({ units: 16, activation: 'tanh' }).build([20], { index: 0, random: randomSource(1).stream('init'), defaultName: 'dense_1' });
  const gain = tf.tidy(() => tf.variable(tf.ones([16])));
  const odd: Layer = {
    kind: 'gain',
    name: 'gain_1',
    inputShape: [16],
    outputShape: [16],
    activation: first.activation,
    params: { gain },
    kernelName: 'kernel',
    fan: { fanIn: 1, fanOut: 1 },
    linear: (x) => tf.mul(x, gain),
    backwardInput: (d) => tf.mul(d, gain),
    paramGrads: (x, d) => ({ gain: tf.sum(tf.mul(x, d), 0) }),
    config: () => ({ kind: 'gain', name: 'gain_1', inputShape: [16], activation: 'tanh' }),
  };
  return new SequentialNetwork([first, odd]);
}

runConformance({ name: 'direct feedback alignment', createRule: () => directFeedbackAlignment(), unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ } });
runConformance({ name: 'direct feedback alignment (fused projection)', createRule: () => directFeedbackAlignment({ fused: true }), unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ } });
runConformance({ name: 'direct feedback alignment (entry defaults, MSE regression)', createRule: () => dfaEntry.create(), loss: 'mse', unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ } });
