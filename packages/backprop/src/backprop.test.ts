// Backprop equals TensorFlow.js autodiff of the same loss, for every activation and loss core ships, on
// networks of 1–4 layers, on the cpu and the wasm backend; and it passes the conformance suite.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients: autodiff (the reference) needs them
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activationFactories,
  builtinActivations,
  dense,
  lwta,
  randomSource,
  randomStream,
  resolveBackend,
  resolveLoss,
  sequential,
  stepContext,
  type Activation,
  type Network,
} from '@bioprop/core';
import { expectClose, runConformance } from '@bioprop/testing';
import { backprop } from './index.js';

// deterministic activations whose autodiff derivative is backprop's (lwta: the winner mask; argMax passes no gradient)
const EXACT_ACTIVATIONS = ['tanh', 'sigmoid', 'relu', 'relu6', 'softplus', 'linear', 'lwta'] as const;
const LOSSES = ['mse', 'softmaxCrossEntropy', 'sigmoidCrossEntropy', 'cauchy'] as const;
const DEPTHS = [1, 2, 3, 4] as const;
const CROSS_ENTROPIES = new Set<string>(['softmaxCrossEntropy', 'sigmoidCrossEntropy']);
const TOL = 1e-5;

const IN = 7;
// even widths: lwta competes in blocks of 2
const WIDTHS = [8, 6, 4];
const OUT = 4;
const N = 5;

const activationSpec = (act: string) => (act === 'lwta' ? lwta({ blockSize: 2 }) : act);

// every activation core ships is covered here: a new one must be added to the lists above
it('the tests cover every activation core ships', () => {
  const core = new Set([...Object.keys(builtinActivations), ...Object.keys(activationFactories)]);
  expect([...core].sort()).toEqual([...EXACT_ACTIVATIONS, 'sign', 'bernoulli'].sort());
});

/** `depth` dense layers: hidden ones use `act`; the last uses `act` too, except linear for the cross-entropies. */
function network(act: string, loss: string, depth: number, seed: number): Network {
  const widths = [...WIDTHS.slice(0, depth - 1), OUT];
  const last = CROSS_ENTROPIES.has(loss) ? 'linear' : act;
  return sequential({
    inputShape: [IN],
    layers: widths.map((units, i) => dense({ units, activation: activationSpec(i === widths.length - 1 ? last : act) })),
    seed,
  });
}

/** A seeded batch and targets fit for the loss: one-hot, binary multi-label, or real values. */
function batch(loss: string, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const r = randomStream(seed, 'backprop-test');
  const x = tf.tensor(r.normalArray(N * IN), [N, IN]);
  let y: Float32Array;
  if (loss === 'softmaxCrossEntropy') {
    y = new Float32Array(N * OUT);
    for (let s = 0; s < N; s++) y[s * OUT + Math.floor(r.next() * OUT)] = 1;
  } else if (loss === 'sigmoidCrossEntropy') {
    y = Float32Array.from({ length: N * OUT }, () => (r.next() < 0.5 ? 0 : 1));
  } else {
    y = r.normalArray(N * OUT, 0, 0.7);
  }
  return { x, y: tf.tensor(y, [N, OUT]) };
}

/** sign with the straight-through derivative `1_{|a|≤1}` as its gradient: what backprop is meant to use for sign units. */
const straightThroughSign = tf.customGrad((...args) => {
  const pre = args[0] as tf.Tensor;
  (args[1] as tf.GradSaveFunc)([pre]);
  return {
    value: tf.sign(pre),
    gradFunc: (dy, saved) => tf.mul(dy, tf.cast(tf.lessEqual(tf.abs(saved[0]), 1), 'float32')),
  };
}) as (a: tf.Tensor) => tf.Tensor;

/** Bernoulli units in autodiff: the value is the sample the trace drew, the gradient that of the mean, `σ'(a)`. */
const sampledBernoulli = (sample: tf.Tensor) =>
  tf.customGrad((...args) => {
    const pre = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([pre]);
    return {
      value: tf.clone(sample),
      gradFunc: (dy, saved) => {
        const p = tf.sigmoid(saved[0]);
        return tf.mul(dy, tf.mul(p, tf.sub(1, p)));
      },
    };
  }) as (a: tf.Tensor) => tf.Tensor;

/**
 * A layer's activation for autodiff: `activation.apply`, except sign (the straight-through surrogate when
 * `surrogateSign`) and bernoulli (the trace's sample, gradient of the mean).
 */
const applyFor = (act: Activation, surrogateSign: boolean, sample: tf.Tensor) => (a: tf.Tensor) => {
  if (act.name === 'sign' && surrogateSign) return straightThroughSign(a);
  if (act.name === 'bernoulli') return sampledBernoulli(sample)(a);
  return act.apply(a, { training: true });
};

interface Comparison {
  /** Per layer, per param: backprop's gradient and autodiff's. */
  grads: { name: string; bp: tf.Tensor; ref: tf.Tensor }[];
  /** Per layer: backprop's teaching signal δ_l and autodiff's ∂ℒ/∂a_l. */
  signals: { name: string; bp: tf.Tensor; ref: tf.Tensor }[];
}

/**
 * Backprop's step result next to `tf.grads` of the same loss, written as a function of the kernel and bias
 * tensors through `layer.linear` and `activation.apply`. Call inside `tf.tidy`.
 */
function compare(net: Network, lossName: string, x: tf.Tensor, y: tf.Tensor, surrogateSign: boolean): Comparison {
  const loss = resolveLoss(lossName);
  const random = randomSource(0);
  const bound = backprop().bind(net, random);
  const trace = net.forward(x, { training: true, random: random.stream('activations') });
  const result = bound.step(stepContext({ network: net, trace, target: y, loss, step: 0, epoch: 0, random }));

  const layers = net.layers;
  const keys = layers.map((l) => Object.keys(l.params).sort());
  const flat = layers.flatMap((l, i) => keys[i].map((k) => l.params[k] as tf.Tensor));
  const fromParams = (...ps: tf.Tensor[]) => {
    let h = x;
    let p = 0;
    layers.forEach((layer, i) => {
      const params: Record<string, tf.Tensor> = {};
      for (const k of keys[i]) params[k] = ps[p++];
      h = applyFor(layer.activation, surrogateSign, trace.layers[i].output)(layer.linear(h, params));
    });
    return loss.value(h, y) as tf.Scalar;
  };
  const refGrads = tf.grads(fromParams)(flat);

  // ∂ℒ/∂a_l: the rest of the network from the pre-activation a_l
  const fromPre = (l: number) => (a: tf.Tensor) => {
    let h = applyFor(layers[l].activation, surrogateSign, trace.layers[l].output)(a);
    for (let k = l + 1; k < layers.length; k++) h = applyFor(layers[k].activation, surrogateSign, trace.layers[k].output)(layers[k].linear(h));
    return loss.value(h, y) as tf.Scalar;
  };

  const grads: Comparison['grads'] = [];
  let p = 0;
  layers.forEach((_, l) => {
    for (const k of keys[l]) grads.push({ name: `layer ${l} ${k}`, bp: result.grads[l][k], ref: refGrads[p++] });
  });
  const signals = layers.map((_, l) => ({ name: `δ_${l}`, bp: result.signals[l], ref: tf.grad(fromPre(l))(trace.layers[l].pre) }));
  bound.dispose();
  return { grads, signals };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`backprop equals tf.grads of the same loss (${backend} backend, relative error ≤ ${TOL})`, () => {
    beforeAll(async () => {
      await resolveBackend(backend);
      expect(tf.getBackend()).toBe(backend);
    });

    for (const act of EXACT_ACTIVATIONS) {
      for (const lossName of LOSSES) {
        it.each(DEPTHS)(`${act}, ${lossName}, %i layer(s)`, (depth) => {
          const seed = 11 * depth + LOSSES.indexOf(lossName);
          const net = network(act, lossName, depth, seed);
          const { x, y } = batch(lossName, seed);
          const before = tf.memory().numTensors;
          tf.tidy(() => {
            const { grads, signals } = compare(net, lossName, x, y, false);
            for (const g of [...grads, ...signals]) expectClose(g.bp, g.ref, TOL, `${act}/${lossName}/${depth} layers: ${g.name}`);
          });
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([x, y]);
          net.dispose();
        });
      }
    }

    for (const lossName of LOSSES) {
      it.each(DEPTHS)(
        `sign (true derivative 0 a.e.): backprop uses the straight-through surrogate 1_{|a|≤1}, equal to autodiff through an STE sign; ${lossName}, %i layer(s)`,
        (depth) => {
          const seed = 101 * depth + LOSSES.indexOf(lossName);
          const net = network('sign', lossName, depth, seed);
          const { x, y } = batch(lossName, seed);
          tf.tidy(() => {
            const { grads, signals } = compare(net, lossName, x, y, true);
            for (const g of [...grads, ...signals]) expectClose(g.bp, g.ref, TOL, `sign/${lossName}/${depth} layers: ${g.name}`);
            // the layers under a sign unit get a non-zero gradient only thanks to the surrogate: autodiff through
            // tf.sign itself gives exactly zero there
            if (depth > 1) {
              const exact = compare(net, lossName, x, y, false);
              const first = exact.grads.find((g) => g.name === 'layer 0 kernel')!;
              expect(tf.max(tf.abs(first.ref)).dataSync()[0]).toBe(0);
              expect(tf.max(tf.abs(first.bp)).dataSync()[0]).toBeGreaterThan(0);
            }
          });
          tf.dispose([x, y]);
          net.dispose();
        },
      );
    }

    for (const lossName of LOSSES) {
      it.each(DEPTHS)(
        `bernoulli (stochastic): backprop passes σ'(a) through the sampled units, equal to autodiff with the same samples; ${lossName}, %i layer(s)`,
        (depth) => {
          const seed = 211 * depth + LOSSES.indexOf(lossName);
          const net = network('bernoulli', lossName, depth, seed);
          const { x, y } = batch(lossName, seed);
          tf.tidy(() => {
            const { grads, signals } = compare(net, lossName, x, y, false);
            for (const g of [...grads, ...signals]) expectClose(g.bp, g.ref, TOL, `bernoulli/${lossName}/${depth} layers: ${g.name}`);
          });
          tf.dispose([x, y]);
          net.dispose();
        },
      );
    }
  });
}

runConformance({ name: 'backprop', createRule: () => backprop() });
