import * as tf from '@tensorflow/tfjs-core';
import {
  activation,
  avgPool2d,
  backpropSignals,
  batchNorm,
  conv2d,
  dense,
  flatten,
  maxPool2d,
  layerwise,
  mseLoss,
  perLayer,
  preset,
  randomSource,
  resolveBackend,
  sequential,
  softmaxCrossEntropyLoss,
  stepContext,
  type LayerState,
  type Loss,
  type Network,
  type Rule,
  type StepContext,
  type Tensor,
  type TeachingSignal,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { relativeError } from '@bioprop/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  inverseForward,
  targetPropagation,
} from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const net = (): Network =>
  sequential({
    inputShape: [10],
    layers: [dense({ units: 9, activation: 'tanh' }), dense({ units: 8, activation: 'tanh' }), dense({ units: 7, activation: 'tanh' }), dense({ units: 4 })],
    seed: 3,
  });

const input = () => tf.tensor(randomSource(5).stream('x').normalArray(6 * 10), [6, 10]);
const labels = () => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4), 'float32');

/**
 * One step of a rule through core's layer-wise binding (inverse weights drawn from seed 11), recording the signal
 * every layer receives (`signals[l].target` is ĥ_l) and handing each layer's state to `keep` before it is freed.
 */
function walk(rule: Rule, network: Network, ctx: StepContext, keep?: (states: LayerState[]) => void): { signals: TeachingSignal[]; deltas: Tensor[] } {
  const inner = rule.layerRule!;
  const signals: TeachingSignal[] = [];
  const states: LayerState[] = [];
  const recording = layerwise({
    ...inner,
    step(c) {
      signals[c.index] = c.signal;
      states[c.index] = c.state;
      return inner.step(c);
    },
  });
  const bound = recording.bind(network, randomSource(11));
  try {
    const { signals: deltas } = bound.step(ctx);
    keep?.(states);
    return { signals, deltas: [...deltas] };
  } finally {
    bound.dispose();
  }
}

/** The step context of one batch, with the output target chosen by `targetOf(output)`. */
function contextFor(network: Network, loss: Loss, targetOf: (output: Tensor) => Tensor): StepContext {
  const trace = network.forward(input());
  return stepContext({ network, trace, target: targetOf(trace.output), loss, step: 0, epoch: 0, random: randomSource(13) });
}

const same = (a: Tensor, b: Tensor) => expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));

describe('the difference correction', () => {
  it('DTP: with the output target equal to the output (MSE), every target equals its activation, exactly', () => {
    const network = net();
    tf.tidy(() => {
      const ctx = contextFor(network, mseLoss(), (out) => out.clone());
      const { signals, deltas } = walk(differenceTargetPropagation(), network, ctx);
      for (let l = 0; l < 3; l++) same(signals[l].target ?? signals[l].gradOutput!, l === 2 ? tf.zerosLike(signals[l].gradOutput!) : ctx.trace.layers[l].output);
      for (const d of deltas) expect(tf.max(tf.abs(d)).dataSync()[0]).toBe(0);
    });
    network.dispose();
  });

  it('plain TP has no such fixed point: below the penultimate layer, targets leave the activations', () => {
    const network = net();
    tf.tidy(() => {
      const ctx = contextFor(network, mseLoss(), (out) => out.clone());
      const { signals, deltas } = walk(targetPropagation(), network, ctx);
      // the penultimate layer still gets the zero-error gradient step, so its δ vanishes
      expect(tf.max(tf.abs(deltas[2])).dataSync()[0]).toBe(0);
      for (const l of [0, 1]) {
        expect(relativeError(signals[l].target!, ctx.trace.layers[l].output)).toBeGreaterThan(0.1);
        expect(tf.max(tf.abs(deltas[l])).dataSync()[0]).toBeGreaterThan(0);
      }
    });
    network.dispose();
  });

  it.each([
    ['SDTP', () => simplifiedDifferenceTargetPropagation()],
    ['AO-SDTP', () => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 5 })],
  ])('%s: with ĥ_L = h_L every target equals its activation (softmax space and MSE)', (_name, create) => {
    const network = net();
    tf.tidy(() => {
      // cross-entropy: h_L = softmax(a_L), so the label distribution y = softmax(a_L) means ĥ_L = h_L
      for (const [loss, target] of [
        [softmaxCrossEntropyLoss(), (out: Tensor) => tf.softmax(out)],
        [mseLoss(), (out: Tensor) => out.clone()],
      ] as const) {
        const ctx = contextFor(network, loss, target);
        const { signals, deltas } = walk(create(), network, ctx);
        for (let l = 0; l < 3; l++) same(signals[l].target!, ctx.trace.layers[l].output);
        for (const d of deltas) expect(tf.max(tf.abs(d)).dataSync()[0]).toBe(0);
      }
      // and with one-hot labels the targets do move
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      const { signals } = walk(create(), network, ctx);
      for (let l = 0; l < 3; l++) expect(relativeError(signals[l].target!, ctx.trace.layers[l].output)).toBeGreaterThan(1e-3);
    });
    network.dispose();
  });
});

describe('the difference correction through blocks (lenet5: max pooling, flatten, a linear fc layer)', () => {
  const lenet = (): Network => {
    const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
    return sequential({ inputShape, layers, seed: 4 });
  };
  const images = () => tf.tensor(randomSource(6).stream('x').normalArray(3 * 784), [3, 28, 28, 1]);
  const lenetContext = (network: Network, loss: Loss, targetOf: (output: Tensor) => Tensor): StepContext => {
    const trace = network.forward(images());
    return stepContext({ network, trace, target: targetOf(trace.output), loss, step: 0, epoch: 0, random: randomSource(13) });
  };

  it.each([
    ['DTP (MSE, target = output)', () => differenceTargetPropagation(), mseLoss(), (out: Tensor) => out.clone()],
    ['SDTP (ĥ_L = softmax(a_L))', () => simplifiedDifferenceTargetPropagation(), softmaxCrossEntropyLoss(), (out: Tensor) => tf.softmax(out)],
    ['AO-SDTP (ĥ_L = softmax(a_L))', () => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 6 }), softmaxCrossEntropyLoss(), (out: Tensor) => tf.softmax(out)],
  ] as const)('%s: every target equals its block output, exactly, and every signal is zero', (_name, create, loss, targetOf) => {
    const network = lenet();
    tf.tidy(() => {
      const ctx = lenetContext(network, loss, targetOf);
      const { signals, deltas } = walk(create(), network, ctx);
      for (let l = 0; l < 4; l++) {
        if (signals[l].target) same(signals[l].target!, ctx.trace.layers[l].output);
        else same(signals[l].gradOutput!, tf.zerosLike(signals[l].gradOutput!));
      }
      // the max-pooling blocks' targets are targets for h_l, shaped like the pooled output
      expect(signals[0].target!.shape).toEqual([3, 14, 14, 6]);
      for (const d of deltas) expect(tf.max(tf.abs(d)).dataSync()[0]).toBe(0);
    });
    network.dispose();
  });

  it('DTP through batch norm and average pooling too (train-mode statistics, frozen as in the trace)', () => {
    const network = sequential({
      inputShape: [9, 9, 2],
      layers: [
        conv2d({ filters: 3, kernelSize: 3 }),
        batchNorm(),
        activation('tanh'),
        avgPool2d({ poolSize: 2, strides: 1 }),
        conv2d({ filters: 4, kernelSize: 3, strides: 2 }),
        batchNorm(),
        activation('relu'),
        maxPool2d(2),
        flatten(),
        dense({ units: 5, activation: 'tanh' }),
        dense({ units: 3 }),
      ],
      seed: 5,
    });
    tf.tidy(() => {
      const trace = network.forward(tf.tensor(randomSource(7).stream('x').normalArray(4 * 162), [4, 9, 9, 2]), { training: true });
      const ctx = stepContext({ network, trace, target: trace.output.clone(), loss: mseLoss(), step: 0, epoch: 0, random: randomSource(13) });
      const { signals, deltas } = walk(differenceTargetPropagation(), network, ctx);
      for (const l of [0, 1]) same(signals[l].target!, ctx.trace.layers[l].output);
      for (const d of deltas) expect(tf.max(tf.abs(d)).dataSync()[0]).toBe(0);
    });
    network.dispose();
  });

  it('plain TP has no such fixed point on lenet5 either', () => {
    const network = lenet();
    tf.tidy(() => {
      const ctx = lenetContext(network, mseLoss(), (out) => out.clone());
      const { signals, deltas } = walk(targetPropagation(), network, ctx);
      expect(tf.max(tf.abs(deltas[3])).dataSync()[0]).toBe(0);
      for (const l of [0, 1, 2]) {
        expect(relativeError(signals[l].target!, ctx.trace.layers[l].output)).toBeGreaterThan(0.1);
        expect(tf.max(tf.abs(deltas[l])).dataSync()[0]).toBeGreaterThan(0);
      }
    });
    network.dispose();
  });
});

describe('teaching signals in backprop’s convention', () => {
  it.each([
    ['DTP', () => differenceTargetPropagation({ alpha: 0.07 })],
    ['TP', () => targetPropagation({ alpha: 0.07 })],
  ])('%s: the top signal is e and the penultimate one is α·δ_BP (a per-sample gradient step)', (_name, create) => {
    const network = net();
    tf.tidy(() => {
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      const { deltas } = walk(create(), network, ctx);
      const bp = backpropSignals(network, ctx.trace, ctx);
      expect(relativeError(deltas[3], bp[3])).toBe(0);
      expect(relativeError(deltas[2], tf.mul(0.07, bp[2]))).toBeLessThan(1e-5);
      // lower layers: their own local loss, a genuinely different direction
      expect(relativeError(deltas[1], tf.mul(0.07, bp[1]))).toBeGreaterThan(1e-3);
    });
    network.dispose();
  });

  it('SDTP uses no gradient below the top: ĥ_{L-1} = h_{L-1} + g_L(y) − g_L(softmax(a_L))', () => {
    const network = net();
    tf.tidy(() => {
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      let expected: Tensor | undefined;
      // alternating, epoch 0: a forward epoch, so the inverse read afterwards is the one that made the target
      const { signals, deltas } = walk(simplifiedDifferenceTargetPropagation({ schedule: 'alternating' }), network, ctx, (states) => {
        const inv = { layer: network.layers[3], activation: network.layers[2].activation, weights: states[3].tensors, trace: ctx.trace };
        const g = (u: Tensor) => inverseForward(inv, u).out;
        expected = tf.keep(tf.add(ctx.trace.layers[2].output, tf.sub(g(ctx.target), g(tf.softmax(ctx.trace.output)))));
      });
      expect(signals[2].gradOutput).toBeUndefined();
      same(signals[2].target!, expected!);
      // the top still learns from the task loss, as in backprop
      expect(relativeError(deltas[3], ctx.outputError)).toBe(0);
    });
    network.dispose();
  });
});

describe('per-layer composition', () => {
  /** One step's signals and grads as flat arrays. */
  function stepOf(rule: Rule): { signals: number[][]; grads: number[][] } {
    const network = net();
    const bound = rule.bind(network, randomSource(11));
    const out = tf.tidy(() => {
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      const r = bound.step(ctx);
      return {
        signals: r.signals.map((s) => Array.from(s.dataSync())),
        grads: r.grads.map((g) => Object.keys(g).sort().flatMap((k) => Array.from(g[k].dataSync()))),
      };
    });
    bound.dispose();
    network.dispose();
    return out;
  }

  it('DTP’s top is backprop’s: perLayer({ default: dtp, top: backprop }) and perLayer([bp, dtp, dtp, dtp]) equal dtp', () => {
    const plain = stepOf(differenceTargetPropagation());
    expect(stepOf(perLayer({ default: differenceTargetPropagation(), layers: { 3: backprop() } }))).toEqual(plain);
    // backprop at the bottom layer turns the DTP target into the same local-loss δ
    expect(stepOf(perLayer([backprop(), differenceTargetPropagation(), differenceTargetPropagation(), differenceTargetPropagation()]))).toEqual(plain);
  });

  it('"DTP below, backprop above": a DTP layer under backprop forms its target by the gradient step', () => {
    const mixed = stepOf(perLayer({ default: differenceTargetPropagation({ alpha: 0.1 }), layers: { 2: backprop(), 3: backprop() } }));
    const network = net();
    const bp = tf.tidy(() => {
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      return backpropSignals(network, ctx.trace, ctx).map((s) => Array.from(s.dataSync()));
    });
    network.dispose();
    expect(mixed.signals[3]).toEqual(bp[3]);
    expect(mixed.signals[2]).toEqual(bp[2]);
    const scaled = tf.tensor(bp[1].map((v) => 0.1 * v));
    expect(relativeError(tf.tensor(mixed.signals[1]), scaled)).toBeLessThan(1e-5);
    scaled.dispose();
  });
});
