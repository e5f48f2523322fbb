import * as tf from '@tensorflow/tfjs-core';
import {
  backpropSignals,
  dense,
  mseLoss,
  perLayer,
  randomSource,
  resolveBackend,
  sequential,
  softmaxCrossEntropyLoss,
  stepContext,
  type Loss,
  type Network,
  type Rule,
  type StepContext,
  type Tensor,
  type TeachingSignal,
  type VariableMap,
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
 * Walk a rule's layer-wise spec top-down as the layer-wise binding does, recording the signal every layer
 * receives (`targets[l]` is ĥ_l), with inverse weights drawn from seed 11.
 */
function walk(rule: Rule, network: Network, ctx: StepContext, keep?: (states: VariableMap[]) => void): { signals: TeachingSignal[]; deltas: Tensor[] } {
  const spec = rule.layerwise!;
  const random = randomSource(11);
  const states = network.layers.map((layer, i) => spec.init?.(layer, i, network, random) ?? {});
  const L = network.layers.length;
  const signals: TeachingSignal[] = new Array(L);
  const deltas: Tensor[] = new Array(L);
  let signal: TeachingSignal = { gradOutput: ctx.gradOutput, target: ctx.target };
  for (let l = L - 1; l >= 0; l--) {
    signals[l] = signal;
    const r = spec.stepLayer({ ...ctx, index: l, layer: network.layers[l], layerTrace: ctx.trace.layers[l], signal, state: states[l], needBelow: l > 0 });
    deltas[l] = r.delta;
    signal = r.below ?? {};
  }
  keep?.(states);
  for (const s of states) for (const v of Object.values(s)) v.dispose();
  return { signals, deltas };
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

describe('teaching signals in backprop’s convention', () => {
  it.each([
    ['DTP', () => differenceTargetPropagation({ alpha: 0.07 })],
    ['TP', () => targetPropagation({ alpha: 0.07 })],
  ])('%s: the top signal is e and the penultimate one is α·δ_BP (a per-sample gradient step)', (_name, create) => {
    const network = net();
    tf.tidy(() => {
      const ctx = contextFor(network, softmaxCrossEntropyLoss(), () => labels());
      const { deltas } = walk(create(), network, ctx);
      const bp = backpropSignals(network, ctx.trace, ctx.outputError);
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
        const inv = { layer: network.layers[3], activation: network.layers[2].activation, state: states[3] };
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
      return backpropSignals(network, ctx.trace, ctx.outputError).map((s) => Array.from(s.dataSync()));
    });
    network.dispose();
    expect(mixed.signals[3]).toEqual(bp[3]);
    expect(mixed.signals[2]).toEqual(bp[2]);
    const scaled = tf.tensor(bp[1].map((v) => 0.1 * v));
    expect(relativeError(tf.tensor(mixed.signals[1]), scaled)).toBeLessThan(1e-5);
    scaled.dispose();
  });
});
