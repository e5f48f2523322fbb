import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { backprop } from '@bioprop/backprop';
import {
  OptionError,
  perLayer,
  RuleSupportError,
  activation,
  avgPool2d,
  backpropSignals,
  batchNorm,
  bernoulli,
  conv2d,
  createTrainer,
  dense,
  dropout,
  flatten,
  layerStream,
  locallyConnected2d,
  maxPool2d,
  preset,
  randomSource,
  randomStream,
  resolveBackend,
  resolveLoss,
  sequential,
  sgd,
  stepContext,
  type ActivationLike,
  type KernelModule,
  type LayerSpec,
  type Network,
  type Rule,
  type StepContext,
  type StepResult,
  type Tensor,
} from '@bioprop/core';
import { relativeError } from '@bioprop/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeLra,
  feedbackKey,
  lraDiff,
  lraDiffDefaults,
  lraDiffEntry,
  lraDiffOptions,
  lraFdbk,
  lraFdbkDefaults,
  lraFdbkEntry,
  lraFdbkOptions,
  lraLayerRule,
  lraLoopRule,
  lraRule,
  rules,
  type LraComputation,
  type LraConfig,
  type LraCorrection,
  type LraFdbkOptions,
} from './index.js';
import { traceAt } from './algorithm.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

/** A variant's config with the tuned defaults (what `lraDiff(o)`/`lraFdbk(o)` run with). */
const tuned = (correction: LraCorrection, o: LraFdbkOptions = {}): LraConfig =>
  correction === 'diff' ? { correction, ...lraDiffOptions.parse(o, 'lra-diff') } : { correction, ...lraFdbkOptions.parse(o, 'lra-fdbk') };
/** The plain settings the algorithm tests start from (β 0.1, no c₁, fdbk's derivative below), overridden by `o`. */
const BASE = { k: 1, beta: 0.1, c1: null, outputLoss: 'task', settleTop: true, updateFrom: 'lastPass' } as const;
const resolved = (correction: LraCorrection, o: LraFdbkOptions = {}): LraConfig =>
  tuned(correction, correction === 'diff' ? { ...BASE, ...o } : { ...BASE, derivative: 'below', feedbackStd: 1, ...o });

function net(acts: ActivationLike[], sizes: number[], seed = 3, kernelInit?: 'zero' | { normal: number }): Network {
  return sequential({
    inputShape: [sizes[0]],
    layers: acts.map((activation, i) => dense({ units: sizes[i + 1], activation, kernelInit })),
    seed,
  });
}

/** A batch of Gaussian inputs with one-hot labels, and the step context of a forward pass on it. */
function batch(network: Network, n = 16, seed = 1): { x: Tensor; y: Tensor } {
  const s = randomStream(seed, 'batch');
  const nIn = network.inputShape[0];
  const nOut = network.outputShape[0];
  const labels = new Float32Array(n * nOut);
  for (let i = 0; i < n; i++) labels[i * nOut + Math.floor(s.next() * nOut)] = 1;
  return { x: tf.tensor2d(s.normalArray(n * nIn), [n, nIn]), y: tf.tensor2d(labels, [n, nOut]) };
}

function context(network: Network, x: Tensor, y: Tensor): StepContext {
  const trace = network.forward(x, { training: true, random: randomStream(9, 'forward') });
  return stepContext({ network, trace, target: y, loss: resolveLoss('softmaxCrossEntropy'), step: 0, epoch: 0, random: randomSource(0) });
}

const kernels = (network: Network) => network.layers.map((l) => l.params.kernel);

/** A kernel module with no kernel parameter (a parameter-free identity map): nothing for LRA to train there. */
function kernelless(): LayerSpec {
  return {
    kind: 'identity',
    build(builder, input) {
      return builder.add('identity', [input], (ctx): KernelModule => {
        const shape = ctx.inputShapes[0];
        return {
          kind: 'identity',
          name: ctx.name,
          inputShapes: [shape],
          outputShape: shape,
          params: {},
          buffers: {},
          kernelName: 'kernel',
          fan: { fanIn: 1, fanOut: 1 },
          linear: (x) => x,
          backwardInput: (d) => d,
          paramGrads: () => ({}),
          forward: (inputs) => ({ inputs, output: inputs[0] }),
          vjp: (g) => ({ inputs: [g] }),
          replay: (inputs) => inputs[0],
          config: () => ({ kind: 'identity' }),
        };
      });
    },
    config: () => ({ kind: 'identity' }),
  };
}

function maxRelDiff(a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.maximum(tf.max(tf.abs(b)), 1e-12)).dataSync()[0]);
}

/** Every tensor of a step result as plain arrays (grads, signals, block-parameter grads, metrics), by name. */
function resultValues(r: StepResult): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  r.grads.forEach((g, l) => {
    for (const [k, t] of Object.entries(g)) out[`grads/${l}/${k}`] = Array.from(t.dataSync());
  });
  r.signals.forEach((t, l) => (out[`signals/${l}`] = Array.from(t.dataSync())));
  for (const [m, g] of Object.entries(r.moduleGrads ?? {})) for (const [k, t] of Object.entries(g)) out[`moduleGrads/${m}/${k}`] = Array.from(t.dataSync());
  for (const [k, t] of Object.entries(r.metrics ?? {})) out[`metrics/${k}`] = Array.from(t.dataSync());
  return out;
}

/** Convolutions whose blocks pool (average after tanh, max after relu), then a linear output. */
const poolingChain = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      avgPool2d(2),
      conv2d({ filters: 4, kernelSize: 2, activation: 'relu' }),
      maxPool2d(2),
      flatten(),
      dense({ units: 5 }),
    ],
    seed,
  });

/** Every kind of block LRA crosses: batch norm, max and average pooling, dropout, Bernoulli units, flatten, an empty block. */
const blockZoo = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 2],
    layers: [
      conv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: false }),
      batchNorm(),
      activation('tanh'),
      maxPool2d(2),
      conv2d({ filters: 4, kernelSize: 2 }),
      activation(bernoulli()),
      avgPool2d({ poolSize: 2, strides: 1 }),
      dropout(0.25),
      flatten(),
      dense({ units: 6 }),
      dense({ units: 7, activation: 'softplus' }),
      batchNorm(),
      dense({ units: 4 }),
    ],
    seed,
  });

describe('options', () => {
  it('rejects unknown options and bad values with a clear error', () => {
    expect(() => lraFdbk({ betta: 0.1 } as never)).toThrow(/lra-fdbk: unknown option "betta"/);
    // fdbk's own keys are unknown to diff; the message lists what diff knows
    expect(() => lraDiff({ derivative: 'above' } as never)).toThrow(
      /lra-diff: unknown option "derivative" \(known: k, beta, c1, outputLoss, settleTop, updateFrom, metrics\)/,
    );
    expect(() => lraFdbk({ k: 0 })).toThrow(OptionError);
    expect(() => lraFdbk({ k: 1.5 })).toThrow(OptionError);
    expect(() => lraFdbk({ beta: -1 })).toThrow(OptionError);
    expect(() => lraFdbk({ beta: NaN })).toThrow(OptionError);
    expect(() => lraFdbk({ c1: 0 })).toThrow(OptionError);
    expect(() => lraFdbk({ derivative: 'middle' as never })).toThrow(/'above', 'below'/);
    expect(() => lraFdbk({ outputLoss: 'mse' as never })).toThrow(OptionError);
    expect(() => lraFdbk({ feedbackStd: 0 })).toThrow(OptionError);
    expect(lraFdbk({ c1: null }).options).toMatchObject({ c1: null });
  });

  it('exports entries with the ids the CLI lists, whose defaults build the rule', () => {
    expect(rules.map((e) => e.id)).toEqual(['lra-diff', 'lra-fdbk']);
    expect(rules).toEqual([lraDiffEntry, lraFdbkEntry]);
    expect(lraDiffEntry.defaults).toBe(lraDiffDefaults);
    expect(lraFdbkEntry.defaults).toBe(lraFdbkDefaults);
    for (const e of rules) {
      const rule = e.create();
      expect(rule.id).toBe(e.id);
      expect(rule.options).toEqual(e.options.parse({}, e.id));
      expect(e.create({ k: 3 }).options).toMatchObject({ k: 3 });
    }
  });

  it('each entry validates against its own schema, whose defaults are the tuned values', () => {
    const diff = { k: 1, beta: 0.3, c1: 1, outputLoss: 'task', settleTop: true, updateFrom: 'forward', metrics: false };
    const fdbk = { k: 1, beta: 0.1, c1: 0.3, outputLoss: 'task', settleTop: true, updateFrom: 'forward', metrics: false, derivative: 'above', feedbackStd: 1 };
    expect(lraDiffEntry.create().options).toEqual(diff);
    expect(lraFdbkEntry.create().options).toEqual(fdbk);
    // the factory and the entry are one path: the same options (K = 1 layer-wise and K > 1 loop alike), the same errors
    for (const o of [{}, { beta: 0.05, c1: null }, { k: 3, updateFrom: 'lastPass' as const }]) {
      expect(lraDiff(o).options).toEqual(lraDiffEntry.create(o).options);
      expect(lraDiff(o).options).toEqual({ ...diff, ...o });
    }
    for (const o of [{}, { derivative: 'below' as const, feedbackStd: 0.2 }, { k: 2, metrics: true }]) {
      expect(lraFdbk(o).options).toEqual(lraFdbkEntry.create(o).options);
      expect(lraFdbk(o).options).toEqual({ ...fdbk, ...o });
    }
    expect(lraRule(tuned('diff')).options).toEqual(diff);
    expect(lraRule(tuned('fdbk', { k: 4 })).options).toEqual({ ...fdbk, k: 4 });
    expect(() => lraDiffEntry.create({ feedbackStd: 1 })).toThrow(/lra-diff: unknown option "feedbackStd"/);
    expect(() => lraFdbkEntry.create({ settle: true })).toThrow(/lra-fdbk: unknown option "settle" \(known: k, beta, c1, outputLoss, settleTop, updateFrom, metrics, derivative, feedbackStd\)/);
    expect(() => lraFdbkOptions.parse({ K: 2 }, 'lra-fdbk')).toThrow(/unknown option "K"/);
    expect(() => lraDiffEntry.create({ k: 1001 })).toThrow(/lra-diff\.k must be an integer ≥ 1 ≤ 1000, got 1001/);
    expect(() => lraFdbkEntry.create({ c1: -1 })).toThrow(/lra-fdbk\.c1 must be a number > 0 or null/);
    // the JSON Schemas carry each variant's tuned defaults and a description of every option
    const props = (e: (typeof rules)[number]) => e.options.toJSONSchema().properties as Record<string, Record<string, unknown>>;
    for (const [e, want] of [[lraDiffEntry, diff], [lraFdbkEntry, fdbk]] as const) {
      expect(e.options.toJSONSchema()).toMatchObject({ type: 'object', additionalProperties: false });
      expect(e.options.toJSONSchema().required).toBeUndefined();
      expect(Object.keys(props(e))).toEqual(Object.keys(want));
      for (const [key, value] of Object.entries(want)) {
        expect(props(e)[key].default, `${e.id} ${key}`).toEqual(value);
        expect(props(e)[key].description, `${e.id} ${key}`).toEqual(expect.any(String));
      }
    }
    expect(props(lraFdbkEntry).derivative.enum).toEqual(['above', 'below']);
    expect(props(lraDiffEntry).c1).toMatchObject({ anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'null' }], default: 1 });
  });

  it('refuses a kernel module without a kernel parameter, naming the layer (K = 1 and K > 1)', () => {
    const network = sequential({ inputShape: [4], layers: [dense({ units: 5, activation: 'tanh' }), kernelless(), dense({ units: 3 })], seed: 1 });
    for (const rule of [lraFdbk(), lraDiff({ k: 3 })]) {
      expect(() => rule.check(network)).toThrow(RuleSupportError);
      expect(() => rule.check(network)).toThrow(/layer 1 \(identity_1, identity\) has no "kernel" parameter/);
      expect(() => rule.bind(network, randomSource(0))).toThrow(RuleSupportError);
    }
    network.dispose();
  });

  it('trains chains of blocks only: refuses resnet20-tiny naming its first residual add (K = 1 and K > 1)', () => {
    const network = sequential({ ...preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 5 }), seed: 1 });
    const add = network.chainBreak()!;
    expect(add.kind).toBe('add');
    for (const rule of [lraFdbk(), lraDiff(), lraFdbk({ k: 3 }), lraDiff({ k: 2 })]) {
      expect(() => rule.check(network), rule.id).toThrow(RuleSupportError);
      expect(() => rule.check(network), rule.id).toThrow(new RegExp(`module ${add.name} \\(add\\)`));
      const before = tf.memory().numTensors;
      expect(() => rule.bind(network, randomSource(0))).toThrow(RuleSupportError);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(rules.map((e) => e.graphs)).toEqual(['chain', 'chain']);
    // a chain, but with batch norm in front of the first kernel: only an error could train its γ, β
    const normed = sequential({ inputShape: [4], layers: [batchNorm(), dense({ units: 3, activation: 'tanh' }), dense({ units: 2 })], seed: 1 });
    for (const rule of [lraFdbk(), lraDiff({ k: 2 })]) expect(() => rule.bind(normed, randomSource(0))).toThrow(/module batchNorm_1 \(batchNorm\) in front of layer 0/);
    normed.dispose();
    expect(lraLayerRule(resolved('fdbk')).graphs).toBe('chain');
    network.dispose();
  });
});

describe('reductions (K = 1, E := kernel)', () => {
  // tanh hidden layers, linear logits
  const sizes = [12, 10, 8, 5];

  function run(network: Network, correction: 'diff' | 'fdbk', o: LraFdbkOptions = {}): (x: Tensor, y: Tensor) => LraComputation {
    return (x, y) => computeLra(context(network, x, y), correction === 'fdbk' ? kernels(network) : null, resolved(correction, o));
  }

  it("fdbk 'above' with E = W, times φ'(a_{l-1}), is diff's correction (from the output layer; at every layer with linear hidden units)", () => {
    const network = net(['tanh', 'tanh', 'linear'], sizes);
    const { x, y } = batch(network);
    tf.tidy(() => {
      const diff = run(network, 'diff')(x, y);
      const above = run(network, 'fdbk', { derivative: 'above' })(x, y);
      const trace = network.forward(x);
      // at the top correction both see the same error; below that, the targets (hence e_l) already differ
      const l = 1;
      const t = trace.layers[l];
      const scaled = tf.mul(above.corrections[l]!, network.layers[l].activation.derivative(t.pre, t.output));
      expect(maxRelDiff(scaled, diff.corrections[l]!)).toBeLessThan(1e-6);
      expect(maxRelDiff(above.corrections[l]!, diff.corrections[l]!)).toBeGreaterThan(1e-2);
    });
    // with every hidden layer's input errors equal (linear hidden units: φ' = 1), the relation holds everywhere
    const linear = net(['linear', 'linear', 'linear'], sizes);
    tf.tidy(() => {
      const diff = run(linear, 'diff')(x, y);
      const above = run(linear, 'fdbk', { derivative: 'above' })(x, y);
      for (let l = 0; l < 2; l++) expect(maxRelDiff(above.corrections[l]!, diff.corrections[l]!)).toBeLessThan(1e-6);
      diff.grads.forEach((g, l) => expect(maxRelDiff(above.grads[l].kernel, g.kernel)).toBeLessThan(1e-6));
    });
    tf.dispose([x, y]);
    network.dispose();
    linear.dispose();
  });

  it("fdbk 'below' with E = W equals diff exactly where φ'(a_l) = 1: the correction from the linear output layer", () => {
    const network = net(['tanh', 'tanh', 'linear'], sizes);
    const { x, y } = batch(network);
    tf.tidy(() => {
      const diff = run(network, 'diff')(x, y);
      const below = run(network, 'fdbk', { derivative: 'below' })(x, y);
      // layer 2 (linear output) sends the same Δa_1, so layers 2 and 1 get the same targets, deltas and updates
      expect(maxRelDiff(below.corrections[1]!, diff.corrections[1]!)).toBeLessThan(1e-6);
      for (const l of [1, 2]) {
        expect(maxRelDiff(below.deltas[l], diff.deltas[l])).toBeLessThan(1e-6);
        expect(maxRelDiff(below.grads[l].kernel, diff.grads[l].kernel)).toBeLessThan(1e-6);
        expect(maxRelDiff(below.grads[l].bias, diff.grads[l].bias)).toBeLessThan(1e-6);
      }
      // layer 1 is tanh: below drops φ'(a_1) from its correction, diff keeps it: Δa_0^diff = Δa_0^below computed on e_1 ⊙ φ'(a_1)
      expect(maxRelDiff(below.corrections[0]!, diff.corrections[0]!)).toBeGreaterThan(1e-2);
      const trace = network.forward(x);
      const e1 = tf.div(below.deltas[1], network.layers[1].activation.derivative(trace.layers[1].pre, trace.layers[1].output));
      const manual = tf.mul(
        network.layers[1].backwardInput(tf.mul(tf.mul(e1, x.shape[0]), network.layers[1].activation.derivative(trace.layers[1].pre, trace.layers[1].output)), kernels(network)[1]),
        network.layers[0].activation.derivative(trace.layers[0].pre, trace.layers[0].output),
      );
      expect(maxRelDiff(manual, diff.corrections[0]!)).toBeLessThan(1e-5);
    });
    // and everywhere when every unit above the input layer is linear
    const linear = net(['tanh', 'linear', 'linear'], sizes);
    tf.tidy(() => {
      const diff = run(linear, 'diff')(x, y);
      const below = run(linear, 'fdbk', { derivative: 'below' })(x, y);
      diff.grads.forEach((g, l) => {
        expect(maxRelDiff(below.grads[l].kernel, g.kernel)).toBeLessThan(1e-6);
        expect(maxRelDiff(below.deltas[l], diff.deltas[l])).toBeLessThan(1e-6);
      });
    });
    tf.dispose([x, y]);
    network.dispose();
    linear.dispose();
  });

  it("LRA-diff's correction is backprop's δ·N, and for small β its hidden δ is 2β φ'(a)² ⊙ δ_BP", () => {
    const network = net(['tanh', 'tanh', 'linear'], sizes);
    const { x, y } = batch(network);
    tf.tidy(() => {
      const ctx = context(network, x, y);
      const beta = 1e-3;
      const r = computeLra(ctx, null, resolved('diff', { beta }));
      const bp = backpropSignals(network, ctx.trace, ctx);
      const n = x.shape[0];
      expect(maxRelDiff(r.corrections[1]!, tf.mul(bp[1], n))).toBeLessThan(1e-5);
      expect(maxRelDiff(r.deltas[2], bp[2])).toBeLessThan(1e-6);
      const t = ctx.trace.layers[1];
      const fp = network.layers[1].activation.derivative(t.pre, t.output);
      const firstOrder = tf.mul(tf.mul(2 * beta, tf.square(fp)), bp[1]);
      // Cauchy's e = −2r/(1+r²) = −2r + O(r³) and tanh's target shift is first order in β
      expect(maxRelDiff(r.deltas[1], firstOrder)).toBeLessThan(5e-3);
    });
    tf.dispose([x, y]);
    network.dispose();
  });

  it('on conv2d and locally connected layers too: diff corrections are N·δ_BP, fdbk-above(E = W)·φ′ is diff', () => {
    const network = sequential({
      inputShape: [7, 7, 2],
      layers: [
        conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
        locallyConnected2d({ filters: 2, kernelSize: 2, strides: 2, activation: 'tanh' }),
        dense({ units: 4 }),
      ],
      seed: 5,
    });
    const s = randomStream(2, 'img');
    const x = tf.tensor4d(s.normalArray(6 * 7 * 7 * 2), [6, 7, 7, 2]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), 4);
    const yf = tf.cast(y, 'float32');
    tf.tidy(() => {
      const ctx = context(network, x, yf);
      const diff = computeLra(ctx, null, resolved('diff', { beta: 0.2 }));
      const above = computeLra(ctx, kernels(network), resolved('fdbk', { derivative: 'above', beta: 0.2 }));
      const bp = backpropSignals(network, ctx.trace, ctx);
      expect(maxRelDiff(diff.corrections[1]!, tf.mul(bp[1], 6))).toBeLessThan(1e-5);
      const t = ctx.trace.layers[1];
      const scaled = tf.mul(above.corrections[1]!, network.layers[1].activation.derivative(t.pre, t.output));
      expect(maxRelDiff(scaled, diff.corrections[1]!)).toBeLessThan(1e-6);
      diff.grads.forEach((g, l) => expect(g.kernel.shape).toEqual(network.layers[l].params.kernel.shape));
    });
    tf.dispose([x, y, yf]);
    network.dispose();
  });

  it('with K = 1, settleTop and updateFrom change nothing', () => {
    const network = net(['tanh', 'tanh', 'linear'], sizes);
    const { x, y } = batch(network);
    tf.tidy(() => {
      const a = run(network, 'diff', { settleTop: true, updateFrom: 'lastPass' })(x, y);
      const b = run(network, 'diff', { settleTop: false, updateFrom: 'forward' })(x, y);
      a.grads.forEach((g, l) => expect(maxRelDiff(b.grads[l].kernel, g.kernel)).toBe(0));
    });
    tf.dispose([x, y]);
    network.dispose();
  });
});

describe('step results', () => {
  it("expose δ_l in backprop's convention (δ_L = e exactly), and metrics only when asked for", () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    const { x, y } = batch(network);
    for (const metrics of [false, true]) {
      const bound = lraFdbk({ metrics }).bind(network, randomSource(1));
      tf.tidy(() => {
        const ctx = context(network, x, y);
        const r = bound.step(ctx);
        expect(r.signals[2]).toBe(ctx.outputError);
        r.signals.forEach((s, l) => expect(s.shape).toEqual(ctx.trace.layers[l].pre.shape));
        if (!metrics) expect(Object.keys(r.metrics ?? {})).toEqual([]);
        else expect(Object.keys(r.metrics!).sort()).toEqual([0, 1, 2].flatMap((l) => [`layer${l}/localLoss`, `layer${l}/updateNorm`]).sort());
      });
      bound.dispose();
    }
    tf.dispose([x, y]);
    network.dispose();
  });
});

describe('the norm constraint c₁', () => {
  it('every parameter update has Frobenius norm ≤ c₁ (= c₁ where it binds), and is untouched below it', () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    const { x, y } = batch(network, 32);
    tf.tidy(() => {
      const free = computeLra(context(network, x, y), kernels(network), resolved('fdbk', { c1: null }));
      const norms = free.grads.flatMap((g) => Object.values(g).map((t) => tf.norm(t).dataSync()[0]));
      const c1 = Math.min(...norms) * 1.5; // binds for some parameters, not all
      const capped = computeLra(context(network, x, y), kernels(network), resolved('fdbk', { c1 }));
      let bound = 0;
      capped.grads.forEach((g, l) => {
        for (const [k, t] of Object.entries(g)) {
          const raw = free.grads[l][k];
          const rawNorm = tf.norm(raw).dataSync()[0];
          const norm = tf.norm(t).dataSync()[0];
          expect(norm).toBeLessThanOrEqual(c1 * (1 + 1e-6));
          if (rawNorm > c1) {
            bound++;
            expect(norm).toBeCloseTo(c1, 5);
            // rescaled, not clipped elementwise: same direction
            expect(maxRelDiff(tf.mul(t, rawNorm / c1), raw)).toBeLessThan(1e-5);
          } else {
            expect(maxRelDiff(t, raw)).toBe(0);
          }
        }
      });
      expect(bound).toBeGreaterThan(0);
    });
    tf.dispose([x, y]);
    network.dispose();
  });

  it('holds for every step of a training run (K = 3), and the applied SGD step is lr·ΔW', async () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    const c1 = 0.05;
    const lr = 0.5;
    const trainer = createTrainer({ network, rule: lraFdbk({ c1, k: 3, beta: 0.2 }), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr }), seed: 2 });
    let worst = 0;
    let worstApplied = 0;
    trainer.addHook({
      onStep({ result }) {
        for (const g of result.grads) for (const t of Object.values(g)) worst = Math.max(worst, tf.norm(t).dataSync()[0]);
      },
    });
    for (let s = 0; s < 20; s++) {
      const { x, y } = batch(network, 32, 100 + s);
      const before = kernels(network).map((k) => k.clone());
      trainer.step(x, y);
      kernels(network).forEach((k, l) => {
        worstApplied = Math.max(worstApplied, tf.tidy(() => tf.norm(tf.sub(k, before[l])).dataSync()[0]));
      });
      tf.dispose([x, y, ...before]);
    }
    expect(worst).toBeLessThanOrEqual(c1 * (1 + 1e-6));
    expect(worst).toBeGreaterThan(c1 * 0.999); // it did bind
    expect(worstApplied).toBeLessThanOrEqual(lr * c1 * (1 + 1e-5));
    trainer.dispose();
    network.dispose();
  });
});

describe('the K loop', () => {
  // on pooling blocks a pass can move which unit wins a window: the loss falls overall, not at every pass
  it.each([
    ['an MLP, at every pass', () => net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]), 0.05, true, 0.95],
    ['a chain of pooling blocks (the block derivatives at the moved temporaries), to under half', () => poolingChain(6), 0.2, false, 0.5],
  ] as const)("each layer's local loss to its target falls over the K passes of one step: %s (diff; fdbk with E = W)", (_name, build, beta, monotone, ratio) => {
    const network = build();
    const n = 32;
    const s = randomStream(1, 'batch');
    const x = tf.tensor(s.normalArray(n * network.inputShape.reduce((a, b) => a * b, 1)), [n, ...network.inputShape]);
    const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, () => Math.floor(s.next() * 5)), 'int32'), 5), 'float32');
    for (const [correction, derivative] of [
      ['diff', 'below'],
      ['fdbk', 'below'],
      ['fdbk', 'above'],
    ] as const) {
      tf.tidy(() => {
        const r = computeLra(
          context(network, x, y),
          correction === 'fdbk' ? kernels(network) : null,
          resolved(correction, { k: 10, beta, outputLoss: 'cauchy', ...(correction === 'fdbk' ? { derivative } : {}) }),
          'all',
        );
        expect(r.localLoss).toHaveLength(10);
        for (let l = 0; l < network.layers.length; l++) {
          const curve = r.localLoss.map((pass) => pass[l].dataSync()[0]);
          if (monotone) for (let k = 1; k < curve.length; k++) expect(curve[k], `${correction} ${derivative} layer ${l} pass ${k}`).toBeLessThanOrEqual(curve[k - 1] * (1 + 1e-6));
          expect(curve[curve.length - 1], `${correction} ${derivative} layer ${l}`).toBeLessThan(curve[0] * ratio);
        }
      });
    }
    tf.dispose([x, y]);
    network.dispose();
  });

  it('leaves no tensor behind and keeps E in state (same seed, same E)', () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    for (const rule of [lraFdbk({ k: 1 }), lraFdbk({ k: 4, updateFrom: 'forward' }), lraDiff({ k: 3 })]) {
      const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 4 });
      const { x, y } = batch(network);
      trainer.step(x, y); // warm-up: optimizer slots, kernels
      const before = tf.memory().numTensors;
      trainer.step(x, y);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y]);
      trainer.dispose();
    }
    const bound = [5, 5, 6].map((seed) => lraFdbk().bind(network, randomSource(seed)));
    const [a, b, c] = bound.map((r) => r.state());
    expect(Object.keys(a)).toEqual([feedbackKey(1), feedbackKey(2)]);
    expect(a[feedbackKey(1)].shape).toEqual([10, 8]);
    expect(maxRelDiff(b[feedbackKey(1)], a[feedbackKey(1)])).toBe(0);
    expect(maxRelDiff(c[feedbackKey(1)], a[feedbackKey(1)])).toBeGreaterThan(0.1);
    // σ ≈ 1 as in the paper (feedbackStd 1)
    const std = tf.tidy(() => tf.sqrt(tf.mean(tf.square(a[feedbackKey(1)]))).dataSync()[0]);
    expect(std).toBeGreaterThan(0.7);
    expect(std).toBeLessThan(1.3);
    bound.forEach((r) => r.dispose());
    const diff = lraDiff().bind(network, randomSource(5));
    expect(Object.keys(diff.state())).toEqual([]);
    diff.dispose();
    network.dispose();
  });
});

describe('K = 1 layer-wise (perLayer compositions)', () => {
  const values = (t: Tensor) => Array.from(t.dataSync());

  it.each([
    ['lra-fdbk below', 'fdbk', { derivative: 'below', c1: 0.05, beta: 0.1 }],
    ['lra-fdbk above', 'fdbk', { derivative: 'above', c1: null, beta: 0.1 }],
    ['lra-diff', 'diff', { c1: 0.05, beta: 0.1 }],
    ['lra-fdbk cauchy output', 'fdbk', { outputLoss: 'cauchy', c1: null }],
  ] as const)('%s: the rule, perLayer of its layer rule and the K loop at K = 1 train bit for bit alike', (_name, correction, options) => {
    const make = () => (correction === 'diff' ? lraDiff(options) : lraFdbk(options));
    const loop = lraLoopRule(tuned(correction, options));
    const weights: number[][][] = [];
    const keys: string[][] = [];
    for (const rule of [make(), perLayer([make(), make(), make()]), loop]) {
      const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
      const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.3 }), seed: 4 });
      for (let s = 0; s < 5; s++) {
        const { x, y } = batch(network, 16, 40 + s);
        trainer.step(x, y);
        tf.dispose([x, y]);
      }
      keys.push(Object.keys(trainer.boundRule.state()));
      weights.push([...Object.values(network.namedParams()), ...Object.values(trainer.boundRule.state())].map(values));
      trainer.dispose();
      network.dispose();
    }
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    expect(weights[1]).toEqual(weights[0]);
    expect(weights[2]).toEqual(weights[0]);
  });

  it('mixes with backprop: LRA below, a backprop layer on top (and the reverse) train without leaks', () => {
    for (const rule of [perLayer({ default: lraFdbk(), layers: { 2: backprop() } }), perLayer({ default: backprop(), layers: { 0: lraFdbk() } })]) {
      const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
      const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.3 }), seed: 4 });
      const { x, y } = batch(network, 64, 7);
      const first = trainer.step(x, y);
      const before = tf.memory().numTensors;
      let last = first;
      for (let s = 0; s < 30; s++) last = trainer.step(x, y);
      expect(tf.memory().numTensors).toBe(before);
      expect(last).toBeLessThan(first * 0.8);
      tf.dispose([x, y]);
      trainer.dispose();
      network.dispose();
    }
  });

  it('K > 1 is not layer-wise', () => {
    expect(lraFdbk().layerRule?.id).toBe('lra-fdbk');
    expect(lraFdbk({ k: 2 }).layerRule).toBeUndefined();
    expect(() => perLayer([lraFdbk({ k: 2 })])).toThrow(RuleSupportError);
    expect(() => lraLayerRule(resolved('fdbk', { k: 2 }))).toThrow(RuleSupportError);
  });
});

describe('one K = 1: the K loop with K = 1 computes exactly what the layer rule computes', () => {
  const nets: [string, () => Network][] = [
    ['MLP (tanh)', () => net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5])],
    ['every block kind (batch norm, pooling, dropout, Bernoulli, flatten)', () => blockZoo(3)],
    ['lenet5', () => sequential({ ...preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }), seed: 2 })],
  ];
  const variants: [string, 'diff' | 'fdbk', LraFdbkOptions][] = [
    ['diff', 'diff', { beta: 0.3, c1: 0.5, metrics: true }],
    ['fdbk above', 'fdbk', { derivative: 'above', beta: 0.2, c1: null, metrics: true }],
    ['fdbk below', 'fdbk', { derivative: 'below', beta: 0.2, c1: 0.1, metrics: true }],
    ['fdbk, Cauchy output', 'fdbk', { outputLoss: 'cauchy', metrics: true }],
  ];

  it.each(nets)('%s: grads, signals, batch-norm grads and metrics are bit for bit equal', (_name, build) => {
    const network = build();
    const n = 6;
    const s = randomStream(5, 'batch');
    const size = network.inputShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(s.normalArray(n * size), [n, ...network.inputShape]);
    const classes = network.outputShape[0];
    const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32');
    for (const [variant, correction, options] of variants) {
      const o = tuned(correction, options);
      const layerRule = (correction === 'diff' ? lraDiff : lraFdbk)(options).bind(network, randomSource(8));
      const loop = lraLoopRule(o).bind(network, randomSource(8));
      tf.tidy(() => {
        const ctx = context(network, x, y);
        const a = resultValues(layerRule.step(ctx));
        const b = resultValues(loop.step(ctx));
        expect(Object.keys(b).sort(), variant).toEqual(Object.keys(a).sort());
        for (const k of Object.keys(a)) expect(b[k], `${variant}: ${k}`).toEqual(a[k]);
        // the teaching signal reaches the blocks' batch norms, and every layer learns
        for (const m of network.nodes.filter((node) => node.module.kind === 'batchNorm')) expect(a[`moduleGrads/${m.module.name}/gamma`]).toBeDefined();
        network.layers.forEach((_, l) => expect(a[`grads/${l}/kernel`].some((v) => v !== 0), `${variant}: layer ${l} learns`).toBe(true));
      });
      layerRule.dispose();
      loop.dispose();
    }
    tf.dispose([x, y]);
    network.dispose();
  });
});

describe('rule state: fixed feedback matrices E_l, the same for K = 1 and K > 1', () => {
  it("E_l comes from the layer's stream rule/lra-fdbk/layer<l>, is not learned, and is the layer's feedback weights", () => {
    const network = blockZoo(1);
    const fdbk = [lraFdbk().bind(network, randomSource(3)), lraFdbk({ k: 3 }).bind(network, randomSource(3))];
    for (const bound of fdbk) {
      expect(bound.learned()).toEqual([]);
      expect(Object.keys(bound.state())).toEqual([1, 2, 3, 4].map(feedbackKey));
      expect(bound.feedbackWeights(0)).toBeNull();
      network.layers.forEach((layer, l) => {
        if (l === 0) return;
        const e = bound.feedbackWeights(l)!;
        expect(e).toBe(bound.state()[feedbackKey(l)]);
        expect(e.shape).toEqual(layer.params.kernel.shape);
        const want = layerStream(randomSource(3), 'lra-fdbk', l).normalArray(e.size, 0, 1);
        expect(Array.from(e.dataSync())).toEqual(Array.from(want));
      });
    }
    const diff = [lraDiff().bind(network, randomSource(3)), lraDiff({ k: 3 }).bind(network, randomSource(3))];
    for (const bound of diff) {
      expect(bound.learned()).toEqual([]);
      expect(Object.keys(bound.state())).toEqual([]);
      network.layers.forEach((_, l) => expect(bound.feedbackWeights(l)).toBeNull());
    }
    [...fdbk, ...diff].forEach((b) => b.dispose());
    network.dispose();
  });

  it('a K = 1 checkpoint loads into a K > 1 rule (same keys and shapes)', () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    const one = lraFdbk().bind(network, randomSource(1));
    const many = lraFdbk({ k: 4 }).bind(network, randomSource(2));
    expect(maxRelDiff(many.state()[feedbackKey(1)], one.state()[feedbackKey(1)])).toBeGreaterThan(0.1);
    many.loadState(one.state());
    many.setMeta(one.getMeta());
    for (const k of Object.keys(one.state())) expect(maxRelDiff(many.state()[k], one.state()[k])).toBe(0);
    one.dispose();
    many.dispose();
    network.dispose();
  });
});

describe('on a pooling block: corrections, targets and δ equal a hand computation', () => {
  // on cpu: wasm's MaxPoolGrad kernel (tfjs 4.22) routes a window whose values are all negative to the wrong place
  beforeAll(async () => {
    await resolveBackend('cpu');
  });
  afterAll(async () => {
    await resolveBackend('wasm');
  });
  // conv 2@2×2 'same' → tanh → max pool 2 → flatten (layer 0's block), then a linear dense output (empty block)
  const N = 2;
  const H = 4;
  const C = 2;
  const P = H / 2;
  const OUT = 3;
  const BETA = 0.4;
  const build = () =>
    sequential({
      inputShape: [H, H, 1],
      layers: [conv2d({ filters: C, kernelSize: 2, padding: 'same', activation: 'tanh' }), maxPool2d(2), flatten(), dense({ units: OUT })],
      seed: 11,
    });

  it.each([
    ['fdbk above', 'fdbk', 'above'],
    ['fdbk below', 'fdbk', 'below'],
    ['diff', 'diff', 'below'],
  ] as const)('%s', (_name, correction, derivative) => {
    const network = build();
    const s = randomStream(4, 'pool');
    const x = tf.tensor(s.normalArray(N * H * H), [N, H, H, 1]);
    const y = tf.tensor2d([[1, 0, 0], [0, 0, 1]]);
    const E = tf.tensor(s.normalArray(P * P * C * OUT), [P * P * C, OUT]);
    const o = resolved(correction, { beta: BETA, ...(correction === 'fdbk' ? { derivative } : {}) });
    tf.tidy(() => {
      const ctx = context(network, x, y);
      const r = computeLra(ctx, [null, E], o);
      // by hand, in float64: a = a_0 (N×H×H×C), h = tanh(a), the pool window's arg max routes everything
      const a = Array.from(ctx.trace.layers[0].pre.dataSync());
      const logits = Array.from(ctx.trace.output.dataSync());
      const labels = Array.from(y.dataSync());
      const B = Array.from((correction === 'diff' ? network.layers[1].params.kernel : E).dataSync()); // [P·P·C, OUT]
      const at = (n: number, i: number, j: number, c: number) => ((n * H + i) * H + j) * C + c;
      const pooled = (n: number, p: number, q: number, c: number) => (n * P + p) * P * C + q * C + c; // = flatten order
      const argmax = (n: number, p: number, q: number, c: number) => {
        let best = at(n, 2 * p, 2 * q, c);
        for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          const k = at(n, 2 * p + di, 2 * q + dj, c);
          if (Math.tanh(a[k]) > Math.tanh(a[best])) best = k;
        }
        return best;
      };
      // the output layer's error with the task loss: d_1 = e_1 = softmax(logits) − y per sample
      const d1: number[] = [];
      for (let n = 0; n < N; n++) {
        const row = logits.slice(n * OUT, (n + 1) * OUT);
        const m = Math.max(...row);
        const z = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
        row.forEach((v, k) => d1.push(Math.exp(v - m) / z - labels[n * OUT + k]));
      }
      const corr = new Array(a.length).fill(0);
      for (let n = 0; n < N; n++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++)
            for (let c = 0; c < C; c++) {
              const u = pooled(n, p, q, c) - n * P * P * C;
              let back = 0;
              for (let k = 0; k < OUT; k++) back += B[u * OUT + k] * d1[n * OUT + k];
              const k = argmax(n, p, q, c);
              // diff and 'below' keep layer 0's derivative, 'above' crosses the block structurally
              corr[k] = correction === 'fdbk' && derivative === 'above' ? back : back * (1 - Math.tanh(a[k]) ** 2);
            }
      expect(relativeError(r.corrections[0]!, corr)).toBeLessThan(1e-5);
      // target y_0 = maxpool(tanh(a − β Δa)), flattened; δ_0 = Cauchy's e_0 / N routed to the arg max, times tanh'
      const target: number[] = [];
      const delta = new Array(a.length).fill(0);
      for (let n = 0; n < N; n++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++)
            for (let c = 0; c < C; c++) {
              let best = -Infinity;
              for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
                const k = at(n, 2 * p + di, 2 * q + dj, c);
                best = Math.max(best, Math.tanh(a[k] - BETA * corr[k]));
              }
              target.push(best);
              const k = argmax(n, p, q, c);
              const diffY = best - Math.tanh(a[k]);
              delta[k] = ((-2 * diffY) / (1 + diffY * diffY) / N) * (1 - Math.tanh(a[k]) ** 2);
            }
      expect(relativeError(r.targets[0], target)).toBeLessThan(1e-5);
      expect(relativeError(r.deltas[0], delta)).toBeLessThan(1e-5);
      // a target the pooling moved (not a no-op)
      expect(relativeError(r.targets[0], Array.from(ctx.trace.layers[0].output.dataSync()))).toBeGreaterThan(1e-3);
    });
    tf.dispose([x, y, E]);
    network.dispose();
  });

  it("the K loop's moved point (traceAt): the block's VJP there is autodiff of the block replay at the moved pre-activation", () => {
    const network = build();
    const layer = network.layers[0];
    const s = randomStream(6, 'moved');
    const x = tf.tensor(s.normalArray(N * H * H), [N, H, H, 1]);
    tf.tidy(() => {
      const trace = network.forward(x, { training: true });
      const moved = tf.add(trace.layers[0].pre, tf.tensor(s.normalArray(N * H * H * C, 0, 0.5), [N, H, H, C]));
      const g = tf.tensor(s.normalArray(N * P * P * C), [N, P * P * C]);
      const at = traceAt(layer, trace, moved);
      expect(relativeError(at.output, layer.blockReplay(trace, moved))).toBe(0);
      const viaTrace = layer.blockVjp(at.trace, g).delta;
      const autodiff = tf.grad((p: Tensor) => tf.sum(tf.mul(layer.blockReplay(trace, p), g)))(moved);
      expect(relativeError(viaTrace, autodiff)).toBeLessThan(1e-6);
      // and not the VJP at the forward point
      expect(relativeError(layer.blockVjp(trace, g).delta, autodiff)).toBeGreaterThan(1e-2);
    });
    x.dispose();
    network.dispose();
  });

  it("'above' and 'below' differ on it (the correction keeps tanh' or not)", () => {
    const network = build();
    const s = randomStream(4, 'pool');
    const x = tf.tensor(s.normalArray(N * H * H), [N, H, H, 1]);
    const y = tf.tensor2d([[1, 0, 0], [0, 0, 1]]);
    tf.tidy(() => {
      const ctx = context(network, x, y);
      const [above, below] = (['above', 'below'] as const).map((derivative) => computeLra(ctx, kernels(network), resolved('fdbk', { derivative })));
      expect(relativeError(above.corrections[0]!, below.corrections[0]!)).toBeGreaterThan(1e-2);
    });
    tf.dispose([x, y]);
    network.dispose();
  });
});
