import * as tf from '@tensorflow/tfjs-core';
// tf.grad needs the gradient registry, which tfjs-core's main entry does not load
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  batchNorm,
  conv2d,
  dense,
  flatten,
  locallyConnected2d,
  maxPool2d,
  randomStream,
  resolveBackend,
  sequential,
  type Layer,
  type Tensor,
} from '@bioprop/core';
import {
  amp,
  coefficient,
  combinedGradient,
  decay,
  linearNoBias,
  linearOutput,
  nullTerm,
  primitive,
  resolveTerm,
  self,
  sparse,
  weightUses,
  type FeedbackTerm,
  type TermContext,
} from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

/** max |a − b| / max |b|: float32 rounding stays far below 1e-5 at these sizes. */
function relError(a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(b)).dataSync()[0]);
}

const N = 9;
const nIn = 6;
const nOut = 5;

function fixture() {
  const net = sequential({ inputShape: [nIn], layers: [dense({ units: nOut, activation: 'tanh' })], seed: 3 });
  const layer: Layer = net.layers[0];
  const s = randomStream(11, 'fixture');
  const X = tf.tensor(s.normalArray(N * nIn), [N, nIn]);
  const B = tf.tensor(s.normalArray(nIn * nOut, 0, 0.3), [nIn, nOut]);
  const kernel = layer.params.kernel;
  // r = a − b = X·kernel, the linear output
  const R = tf.matMul(X, kernel);
  const ctx = (b: Tensor): TermContext => ({ layer, B: b, kernel, input: X, linearOutput: R, samples: N });
  return { net, layer, X, B, kernel, R, ctx };
}

describe('primitives: gradient equals tf.grad of the written regularizer', () => {
  // R(B) written straight from methods.md §4 with B shaped like Wᵀ (= kernel), X rows = samples, R = X·kernel
  const written: Record<string, (B: Tensor, X: Tensor, R: Tensor, kernel: Tensor) => Tensor> = {
    decay: (B) => tf.mul(0.5, tf.sum(tf.square(B))),
    // −(1/N) Σ_n x_nᵀ B r_n
    amp: (B, X, R) => tf.div(tf.neg(tf.sum(tf.mul(tf.matMul(X, B), R))), N),
    // (1/2N) Σ_n ‖B r_n‖²: B r_n is row n of R Bᵀ
    null: (B, _X, R) => tf.div(tf.mul(0.5, tf.sum(tf.square(tf.matMul(R, tf.transpose(B))))), N),
    // (1/2N) Σ_n ‖Bᵀ x_n‖²: Bᵀ x_n is row n of X B
    sparse: (B, X) => tf.div(tf.mul(0.5, tf.sum(tf.square(tf.matMul(X, B)))), N),
    // −tr(B W) with W = kernelᵀ
    self: (B, _X, _R, kernel) => tf.neg(tf.sum(tf.mul(tf.eye(nIn), tf.matMul(B, tf.transpose(kernel))))),
  };
  // the batched closed forms of the table
  const closed: Record<string, (B: Tensor, X: Tensor, R: Tensor, kernel: Tensor) => Tensor> = {
    decay: (B) => B,
    amp: (_B, X, R) => tf.div(tf.neg(tf.matMul(tf.transpose(X), R)), N),
    null: (B, _X, R) => tf.div(tf.matMul(B, tf.matMul(tf.transpose(R), R)), N),
    sparse: (B, X) => tf.div(tf.matMul(tf.transpose(X), tf.matMul(X, B)), N),
    self: (_B, _X, _R, kernel) => tf.neg(kernel),
  };
  const terms: Record<string, FeedbackTerm> = { decay: decay(1), amp: amp(1), null: nullTerm(1), sparse: sparse(1), self: self(1) };

  for (const name of Object.keys(terms)) {
    it(`${name}: grad = tf.grad(R) = the table's batched form, within 1e-5`, () => {
      const f = fixture();
      const term = terms[name];
      const ours = term.grad(f.ctx(f.B));
      const auto = tf.grad((b: Tensor) => written[name](b, f.X, f.R, f.kernel))(f.B);
      const table = closed[name](f.B, f.X, f.R, f.kernel);
      expect(relError(ours, auto)).toBeLessThan(1e-5);
      expect(relError(table, auto)).toBeLessThan(1e-5);
      // the term's own value() is the written R, and its autodiff gradient agrees too
      expect(Math.abs(term.value(f.ctx(f.B)).dataSync()[0] - written[name](f.B, f.X, f.R, f.kernel).dataSync()[0])).toBeLessThan(
        1e-5 * Math.max(1, Math.abs(written[name](f.B, f.X, f.R, f.kernel).dataSync()[0])),
      );
      const autoOwn = tf.grad((b: Tensor) => term.value(f.ctx(b)))(f.B);
      expect(relError(ours, autoOwn)).toBeLessThan(1e-5);
      // scaled, and the factored forms ∇ = Xᵀ m, ∇ = Pᵀ R (scale folded into the factor)
      expect(relError(term.grad(f.ctx(f.B), -2.5), tf.mul(auto, -2.5))).toBeLessThan(1e-5);
      if (term.outputFactor) {
        expect(relError(tf.matMul(tf.transpose(f.X), term.outputFactor(f.ctx(f.B), 3)), tf.mul(auto, 3))).toBeLessThan(1e-5);
      }
      if (term.inputFactor) {
        expect(relError(tf.matMul(tf.transpose(term.inputFactor(f.ctx(f.B), 3)), f.R), tf.mul(auto, 3))).toBeLessThan(1e-5);
      }
      if (term.inputFactorTransposed) {
        expect(relError(tf.matMul(term.inputFactorTransposed(f.ctx(f.B), 3), f.R), tf.mul(auto, 3))).toBeLessThan(1e-5);
      }
      expect(term.local).toBe(name !== 'sparse' && name !== 'self');
      f.net.dispose();
    });
  }

  it('a weighted sum of terms has the weighted sum of gradients, however the terms are fused', () => {
    const f = fixture();
    const all = [amp(1), sparse(1), nullTerm(1), decay(1), self(1)];
    const coefs = [0.7, -0.3, 1.9, 0.2, 1.3];
    // every subset: AA (Amp joins Sparse on X), IA (Amp joins Null on R), all five, each alone
    for (let mask = 1; mask < 32; mask++) {
      const ts = all.filter((_, i) => mask & (1 << i));
      const cs = coefs.filter((_, i) => mask & (1 << i));
      const combined = combinedGradient(ts, cs, f.ctx(f.B))!;
      const auto = tf.grad((b: Tensor) => tf.addN([tf.scalar(0), ...ts.map((t, i) => tf.mul(cs[i], t.value(f.ctx(b))))]))(f.B);
      expect(relError(combined, auto), ts.map((t) => t.primitive).join('+')).toBeLessThan(1e-5);
    }
    // zero coefficients are skipped entirely
    expect(combinedGradient(all, [0, 0, 0, 0, 0], f.ctx(f.B))).toBeNull();
    f.net.dispose();
  });
});

describe('primitives on convolution and locally connected layers (through the Layer interface)', () => {
  const specs = {
    conv2d: () => conv2d({ filters: 3, kernelSize: 3, strides: 1, padding: 'same', activation: 'tanh' }),
    locallyConnected2d: () => locallyConnected2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid', activation: 'tanh' }),
  };
  const all = [decay(1), amp(1), nullTerm(1), sparse(1), self(1)];
  const coefs = [0.2, 0.7, 1.9, -0.3, 1.3];
  const masks = [0b00110, 0b01010, 0b00111, 0b11111];

  function fixture(kind: keyof typeof specs) {
    const net = sequential({ inputShape: [7, 7, 2], layers: [specs[kind]()], seed: 4 });
    const layer = net.layers[0];
    const s = randomStream(12, 'conv-fixture');
    const X = tf.tensor(s.normalArray(5 * 7 * 7 * 2), [5, 7, 7, 2]);
    const kernel = layer.params.kernel;
    const B = tf.tensor(s.normalArray(kernel.size, 0, 0.3), kernel.shape);
    const R = tf.sub(layer.linear(X), layer.params.bias);
    const ctx = (b: Tensor): TermContext => ({ layer, B: b, kernel, input: X, linearOutput: R, samples: 5 * weightUses(layer) });
    return { net, layer, B, ctx, s };
  }

  it('conv2d: every primitive’s gradient and every fused sum = tf.grad of its regularizer, within 1e-5', async () => {
    // wasm has no Conv2DBackpropFilter kernel, which tf.grad needs here: the reference runs on cpu
    await resolveBackend('cpu');
    try {
      const { net, B, ctx } = fixture('conv2d');
      for (const term of all) {
        const auto = tf.grad((b: Tensor) => term.value(ctx(b)))(B);
        expect(relError(term.grad(ctx(B)), auto), term.primitive).toBeLessThan(1e-5);
      }
      for (const mask of masks) {
        const ts = all.filter((_, i) => mask & (1 << i));
        const cs = coefs.filter((_, i) => mask & (1 << i));
        const auto = tf.grad((b: Tensor) => tf.addN(ts.map((t, i) => tf.mul(cs[i], t.value(ctx(b))))))(B);
        expect(relError(combinedGradient(ts, cs, ctx(B))!, auto), ts.map((t) => t.primitive).join('+')).toBeLessThan(1e-5);
      }
      net.dispose();
    } finally {
      await resolveBackend('wasm');
    }
  });

  it('locallyConnected2d: ⟨∇R, D⟩ = (R(B + D) − R(B − D)) / 2 for random D (exact: every R is quadratic in B)', () => {
    // tf.grad cannot run through this layer's backward map (no gradient for ScatterNd), so use the identity
    // that holds exactly for quadratics instead of autodiff
    const { net, B, ctx, s } = fixture('locallyConnected2d');
    const check = (grad: Tensor, value: (b: Tensor) => Tensor, label: string) => {
      for (let k = 0; k < 3; k++) {
        const D = tf.tensor(s.normalArray(B.size, 0, 0.1), B.shape);
        const directional = tf.sum(tf.mul(grad, D)).dataSync()[0];
        const central = (value(tf.add(B, D)).dataSync()[0] - value(tf.sub(B, D)).dataSync()[0]) / 2;
        const scale = tf.norm(grad).dataSync()[0] * tf.norm(D).dataSync()[0];
        expect(Math.abs(directional - central) / scale, label).toBeLessThan(1e-5);
      }
    };
    for (const term of all) check(term.grad(ctx(B)), (b) => term.value(ctx(b)), term.primitive);
    for (const mask of masks) {
      const ts = all.filter((_, i) => mask & (1 << i));
      const cs = coefs.filter((_, i) => mask & (1 << i));
      check(combinedGradient(ts, cs, ctx(B))!, (b) => tf.addN(ts.map((t, i) => tf.mul(cs[i], t.value(ctx(b))))), ts.map((t) => t.primitive).join('+'));
    }
    net.dispose();
  });
});

describe('what the terms read: the kernel, before the block', () => {
  // kernels followed by pooling and batch norm, as in graphs: x is the kernel's input, r its output without bias
  const net = () =>
    sequential({
      inputShape: [9, 9, 2],
      layers: [
        conv2d({ filters: 3, kernelSize: 3, padding: 'valid', activation: 'relu' }),
        maxPool2d(2),
        locallyConnected2d({ filters: 4, kernelSize: 2, activation: 'tanh' }),
        batchNorm(),
        flatten(),
        dense({ units: 5 }),
        batchNorm(),
      ],
      seed: 8,
    });

  it('linearOutput(x, a) = the kernel’s linear map of x without bias, on dense, conv2d and locally connected kernels', () => {
    const network = net();
    const x = tf.tensor(randomStream(2, 'x').normalArray(4 * 9 * 9 * 2), [4, 9, 9, 2]);
    tf.tidy(() => {
      // non-zero biases: r must drop them
      for (const layer of network.layers) layer.params.bias.assign(tf.fill(layer.params.bias.shape, 0.3));
      const trace = network.forward(x, { training: true });
      network.layers.forEach((layer, l) => {
        const { input, pre } = trace.layers[l];
        const r = linearOutput(layer, input, pre);
        expect(r.shape).toEqual(pre.shape);
        expect(relError(r, linearNoBias(layer, input, layer.params.kernel)), layer.kind).toBeLessThan(1e-6);
        expect(relError(r, pre), layer.kind).toBeGreaterThan(0.01);
      });
    });
    x.dispose();
    network.dispose();
  });

  it('weightUses: each weight is applied once per sample by dense and locally connected kernels, at every position by a convolution', () => {
    const network = net();
    // conv 9×9 → 7×7 (valid), LC, dense
    expect(network.layers.map(weightUses)).toEqual([49, 1, 1]);
    network.dispose();
  });
});

describe('coefficients and schedules', () => {
  it('constant, linear, exponential, piecewise and function coefficients', () => {
    const t = (step: number, epoch = 0) => ({ step, epoch });
    expect(coefficient(2e-3).at(t(5))).toBe(2e-3);
    expect(coefficient({ type: 'constant', value: 3 }).at(t(9))).toBe(3);
    const lin = coefficient({ type: 'linear', from: 0, to: 1, duration: 10 });
    expect([lin.at(t(0)), lin.at(t(5)), lin.at(t(10)), lin.at(t(50))]).toEqual([0, 0.5, 1, 1]);
    const ex = coefficient({ type: 'exponential', value: 8, gamma: 0.5, every: 2, unit: 'epoch' });
    expect([ex.at(t(0, 0)), ex.at(t(0, 1)), ex.at(t(0, 2)), ex.at(t(0, 5))]).toEqual([8, 8, 4, 2]);
    const pw = coefficient({ type: 'piecewise', boundaries: [10, 20], values: [0, 1, 2] });
    expect([pw.at(t(0)), pw.at(t(9)), pw.at(t(10)), pw.at(t(25))]).toEqual([0, 0, 1, 2]);
    const fn = coefficient(({ epoch }) => (epoch < 1 ? 0 : 1));
    expect([fn.at(t(0, 0)), fn.at(t(0, 1))]).toEqual([0, 1]);
    expect(fn.json).toBe('<function>');
    expect(pw.json).toEqual({ type: 'piecewise', boundaries: [10, 20], values: [0, 1, 2] });
  });

  it('bad coefficients fail at the boundary with an OptionError', () => {
    expect(() => amp(NaN)).toThrow(OptionError);
    expect(() => amp({ type: 'linear', from: 0, to: 1 } as never)).toThrow(/duration/);
    expect(() => amp({ type: 'piecewise', boundaries: [2, 1], values: [0, 1, 2] })).toThrow(/ascending/);
    expect(() => amp({ type: 'warmup' } as never)).toThrow(/unknown schedule/);
    expect(() => coefficient(() => NaN).at({ step: 3, epoch: 0 })).toThrow(/step 3/);
    expect(() => primitive('hebbian' as never, 1)).toThrow(/unknown feedback primitive/);
    expect(() => resolveTerm({ primitive: 'amp' } as never)).toThrow(/needs a coefficient/);
    expect(resolveTerm({ primitive: 'null', coefficient: 2 }).toJSON()).toEqual({ primitive: 'null', coefficient: 2 });
  });
});
