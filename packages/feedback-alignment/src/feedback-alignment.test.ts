import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  KernelModuleBase,
  OptionError,
  RuleSupportError,
  createTrainer,
  dense,
  glorotInit,
  momentum,
  perLayer,
  randomSource,
  resolveBackend,
  resolveInitializer,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  withUpdateNoise,
  type KernelModule,
  type LayerSpec,
  type ModuleConfig,
  type Network,
  type Rule,
  type Tensor,
  type TensorMap,
  type Trainer,
  type VariableMap,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { expectClose, runConformance } from '@bioprop/testing';
import { FEEDBACK_KEY, FORWARD_MASK_KEY, faDefaults, faEntry, feedbackAlignment, feedbackAlignmentOptions, feedbackAlignmentRule, rules, sparseMask } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const smallNet = (seed = 3, act = 'tanh'): Network =>
  sequential({
    inputShape: [12],
    layers: [dense({ units: 10, activation: act }), dense({ units: 8, activation: act }), dense({ units: 4, activation: 'linear' })],
    seed,
  });

function batch(seed: number, n: number, nIn: number, nOut: number): [tf.Tensor, tf.Tensor] {
  const s = randomSource(seed).stream('data');
  const x = tf.tensor(s.normalArray(n * nIn), [n, nIn]);
  const labels = Array.from({ length: n }, () => Math.floor(s.next() * nOut));
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), nOut), 'float32'));
  return [x, y];
}

/** Assign `B_l := kernel_l` for every layer that has feedback. */
function syncFeedback(trainer: Trainer): void {
  const state = trainer.boundRule.state();
  trainer.network.layers.forEach((layer, l) => {
    const b = state[`layer${l}/${FEEDBACK_KEY}`];
    if (b) b.assign(layer.params.kernel);
  });
}

describe('feedback alignment: options', () => {
  it('rejects unknown options and bad values with an OptionError', () => {
    expect(() => feedbackAlignment({ feedbakInit: 'glorot' } as never)).toThrow(/unknown option "feedbakInit"/);
    expect(() => feedbackAlignment({ feedbackSparsity: 1.5 })).toThrow(OptionError);
    expect(() => feedbackAlignment({ forwardSparsity: -0.1 })).toThrow(OptionError);
    expect(() => feedbackAlignment({ feedbackInit: { uniform: -1 } })).toThrow(OptionError);
    expect(() => feedbackAlignment({ feedbackInit: 'xavier' as never })).toThrow(/feedbackInit must be/);
  });

  it('refuses a layer without a kernel, naming it', () => {
    const net = kernellessNetwork();
    expect(() => feedbackAlignment().check(net)).toThrow(RuleSupportError);
    expect(() => feedbackAlignment().check(net)).toThrow(/layer 1 \(gain_1, gain\) has no kernel "kernel"/);
    net.dispose();
  });

  it('is one layer rule for any graph, and the entry says so', () => {
    const rule = feedbackAlignment();
    expect(rule.layerRule?.id).toBe('fa');
    expect(rule.layerRule?.graphs).toBe('any');
    expect(feedbackAlignmentRule(feedbackAlignmentOptions.parse({}, 'fa')).graphs).toBe('any');
    expect(faEntry.graphs).toBe('any');
  });
});

describe('feedback alignment: feedback weights', () => {
  it('stores B_l under layer{l}/B in the kernel layout, none for layer 0, drawn from the layer’s own stream', () => {
    const net = smallNet();
    const a = feedbackAlignment({ feedbackInit: { uniform: 0.5 } }).bind(net, randomSource(11));
    const b = feedbackAlignment({ feedbackInit: { uniform: 0.5 } }).bind(net, randomSource(11));
    const c = feedbackAlignment({ feedbackInit: { uniform: 0.5 } }).bind(net, randomSource(12));
    expect(Object.keys(a.state()).sort()).toEqual([`layer1/${FEEDBACK_KEY}`, `layer2/${FEEDBACK_KEY}`]);
    for (const [k, v] of Object.entries(a.state())) {
      const l = Number(k.slice(5, 6));
      expect(v.shape).toEqual(net.layers[l].params.kernel.shape);
      expect(Array.from(v.dataSync())).toEqual(Array.from(b.state()[k].dataSync()));
      expect(Array.from(v.dataSync())).not.toEqual(Array.from(c.state()[k].dataSync()));
      // the first draw of the stream core gives layer l's rule: `rule/fa/layer{l}`
      const layer = net.layers[l];
      const want = resolveInitializer({ uniform: 0.5 }, glorotInit()).init(layer.params.kernel.shape, layer.fan, randomSource(11).stream(`rule/fa/layer${l}`));
      expect(Array.from(v.dataSync())).toEqual(Array.from(want.dataSync()));
      want.dispose();
    }
    [a, b, c].forEach((r) => r.dispose());
    net.dispose();
  });

  it('feedbackWeights(l) is B_l for every layer l ≥ 1 and null at layer 0', () => {
    const net = smallNet();
    const bound = feedbackAlignment({ feedbackSparsity: 0.5, forwardSparsity: 0.5 }).bind(net, randomSource(3));
    const state = bound.state();
    expect(bound.feedbackWeights(0)).toBeNull();
    for (let l = 1; l < net.layers.length; l++) {
      const B = bound.feedbackWeights(l)!;
      expect(B).toBe(state[`layer${l}/${FEEDBACK_KEY}`]);
      expect(B.shape).toEqual(net.layers[l].params.kernel.shape);
    }
    bound.dispose();
    net.dispose();
  });

  it('B and the forward mask are fixed: not in learned(), and backward update noise leaves them bit-for-bit alone', () => {
    const net = smallNet(2);
    const options = { feedbackSparsity: 0.5, forwardSparsity: 0.5 };
    const bound = feedbackAlignment(options).bind(net, randomSource(3));
    expect(Object.keys(bound.state()).sort()).toEqual(['layer0/forwardMask', 'layer1/B', 'layer1/forwardMask', 'layer2/B', 'layer2/forwardMask']);
    expect(bound.learned()).toEqual([]);
    bound.dispose();
    net.dispose();
    const trainer = createTrainer({
      network: smallNet(2),
      rule: withUpdateNoise(feedbackAlignment(options), { sigma: 0.1, on: 'both' }),
      loss: 'softmaxCrossEntropy',
      optimizer: sgd({ lr: 0.1 }),
      seed: 4,
    });
    expect(trainer.boundRule.learned()).toEqual([]);
    const before = Object.fromEntries(Object.entries(trainer.boundRule.state()).map(([k, v]) => [k, Array.from(v.dataSync())]));
    const kernelBefore = Array.from(trainer.network.layers[1].params.kernel.dataSync());
    const [x, y] = batch(2, 8, 12, 4);
    for (let i = 0; i < 3; i++) trainer.step(x, y);
    // the forward weights moved (and took the noise), the rule state did not
    expect(Array.from(trainer.network.layers[1].params.kernel.dataSync())).not.toEqual(kernelBefore);
    for (const [k, v] of Object.entries(trainer.boundRule.state())) expect(Array.from(v.dataSync()), k).toEqual(before[k]);
    trainer.dispose();
    trainer.network.dispose();
    tf.dispose([x, y]);
  });

  it('draws uniform ±β, normal σ and Glorot-scaled feedback as asked', () => {
    const net = sequential({ inputShape: [200], layers: [dense({ units: 150, activation: 'tanh' }), dense({ units: 100 })], seed: 1 });
    const draw = (feedbackInit: never) => {
      const r = feedbackAlignment({ feedbackInit }).bind(net, randomSource(5));
      const v = Array.from(r.state()[`layer1/${FEEDBACK_KEY}`].dataSync());
      r.dispose();
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      return { max: Math.max(...v.map(Math.abs)), std };
    };
    const u = draw({ uniform: 0.5 } as never);
    expect(u.max).toBeLessThanOrEqual(0.5);
    expect(u.max).toBeGreaterThan(0.49);
    expect(u.std).toBeCloseTo(0.5 / Math.sqrt(3), 2);
    const n = draw({ normal: 0.2 } as never);
    expect(n.std).toBeCloseTo(0.2, 2);
    const g = draw('glorot' as never);
    const limit = Math.sqrt(6 / (150 + 100));
    expect(g.max).toBeLessThanOrEqual(limit);
    expect(g.std).toBeCloseTo(limit / Math.sqrt(3), 2);
    net.dispose();
  });

  it('sparse feedback zeroes exactly round(fraction · size) entries of B', () => {
    const net = smallNet();
    const r = feedbackAlignment({ feedbackSparsity: 0.5 }).bind(net, randomSource(2));
    const b = r.state()[`layer1/${FEEDBACK_KEY}`].dataSync();
    expect(Array.from(b).filter((v) => v === 0).length).toBe(Math.round(0.5 * b.length));
    r.dispose();
    net.dispose();
    const m = sparseMask([7, 9], 0.25, randomSource(1).stream('m'));
    expect(Array.from(m.dataSync()).filter((v) => v === 0).length).toBe(Math.round(0.25 * 63));
    m.dispose();
  });
});

describe('feedback alignment: reduction to backprop', () => {
  it('with B = Wᵀ (kept in sync: B := kernel) gives exactly backprop’s signals and updates', () => {
    const net = smallNet(4);
    const [x, y] = batch(1, 16, 12, 4);
    const fa = feedbackAlignment().bind(net, randomSource(9));
    const bp = backprop().bind(net, randomSource(9));
    const state = fa.state();
    net.layers.forEach((layer, l) => state[`layer${l}/${FEEDBACK_KEY}`]?.assign(layer.params.kernel));
    tf.tidy(() => {
      const trace = net.forward(x);
      const ctx = stepContext({ network: net, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
      const a = fa.step(ctx);
      const b = bp.step(ctx);
      net.layers.forEach((_, l) => {
        expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
        expectClose(a.grads[l].kernel, b.grads[l].kernel, 1e-6, `∇kernel_${l}`);
        expectClose(a.grads[l].bias, b.grads[l].bias, 1e-6, `∇bias_${l}`);
      });
    });
    fa.dispose();
    bp.dispose();
    x.dispose();
    y.dispose();
    net.dispose();
  });

  it('trained with B := kernel before every step, follows backprop’s weights over 5 momentum steps', () => {
    const make = (rule: Rule) => createTrainer({ network: smallNet(6), rule, loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.1, momentum: 0.9 }), seed: 2 });
    const fa = make(feedbackAlignment());
    const bp = make(backprop());
    const [x, y] = batch(3, 32, 12, 4);
    for (let i = 0; i < 5; i++) {
      syncFeedback(fa);
      fa.step(x, y);
      bp.step(x, y);
    }
    fa.network.layers.forEach((layer, l) => expectClose(layer.params.kernel, bp.network.layers[l].params.kernel, 1e-5, `kernel_${l}`));
    [fa, bp].forEach((t) => {
      t.dispose();
      t.network.dispose();
    });
    x.dispose();
    y.dispose();
  });

  it('composes per layer: a backprop top layer sends Wᵀδ, so the FA layer below gets backprop’s δ', () => {
    const net = smallNet(8);
    const [x, y] = batch(4, 16, 12, 4);
    const mixed = perLayer({ default: feedbackAlignment(), layers: { 2: backprop() } }).bind(net, randomSource(1));
    const bp = backprop().bind(net, randomSource(1));
    expect(Object.keys(mixed.state())).toEqual([`layer1/${FEEDBACK_KEY}`]);
    tf.tidy(() => {
      const trace = net.forward(x);
      const ctx = stepContext({ network: net, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
      const a = mixed.step(ctx);
      const b = bp.step(ctx);
      expectClose(a.signals[1], b.signals[1], 1e-6, 'δ_1');
      // layer 1 is FA: it sends B_1ᵀδ_1, so layer 0 no longer gets backprop's signal
      expect(tf.sum(tf.abs(tf.sub(a.signals[0], b.signals[0]))).dataSync()[0]).toBeGreaterThan(1e-4);
    });
    mixed.dispose();
    bp.dispose();
    x.dispose();
    y.dispose();
    net.dispose();
  });
});

describe('feedback alignment: sparse forward weights', () => {
  it('zeroes a fraction of W at bind, keeps it zero through momentum, weight decay and decoupled decay, and saves the mask', () => {
    const net = smallNet(5);
    const trainer = createTrainer({
      network: net,
      rule: feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 }),
      loss: 'softmaxCrossEntropy',
      optimizer: momentum({ lr: 0.1, momentum: 0.9, weightDecay: 1e-3, decoupledDecay: 1e-3 }),
      seed: 3,
    });
    const state = trainer.boundRule.state();
    const zerosOf = (l: number) => {
      const k = net.layers[l].params.kernel.dataSync();
      const m = state[`layer${l}/${FORWARD_MASK_KEY}`].dataSync();
      return { kernelZeros: Array.from(k).filter((v) => v === 0).length, maskZeros: Array.from(m).filter((v) => v === 0).length, all: m.every((v, i) => v === 1 || k[i] === 0) };
    };
    for (let l = 0; l < 3; l++) {
      const z = zerosOf(l);
      expect(z.maskZeros).toBe(Math.round(0.5 * net.layers[l].params.kernel.size));
      expect(z.all).toBe(true);
    }
    const [x, y] = batch(5, 16, 12, 4);
    const before = net.layers[0].params.kernel.dataSync().slice();
    for (let i = 0; i < 4; i++) trainer.step(x, y);
    expect(Array.from(net.layers[0].params.kernel.dataSync())).not.toEqual(Array.from(before));
    for (let l = 0; l < 3; l++) expect(zerosOf(l).all).toBe(true);
    // the mask is rule state: a fresh binding with another seed takes it back from `state()`
    const other = feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 }).bind(smallNet(5), randomSource(99));
    expect(Array.from(other.state()['layer0/forwardMask'].dataSync())).not.toEqual(Array.from(state['layer0/forwardMask'].dataSync()));
    other.loadState(state);
    for (const k of Object.keys(state)) expect(Array.from(other.state()[k].dataSync())).toEqual(Array.from(state[k].dataSync()));
    other.dispose();
    trainer.dispose();
    net.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('feedback alignment: learning', () => {
  it('leaks no tensor in a training step', () => {
    const trainer = createTrainer({ network: smallNet(), rule: feedbackAlignment({ forwardSparsity: 0.3 }), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }) });
    const [x, y] = batch(1, 8, 12, 4);
    trainer.step(x, y);
    const n0 = tf.memory().numTensors;
    trainer.step(x, y);
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
    trainer.network.dispose();
    x.dispose();
    y.dispose();
  });

  it('exports a RuleEntry "fa" whose create validates options against one schema and fills the tuned defaults', () => {
    expect(faEntry.id).toBe('fa');
    expect(faEntry.defaults).toBe(faDefaults);
    expect(faEntry.supports).toContain('dense');
    expect(faEntry.graphs).toBe('any');
    expect(rules).toEqual([faEntry]);
    const r = faEntry.create({ feedbackSparsity: 0.25 });
    expect(r.id).toBe('fa');
    expect(r.options).toEqual({ feedbackInit: { uniform: 0.5 }, feedbackSparsity: 0.25, forwardSparsity: 0 });
    // the factory and the entry are one path: the same options, the same errors
    expect(feedbackAlignment({ feedbackSparsity: 0.25 }).options).toEqual(r.options);
    expect(() => feedbackAlignment({ feedbackSparsty: 0.25 } as never)).toThrow(/fa: unknown option "feedbackSparsty" \(known: feedbackInit, feedbackSparsity, forwardSparsity\)/);
    expect(() => faEntry.create({ feedbackInit: 'xavier' })).toThrow(OptionError);
    expect(faEntry.options.toJSONSchema()).toMatchObject({ type: 'object', additionalProperties: false, properties: { feedbackSparsity: { minimum: 0, maximum: 1, default: 0 } } });
  });
});

/** An elementwise gain as a kernel module whose params hold no `kernel`: what the rule must refuse. */
class Gain extends KernelModuleBase implements KernelModule {
  readonly kind = 'gain';
  readonly kernelName = 'kernel';
  readonly params: VariableMap;
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: readonly number[];
  readonly fan = { fanIn: 1, fanOut: 1 };

  constructor(
    readonly name: string,
    shape: readonly number[],
  ) {
    super();
    this.inputShapes = [shape];
    this.outputShape = shape;
    this.params = { gain: tf.variable(tf.ones([...shape]), true, undefined, 'float32') };
  }
  linear(x: Tensor, params?: TensorMap): Tensor {
    return tf.mul(x, params?.gain ?? this.params.gain);
  }
  backwardInput(delta: Tensor, gain: Tensor): Tensor {
    return tf.mul(delta, gain);
  }
  paramGrads(x: Tensor, delta: Tensor): TensorMap {
    return { gain: tf.sum(tf.mul(x, delta), 0) };
  }
  config(): ModuleConfig {
    return { kind: 'gain', name: this.name };
  }
}

const gain = (): LayerSpec => ({
  kind: 'gain',
  build: (builder, input) => builder.add('gain', [input], (ctx) => new Gain(ctx.name, ctx.inputShapes[0])),
  config: () => ({ kind: 'gain' }),
});

const KERNELLESS = /layer 1 \(gain_1, gain\) has no kernel "kernel"/;

/** A network whose second layer (`gain_1`) has no kernel. */
const kernellessNetwork = (): Network => sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), gain(), dense({ units: 5 })], seed: 1 });

runConformance({ name: 'feedback alignment', createRule: () => feedbackAlignment(), unsupported: { network: kernellessNetwork, match: KERNELLESS } });
runConformance({
  name: 'sparse feedback alignment (50% of W and B zeroed)',
  createRule: () => feedbackAlignment({ forwardSparsity: 0.5, feedbackSparsity: 0.5 }),
  unsupported: { network: kernellessNetwork, match: KERNELLESS },
});
runConformance({ name: 'feedback alignment (entry defaults, MSE regression)', createRule: () => faEntry.create(), loss: 'mse', unsupported: { network: kernellessNetwork, match: KERNELLESS } });
