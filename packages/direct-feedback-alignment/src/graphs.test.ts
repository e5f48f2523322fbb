// Direct feedback alignment on graphs of modules: D_l projects e onto each layer's block output, and the projection
// crosses the block (max pooling, flatten, batch norm, residual add, activations) by its exact VJPs.
import * as tf from '@tensorflow/tfjs-core';
// the autodiff reference below differentiates tf.maxPool
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  preset,
  randomSource,
  resolveBackend,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  type BoundRule,
  type Network,
  type Tensor,
} from '@bioprop/core';
import { expectClose, runConformance } from '@bioprop/testing';
import { DIRECT_FEEDBACK_KEY, dfaDefaults, directFeedbackAlignment } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const lenet5 = (seed: number): Network => sequential({ ...preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }), seed });
const resnetTiny = (seed: number): Network => sequential({ ...preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 5 }), seed });

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function batch(network: Network, seed: number, n: number): [Tensor, Tensor] {
  const s = randomSource(seed).stream('data');
  const classes = size(network.outputShape);
  const x = tf.tensor(s.normalArray(n * size(network.inputShape)), [n, ...network.inputShape]);
  const labels = Array.from({ length: n }, () => Math.floor(s.next() * classes));
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32'));
  return [x, y];
}

/** One DFA step on a training-mode forward pass, inside `tf.tidy`. */
function withStep<T>(network: Network, bound: BoundRule, x: Tensor, y: Tensor, fn: (ctx: ReturnType<typeof stepContext>, r: ReturnType<BoundRule['step']>) => T): T {
  return tf.tidy(() => {
    const random = randomSource(0);
    const trace = network.forward(x, { training: true, random: random.stream('forward') });
    const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random });
    return fn(ctx, bound.step(ctx)) as never;
  });
}

/** `reshape(e·D_l)` at layer l's block output. */
function projected(bound: BoundRule, ctx: ReturnType<typeof stepContext>, l: number): Tensor {
  const e = ctx.outputError;
  const d = bound.state()[`layer${l}/${DIRECT_FEEDBACK_KEY}`];
  return tf.reshape(tf.matMul(tf.reshape(e, [e.shape[0], -1]), d), ctx.trace.layers[l].output.shape);
}

describe('direct feedback alignment on lenet5 (28×28×1, zero-padded; conv → relu → max pool)', () => {
  it('D_l spans the block output, and δ_l is e·D_l through the block’s VJP (pooling routes it), by hand and by autodiff', () => {
    const network = lenet5(4);
    const [x, y] = batch(network, 1, 4);
    const bound = directFeedbackAlignment().bind(network, randomSource(2));
    expect(network.outputLayer).toBe(4);
    // the block outputs: after pooling (14×14×6, 5×5×16), after flatten (120), the linear fc (84)
    expect([0, 1, 2, 3].map((l) => bound.state()[`layer${l}/${DIRECT_FEEDBACK_KEY}`].shape)).toEqual([
      [10, 14 * 14 * 6],
      [10, 5 * 5 * 16],
      [10, 120],
      [10, 84],
    ]);
    expect(bound.state()[`layer4/${DIRECT_FEEDBACK_KEY}`]).toBeUndefined();
    withStep(network, bound, x, y, (ctx, r) => {
      expectClose(r.signals[4], ctx.outputError, 0, 'δ_out = e');
      for (const l of [0, 1, 2, 3]) {
        const layer = network.layers[l];
        const t = ctx.trace.layers[l];
        const g = projected(bound, ctx, l);
        const viaBlock = layer.blockVjp(ctx.trace, g).delta;
        // autodiff of the block's forward map (relu, tf.maxPool, reshape) at a_l: independent of the modules' VJPs
        const viaAutodiff = layer.block.length === 0 ? g : tf.grad((a: Tensor) => layer.blockReplay(ctx.trace, a))(t.pre, g);
        expect(r.signals[l].shape).toEqual(t.pre.shape);
        expectClose(r.signals[l], viaBlock, 1e-6, `δ_${l} vs blockVjp`);
        expectClose(r.signals[l], viaAutodiff, 1e-5, `δ_${l} vs autodiff`);
        for (const [k, grad] of Object.entries(layer.paramGrads(t.input, viaBlock))) expectClose(r.grads[l][k], grad, 1e-5, `∇${k}_${l}`);
      }
      // 2×2 max pooling sends each window's signal to one of its four units: at most a quarter of δ_0 is non-zero
      const nonZero = tf.sum(tf.cast(tf.notEqual(r.signals[0], 0), 'float32')).dataSync()[0];
      expect(nonZero).toBeGreaterThan(0);
      expect(nonZero).toBeLessThanOrEqual(r.signals[0].size / 4);
      // the output kernel reads fc 84's output: its effective feedback is D_3ᵀ
      expectClose(bound.feedbackWeights(4)!, tf.transpose(bound.state()[`layer3/${DIRECT_FEEDBACK_KEY}`]), 0, 'B_out');
      for (const l of [0, 1, 2, 3]) expect(bound.feedbackWeights(l)).toBeNull();
    });
    bound.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });
});

describe('direct feedback alignment on resnet20-tiny (8×8×3, batch norm, identity and projection shortcuts)', () => {
  it('every hidden kernel gets e·D_l through its block; batch norm γ, β train on that signal (checked by hand for the stem)', () => {
    const network = resnetTiny(3);
    const [x, y] = batch(network, 2, 4);
    const bound = directFeedbackAlignment().bind(network, randomSource(5));
    const L = network.layers.length;
    expect(L).toBe(22);
    expect(network.outputLayer).toBe(L - 1);
    const batchNorms = network.nodes.filter((n) => n.module.kind === 'batchNorm').map((n) => n.module.name);
    expect(batchNorms.length).toBe(21);
    withStep(network, bound, x, y, (ctx, r) => {
      expectClose(r.signals[L - 1], ctx.outputError, 0, 'δ_out = e');
      // every batch norm gets a gradient, and it is the one of its own layer's projection
      expect(Object.keys(r.moduleGrads ?? {}).sort()).toEqual([...batchNorms].sort());
      for (let l = 0; l < L - 1; l++) {
        const layer = network.layers[l];
        const hand = layer.blockVjp(ctx.trace, projected(bound, ctx, l));
        expectClose(r.signals[l], hand.delta, 1e-6, `δ_${l}`);
        for (const [m, g] of Object.entries(hand.params)) {
          for (const k of ['gamma', 'beta']) expectClose(r.moduleGrads![m][k], g[k], 1e-6, `${m}/${k}`);
        }
      }
      // the stem conv → batch norm → relu by hand: g = (e·D_0) ⊙ [h_0 > 0], ∂β = Σ g, ∂γ = Σ g ⊙ x̂
      const stem = ctx.trace.layers[0];
      const g = tf.mul(projected(bound, ctx, 0), tf.cast(tf.greater(stem.output, 0), 'float32'));
      const { mean, variance } = tf.moments(stem.pre, [0, 1, 2]);
      const xhat = tf.div(tf.sub(stem.pre, mean), tf.sqrt(tf.add(variance, 1e-5)));
      const bn = network.layers[0].block[0].module.name;
      expectClose(r.moduleGrads![bn].beta, tf.sum(g, [0, 1, 2]), 1e-5, `${bn}/beta by hand`);
      expectClose(r.moduleGrads![bn].gamma, tf.sum(tf.mul(g, xhat), [0, 1, 2]), 1e-4, `${bn}/gamma by hand`);
      // a projection block: two kernels share one block output, each with its own D
      const shared = network.topology.layers.flatMap((t, l) => network.topology.layers.filter((u, m) => m !== l && u.block.end === t.block.end).map(() => l));
      expect(shared.length).toBe(4);
      const [a, b] = shared;
      expect(network.layers[a].blockOutputShape).toEqual(network.layers[b].blockOutputShape);
      const da = bound.state()[`layer${a}/${DIRECT_FEEDBACK_KEY}`];
      const db = bound.state()[`layer${b}/${DIRECT_FEEDBACK_KEY}`];
      expect(da.shape).toEqual(db.shape);
      expect(Array.from(da.dataSync())).not.toEqual(Array.from(db.dataSync()));
      // the dense classifier reads global average pooling, the last block's output: its effective feedback is that block's Dᵀ
      const last = network.topology.layers.findIndex((t) => t.block.end === network.topology.layers[L - 1].input);
      expectClose(bound.feedbackWeights(L - 1)!, tf.transpose(bound.state()[`layer${last}/${DIRECT_FEEDBACK_KEY}`]), 0, 'B_out');
    });
    bound.dispose();
    network.dispose();
    tf.dispose([x, y]);
  });

  it('trains: every kernel and every batch norm moves, the loss stays finite, and no tensor leaks', () => {
    const trainer = createTrainer({ network: resnetTiny(1), rule: directFeedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.05 }), seed: 1 });
    const [x, y] = batch(trainer.network, 3, 8);
    const params = trainer.network.namedParams();
    const before = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v.dataSync())]));
    expect(Number.isFinite(trainer.step(x, y))).toBe(true);
    const n0 = tf.memory().numTensors;
    expect(Number.isFinite(trainer.step(x, y))).toBe(true);
    expect(tf.memory().numTensors).toBe(n0);
    for (const [k, v] of Object.entries(params)) expect(Array.from(v.dataSync()), k).not.toEqual(before[k]);
    trainer.dispose();
    trainer.network.dispose();
    tf.dispose([x, y]);
  });
});

// with the rule's tuned optimizer (Adam 1e-3): at the kit's default momentum 0.9, lr 0.05, DFA diverges on both nets
runConformance({
  name: 'direct feedback alignment, lenet5',
  createRule: () => directFeedbackAlignment(),
  network: lenet5,
  optimizer: dfaDefaults.optimizer,
  skip: {
    lossFalls:
      'DFA does not lower the loss of relu lenet5 on the kit’s Gaussian-noise task with any optimizer tried (Adam 1e-3: 2.28 → 2.91 in 64 steps; ' +
      'Adam 3e-5 … 1e-3, SGD, momentum, RMSprop all ≥ 0.99 of the initial loss); backprop reaches 0.79 there. README, "conv nets"',
  },
});
runConformance({ name: 'direct feedback alignment, resnet20-tiny', createRule: () => directFeedbackAlignment(), network: resnetTiny, optimizer: dfaDefaults.optimizer });
