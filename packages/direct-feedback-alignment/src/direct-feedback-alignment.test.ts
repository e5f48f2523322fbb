import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  RuleSupportError,
  createTrainer,
  deltaFromSignal,
  dense,
  fanInUniformInit,
  layerwise,
  perLayer,
  randomSource,
  resolveBackend,
  residual,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  uniformInit,
  type BoundRule,
  type KernelModule,
  type LayerSpec,
  type Network,
  type Rule,
  type StepResult,
  type Tensor,
  type TensorMap,
  type VariableMap,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { expectClose, runConformance } from '@bioprop/testing';
import {
  DIRECT_FEEDBACK_KEY,
  dfaDefaults,
  dfaEntry,
  directFeedbackAlignment,
  directFeedbackAlignmentOptions,
  directFeedbackAlignmentRule,
  rules,
} from './index.js';

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

const key = (l: number) => `layer${l}/${DIRECT_FEEDBACK_KEY}`;

/**
 * Feedback alignment written here from core's pieces (this package does not depend on its feedback-alignment
 * sibling): `δ_l` from the signal, `backwardInput(δ_l, B_l)` sent down, `B_l` drawn `U[±0.5]` from the layer's stream.
 */
function inlineFeedbackAlignment(): Rule {
  return layerwise({
    id: 'fa-inline',
    name: 'feedback alignment (test copy)',
    options: {},
    usesSignal: true,
    init({ layer, index, random }) {
      if (index === 0) return {};
      const kernel = layer.params[layer.kernelName];
      return { tensors: { B: uniformInit(0.5).init(kernel.shape, layer.fan, random) } };
    },
    step(ctx) {
      const delta = deltaFromSignal(ctx);
      const { layer, layerTrace } = ctx;
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, ctx.state.tensors.B) } : undefined,
      };
    },
  });
}

describe('direct feedback alignment: options and state', () => {
  it('rejects unknown options and bad values with an OptionError', () => {
    expect(() => directFeedbackAlignment({ fusd: true } as never)).toThrow(/unknown option "fusd" \(known: feedbackInit\)/);
    expect(() => directFeedbackAlignment({ fused: true } as never)).toThrow(/unknown option "fused"/);
    expect(() => directFeedbackAlignment({ feedbackInit: { normal: -2 } })).toThrow(OptionError);
    expect(() => directFeedbackAlignment({ feedbackInit: 'orthogonal' as never })).toThrow(OptionError);
  });

  it('stores D_l as layer{l}/D [n_L, prod(blockOutputShape_l)] for hidden layers only, fixed, from the layer’s own stream', () => {
    const network = net([10, 8, 6]);
    const a = directFeedbackAlignment().bind(network, randomSource(4));
    const b = directFeedbackAlignment().bind(network, randomSource(4));
    expect(Object.keys(a.state())).toEqual([key(0), key(1), key(2)]);
    expect(a.state()[key(0)].shape).toEqual([4, 10]);
    expect(a.state()[key(2)].shape).toEqual([4, 6]);
    for (const k of Object.keys(a.state())) expect(Array.from(a.state()[k].dataSync())).toEqual(Array.from(b.state()[k].dataSync()));
    // D is not learned: update noise on the backward side has nothing to perturb
    expect(a.learned()).toEqual([]);
    // each D is drawn from its layer's stream rule/dfa/layer{l}, so it does not depend on the other layers
    for (const l of [0, 1, 2]) {
      const n = network.layers[l].blockOutputShape[0];
      const want = fanInUniformInit().init([4, n], { fanIn: 4, fanOut: n }, randomSource(4).stream(`rule/dfa/layer${l}`));
      expectClose(a.state()[key(l)], want, 0, `D_${l}`);
      want.dispose();
    }
    // fanInUniform: U[±1/√n_L]
    const d = dfaEntry.create({ feedbackInit: 'fanInUniform' }).bind(network, randomSource(4));
    expect(Math.max(...Array.from(d.state()[key(0)].dataSync()).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(4));
    [a, b, d].forEach((r) => r.dispose());
    network.dispose();
  });

  it('declares usesSignal: false and sends nothing down, even when asked', () => {
    const rule = directFeedbackAlignment().layerRule!;
    expect(rule.usesSignal).toBe(false);
    expect(rule.graphs).toBe('any');
    const network = net([10, 8]);
    const [x, y] = batch(1, 8, 12, 4);
    const bound = directFeedbackAlignment().bind(network, randomSource(1));
    withStep(network, x, y, (ctx) => {
      const layer = network.layers[1];
      const state = { tensors: { D: bound.state()[key(1)] } as VariableMap, learned: [], optimizers: {}, meta: null };
      const r = rule.step({
        ...ctx,
        index: 1,
        layer,
        layerTrace: ctx.trace.layers[1],
        signal: {},
        state,
        states: [state, state, state],
        needBelow: true,
        random: randomSource(1).stream('rule/dfa/layer1'),
        blockVjp: (g) => layer.blockVjp(ctx.trace, g).delta,
      });
      expect(r.below).toBeUndefined();
    });
    bound.dispose();
    network.dispose();
    tf.dispose([x, y]);
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
        const want = tf.mul(tf.matMul(e, state[key(l)]), tf.sub(1, tf.square(t.output)));
        expectClose(r.signals[l], want, 1e-6, `δ_${l}`);
        expectClose(r.grads[l].kernel, tf.matMul(tf.transpose(t.input), want), 1e-5, `∇W_${l}`);
      }
    });
    bound.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });

  it('with one hidden layer and D = B (D_1 = B_2ᵀ in storage) gives exactly feedback alignment’s updates', () => {
    const network = net([10]);
    const [x, y] = batch(3, 16, 12, 4);
    const dfa = directFeedbackAlignment().bind(network, randomSource(5));
    const fa = inlineFeedbackAlignment().bind(network, randomSource(6));
    tf.tidy(() => dfa.state()[key(0)].assign(tf.transpose(fa.state()['layer1/B'])));
    withStep(network, x, y, (ctx) => {
      const a = dfa.step(ctx);
      const b = fa.step(ctx);
      for (const l of [0, 1]) {
        expectClose(a.signals[l], b.signals[l], 1e-6, `δ_${l}`);
        expectClose(a.grads[l].kernel, b.grads[l].kernel, 1e-6, `∇W_${l}`);
        expectClose(a.grads[l].bias, b.grads[l].bias, 1e-6, `∇b_${l}`);
      }
      // and DFA reports that B as the output layer's feedback weights
      expectClose(dfa.feedbackWeights(1)!, fa.state()['layer1/B'], 0, 'feedbackWeights(1)');
    });
    dfa.dispose();
    fa.dispose();
    network.dispose();
    tf.dispose([x, y]);
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
    tf.dispose([x, y]);
  });
});

describe('direct feedback alignment: feedback weights (diagnostics’ capability)', () => {
  it('the output kernel’s effective B is D_{L−2}ᵀ in its layout: e·D_{L−2} = backwardInput(e, B); null elsewhere', () => {
    const network = net([10, 8]);
    const [x, y] = batch(8, 16, 12, 4);
    const bound = directFeedbackAlignment().bind(network, randomSource(3));
    withStep(network, x, y, (ctx) => {
      expect(bound.feedbackWeights(0)).toBeNull();
      expect(bound.feedbackWeights(1)).toBeNull();
      const B = bound.feedbackWeights(2)!;
      const top = network.layers[2];
      expect(B.shape).toEqual(top.params.kernel.shape);
      expectClose(B, tf.transpose(bound.state()[key(1)]), 0, 'B');
      // what that means: layer 1's δ is what feedback alignment through B would send it
      const r = bound.step(ctx);
      const want = network.layers[1].blockVjp(ctx.trace, top.backwardInput(ctx.outputError, B)).delta;
      expectClose(r.signals[1], want, 1e-6, 'δ_1');
    });
    bound.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });

  it('is null when two kernels’ blocks end at the output kernel’s input (each has its own D)', () => {
    // body and projection shortcut both end at the add that feeds the output layer
    const network = sequential({
      inputShape: [6],
      layers: [dense({ units: 5, activation: 'tanh' }), residual({ body: [dense({ units: 4 })], shortcut: [dense({ units: 4 })] }), dense({ units: 3 })],
      seed: 2,
    });
    const bound = directFeedbackAlignment().bind(network, randomSource(3));
    expect(network.outputLayer).toBe(3);
    expect(network.layers[1].blockOutputShape).toEqual([4]);
    expect(network.layers[2].blockOutputShape).toEqual([4]);
    expect(bound.state()[key(1)].shape).toEqual([3, 4]);
    expect(bound.state()[key(2)].shape).toEqual([3, 4]);
    for (let l = 0; l < 4; l++) expect(bound.feedbackWeights(l)).toBeNull();
    bound.dispose();
    network.dispose();
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
    tf.dispose([x, y]);
  });

  it('a backprop layer below a DFA layer gets core’s clear error: DFA sends no teaching signal', () => {
    const network = net([10, 8]);
    const [x, y] = batch(7, 16, 12, 4);
    const mixed: BoundRule = perLayer([backprop(), directFeedbackAlignment(), directFeedbackAlignment()]).bind(network, randomSource(3));
    expect(() => withStep(network, x, y, (ctx) => mixed.step(ctx))).toThrow(RuleSupportError);
    expect(() => withStep(network, x, y, (ctx) => mixed.step(ctx))).toThrow(
      /rule "dfa" at layer 1 \(dense_2\) sends no teaching signal, but the layers below need one/,
    );
    mixed.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });

  it('exports a RuleEntry "dfa" for any graph, whose create validates options against one schema and fills the tuned defaults', () => {
    expect(dfaEntry.id).toBe('dfa');
    expect(dfaEntry.graphs).toBe('any');
    expect(dfaEntry.defaults).toBe(dfaDefaults);
    expect(rules).toEqual([dfaEntry]);
    expect(dfaEntry.create().options).toEqual({ feedbackInit: 'fanInUniform' });
    const r = dfaEntry.create({ feedbackInit: { uniform: 0.1 } });
    expect(r.id).toBe('dfa');
    expect(r.options).toEqual({ feedbackInit: { uniform: 0.1 } });
    // the factory and the entry are one path: the same options, the same errors
    expect(directFeedbackAlignment({ feedbackInit: { uniform: 0.1 } }).options).toEqual(r.options);
    expect(directFeedbackAlignment().options).toEqual(dfaEntry.create().options);
    expect(directFeedbackAlignmentRule(directFeedbackAlignmentOptions.parse({}, 'dfa')).options).toEqual(dfaEntry.create().options);
    expect(() => dfaEntry.create({ feedbackInt: 'glorot' })).toThrow(/dfa: unknown option "feedbackInt" \(known: feedbackInit\)/);
    expect(() => directFeedbackAlignmentOptions.parse({ fused: true }, 'dfa')).toThrow(/dfa: unknown option "fused"/);
    expect(() => dfaEntry.create({ feedbackInit: 'xavier' })).toThrow(/dfa\.feedbackInit must be one of 'glorot', 'fanInUniform'/);
    // the JSON Schema carries the tuned default and the description
    expect(dfaEntry.options.toJSONSchema()).toMatchObject({
      type: 'object',
      additionalProperties: false,
      properties: { feedbackInit: { default: 'fanInUniform', description: expect.stringContaining('D_l') } },
    });
    expect(dfaEntry.options.toJSONSchema().required).toBeUndefined();
  });

  it('leaks no tensor in a training step', () => {
    const trainer = createTrainer({ network: net([10, 8, 6]), rule: directFeedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }) });
    const [x, y] = batch(1, 8, 12, 4);
    trainer.step(x, y);
    const n0 = tf.memory().numTensors;
    trainer.step(x, y);
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
    trainer.network.dispose();
    tf.dispose([x, y]);
  });
});

/** An elementwise gain declared as a kernel module whose `kernelName` names no parameter: what the rule must refuse. */
class Gain implements KernelModule {
  readonly kind = 'gain';
  readonly kernelName = 'kernel';
  readonly fan = { fanIn: 1, fanOut: 1 };
  readonly buffers: VariableMap = {};
  readonly params: VariableMap;
  readonly inputShapes: readonly (readonly number[])[];

  constructor(
    readonly name: string,
    readonly outputShape: readonly number[],
  ) {
    this.inputShapes = [outputShape];
    this.params = { gain: tf.tidy(() => tf.variable(tf.ones([...outputShape]), true, undefined, 'float32')) };
  }
  linear(x: Tensor, params?: TensorMap): Tensor {
    return tf.mul(x, params?.gain ?? this.params.gain);
  }
  forward(inputs: readonly Tensor[]) {
    return { inputs, output: this.linear(inputs[0]) };
  }
  replay(inputs: readonly Tensor[]): Tensor {
    return this.linear(inputs[0]);
  }
  vjp(grad: Tensor, trace: { inputs: readonly Tensor[] }) {
    return { inputs: [this.backwardInput(grad)], params: this.paramGrads(trace.inputs[0], grad) };
  }
  backwardInput(delta: Tensor): Tensor {
    return tf.mul(delta, this.params.gain);
  }
  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    return { gain: tf.sum(tf.mul(input, delta), 0) };
  }
  config() {
    return { kind: 'gain' };
  }
}

const gain = (): LayerSpec => ({
  kind: 'gain',
  build: (builder, input) => builder.add('gain', [input], (ctx) => new Gain(ctx.name, ctx.inputShapes[0])),
  config: () => ({ kind: 'gain' }),
});

const kernellessNetwork = (): Network =>
  sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), gain(), dense({ units: 5 })], seed: 1 });

const unsupported = { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ };

runConformance({ name: 'direct feedback alignment', createRule: () => directFeedbackAlignment(), unsupported });
runConformance({ name: 'direct feedback alignment (entry defaults, MSE regression)', createRule: () => dfaEntry.create(), loss: 'mse', unsupported });
