import * as tf from '@tensorflow/tfjs-core';
import { backprop } from '@bioprop/backprop';
import {
  OptionError,
  perLayer,
  RuleSupportError,
  backpropSignals,
  conv2d,
  createTrainer,
  dense,
  locallyConnected2d,
  randomSource,
  randomStream,
  resolveBackend,
  resolveLoss,
  sequential,
  sgd,
  stepContext,
  type ActivationLike,
  type Network,
  type StepContext,
  type Tensor,
} from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeLra, feedbackKey, lraDiff, lraEntries, lraFdbk, resolveLraOptions, type LraComputation } from './index.js';
import type { LraDefaultOptions, LraFdbkOptions, ResolvedLraOptions } from './options.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const BASE: LraDefaultOptions = { k: 1, beta: 0.1, c1: null, outputLoss: 'task', settleTop: true, updateFrom: 'lastPass' };
const resolved = (correction: 'diff' | 'fdbk', o: LraFdbkOptions = {}): ResolvedLraOptions =>
  resolveLraOptions(correction, o, { ...BASE, derivative: 'below', feedbackStd: 1 });

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
  const trace = network.forward(x, { training: true });
  return stepContext({ network, trace, target: y, loss: resolveLoss('softmaxCrossEntropy'), step: 0, epoch: 0, random: randomSource(0) });
}

const kernels = (network: Network) => network.layers.map((l) => l.params.kernel);

function maxRelDiff(a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.maximum(tf.max(tf.abs(b)), 1e-12)).dataSync()[0]);
}

describe('options', () => {
  it('rejects unknown options and bad values with a clear error', () => {
    expect(() => lraFdbk({ betta: 0.1 } as never)).toThrow(/unknown option "betta"/);
    expect(() => lraDiff({ derivative: 'above' } as never)).toThrow(/belongs to lra-fdbk/);
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
    expect(lraEntries.map((e) => e.id)).toEqual(['lra-diff', 'lra-fdbk']);
    for (const e of lraEntries) {
      const rule = e.create();
      expect(rule.id).toBe(e.id);
      expect(rule.options).toMatchObject(e.defaults.ruleOptions as object);
      expect(e.create({ k: 3 }).options).toMatchObject({ k: 3 });
    }
  });

  it('refuses a layer without a kernel', () => {
    const network = net(['tanh', 'linear'], [4, 5, 3]);
    const fake = { ...network, layers: [network.layers[0], { ...network.layers[1], params: {} }] } as unknown as Network;
    expect(() => lraFdbk().check(fake)).toThrow(RuleSupportError);
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
      const bp = backpropSignals(network, ctx.trace, ctx.outputError);
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
      const bp = backpropSignals(network, ctx.trace, ctx.outputError);
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
        if (!metrics) expect(r.metrics).toBeUndefined();
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
  it("each layer's local loss to its target falls over the K passes of one step (diff; fdbk with E = W)", () => {
    const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
    const { x, y } = batch(network, 32);
    for (const [correction, derivative] of [
      ['diff', 'below'],
      ['fdbk', 'below'],
      ['fdbk', 'above'],
    ] as const) {
      tf.tidy(() => {
        const r = computeLra(
          context(network, x, y),
          correction === 'fdbk' ? kernels(network) : null,
          resolved(correction, { k: 10, beta: 0.05, outputLoss: 'cauchy', ...(correction === 'fdbk' ? { derivative } : {}) }),
          'all',
        );
        expect(r.localLoss).toHaveLength(10);
        for (let l = 0; l < 3; l++) {
          const curve = r.localLoss.map((pass) => pass[l].dataSync()[0]);
          for (let k = 1; k < curve.length; k++) expect(curve[k]).toBeLessThanOrEqual(curve[k - 1] * (1 + 1e-6));
          expect(curve[curve.length - 1]).toBeLessThan(curve[0] * 0.95);
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
    ['lra-fdbk below', () => lraFdbk({ derivative: 'below', c1: 0.05, beta: 0.1 })],
    ['lra-fdbk above', () => lraFdbk({ derivative: 'above', c1: null, beta: 0.1 })],
    ['lra-diff', () => lraDiff({ c1: 0.05, beta: 0.1 })],
    ['lra-fdbk cauchy output', () => lraFdbk({ outputLoss: 'cauchy', c1: null })],
  ] as const)('%s: perLayer of its layer-wise form trains exactly like the rule', (_name, make) => {
    const weights: number[][][] = [];
    for (const rule of [make(), perLayer([make(), make(), make()])]) {
      const network = net(['tanh', 'tanh', 'linear'], [12, 10, 8, 5]);
      const trainer = createTrainer({ network, rule, loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.3 }), seed: 4 });
      for (let s = 0; s < 5; s++) {
        const { x, y } = batch(network, 16, 40 + s);
        trainer.step(x, y);
        tf.dispose([x, y]);
      }
      weights.push([...Object.values(network.namedParams()), ...Object.values(trainer.boundRule.state())].map(values));
      trainer.dispose();
      network.dispose();
    }
    expect(weights[1].length).toBe(weights[0].length);
    weights[0].forEach((w, i) => w.forEach((v, j) => expect(weights[1][i][j]).toBeCloseTo(v, 6)));
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
    expect(lraFdbk({ k: 2 }).layerwise).toBeUndefined();
    expect(() => perLayer([lraFdbk({ k: 2 })])).toThrow(RuleSupportError);
  });
});
