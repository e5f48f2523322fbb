// Backprop equals TensorFlow.js autodiff of the same loss: for every activation and loss core ships, on dense
// networks of 1–4 layers, on the cpu and the wasm backend; and on the papers' architectures (LeNet-5, ResNet-20 with
// train-mode batch norm, Bartunov's locally connected nets). It passes the conformance suite on dense, conv and
// residual networks.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients: autodiff (the reference) needs them
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BatchNorm,
  OptionError,
  NETWORK_INPUT,
  activationFactories,
  builtinActivations,
  dense,
  isActivationModule,
  isKernelModule,
  lwta,
  preset,
  randomSource,
  randomStream,
  resolveBackend,
  resolveLoss,
  sequential,
  stepContext,
  type Activation,
  type ForwardTrace,
  type Loss,
  type Network,
  type Tensor,
} from '@bioprop/core';
import { expectClose, runConformance } from '@bioprop/testing';
import { backprop, backpropDefaults, backpropEntry, backpropOptions, rules } from './index.js';

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

it('the entry lists backprop for any graph', () => {
  expect(backpropEntry.id).toBe('bp');
  expect(backpropEntry.graphs).toBe('any');
  expect(backpropEntry.defaults).toBe(backpropDefaults);
  expect(rules).toEqual([backpropEntry]);
  expect(backprop().layerRule?.graphs).toBe('any');
});

it('has an options schema with no keys: factory and entry are one path, and any key is refused by name', () => {
  // the factory and the entry give the same options (none)
  expect(backprop().options).toEqual({});
  expect(backpropEntry.create().options).toEqual(backprop().options);
  expect(backpropEntry.create({}).options).toEqual(backprop({}).options);
  expect(() => backpropEntry.create({ lr: 0.1 })).toThrow(OptionError);
  expect(() => backpropEntry.create({ lr: 0.1 })).toThrow(/bp: unknown option "lr" \(known: none\)/);
  expect(() => backprop({ lr: 0.1 } as never)).toThrow(/bp: unknown option "lr"/);
  expect(() => backpropOptions.parse({ momentum: 0.9 }, 'bp')).toThrow(/unknown option "momentum"/);
  expect(() => backpropEntry.create(7)).toThrow(/bp must be an object/);
  // no options, so no defaults: the JSON Schema says exactly that
  expect(backpropEntry.options.toJSONSchema()).toEqual({ type: 'object', properties: {}, additionalProperties: false });
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
function batch(loss: string, seed: number, n = N, inShape: readonly number[] = [IN], out = OUT): { x: tf.Tensor; y: tf.Tensor } {
  const r = randomStream(seed, 'backprop-test');
  const x = tf.tensor(r.normalArray(n * inShape.reduce((a, b) => a * b, 1)), [n, ...inShape]);
  let y: Float32Array;
  if (loss === 'softmaxCrossEntropy') {
    y = new Float32Array(n * out);
    for (let s = 0; s < n; s++) y[s * out + Math.floor(r.next() * out)] = 1;
  } else if (loss === 'sigmoidCrossEntropy') {
    y = Float32Array.from({ length: n * out }, () => (r.next() < 0.5 ? 0 : 1));
  } else {
    y = r.normalArray(n * out, 0, 0.7);
  }
  return { x, y: tf.tensor(y, [n, out]) };
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
 * An activation module for autodiff: `activation.apply`, except sign (the straight-through surrogate when
 * `surrogateSign`) and bernoulli (the trace's sample, gradient of the mean).
 */
const unitFor = (surrogateSign: boolean) => (act: Activation, pre: tf.Tensor, sample: tf.Tensor) => {
  if (act.name === 'sign' && surrogateSign) return straightThroughSign(pre);
  if (act.name === 'bernoulli') return sampledBernoulli(sample)(pre);
  return act.apply(pre, { training: true });
};

interface Reference {
  /** `tf.grads` of the loss by `"<module name>/<param>"`, every trainable parameter of the network. */
  params: Record<string, tf.Tensor>;
  /** Per layer: `∂ℒ/∂a_l` at the kernel output. */
  pre: tf.Tensor[];
}

/**
 * `tf.grads` of the loss written through the network's own modules: kernels by `linear` on the parameters being
 * differentiated, batch norm in train mode with its statistics recomputed from its input (so autodiff goes through
 * them), activations by `unit`, every other module by its `replay` (the trace's dropout masks). A zero probe added
 * to every kernel output gives `∂ℒ/∂a_l` of every layer in the same call. Call inside `tf.tidy`.
 */
function autodiff(
  net: Network,
  trace: ForwardTrace,
  y: tf.Tensor,
  loss: Loss,
  unit: (act: Activation, pre: tf.Tensor, sample: tf.Tensor) => tf.Tensor = unitFor(false),
): Reference {
  const named = net.namedParams();
  const keys = Object.keys(named);
  const layerAt = new Map(net.topology.layers.map((t, l) => [t.block.start, l]));
  const probes = net.layers.map((_, l) => tf.zerosLike(trace.layers[l].pre));
  const f = (...ts: tf.Tensor[]) => {
    const values = Object.fromEntries(keys.map((k, i) => [k, ts[i]]));
    const probe = ts.slice(keys.length);
    const outs: tf.Tensor[] = [];
    const read = (ref: number) => (ref === NETWORK_INPUT ? trace.input : outs[ref]);
    for (const n of net.nodes) {
      const m = n.module;
      const inputs = n.inputs.map(read);
      const own = (p: string) => values[`${m.name}/${p}`];
      if (isKernelModule(m)) {
        const p = Object.fromEntries(Object.keys(m.params).map((k) => [k, own(k)]));
        outs.push(tf.add(m.linear(inputs[0], p), probe[layerAt.get(n.id)!]));
      } else if (m instanceof BatchNorm) {
        const x = inputs[0];
        const { mean, variance } = tf.moments(x, Array.from({ length: x.rank - 1 }, (_, i) => i));
        outs.push(tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, m.epsilon))), own('gamma')), own('beta')));
      } else if (isActivationModule(m)) {
        outs.push(unit(m.activation, inputs[0], trace.nodes[n.id].output));
      } else {
        outs.push(m.replay(inputs, trace.nodes[n.id]));
      }
    }
    return loss.value(outs[net.topology.output], y) as tf.Scalar;
  };
  const grads = tf.grads(f)([...keys.map((k) => named[k]), ...probes]);
  return { params: Object.fromEntries(keys.map((k, i) => [k, grads[i]])), pre: grads.slice(keys.length) };
}

interface Comparison {
  /** Per parameter (`"<module>/<param>"`): backprop's gradient and autodiff's. */
  grads: { name: string; bp: tf.Tensor; ref: tf.Tensor }[];
  /** Per layer: backprop's teaching signal δ_l and autodiff's ∂ℒ/∂a_l. */
  signals: { name: string; bp: tf.Tensor; ref: tf.Tensor }[];
}

/**
 * Backprop's step result next to `tf.grads` of the same loss on the same trace. Asserts that backprop returns a
 * gradient for every trainable parameter (kernels, biases, batch norm's γ and β) and nothing else. Call inside
 * `tf.tidy`.
 */
function compare(net: Network, lossName: string, x: tf.Tensor, y: tf.Tensor, surrogateSign = false): Comparison {
  const loss = resolveLoss(lossName);
  const random = randomSource(0);
  const bound = backprop().bind(net, random);
  const trace = net.forward(x, { training: true, random: random.stream('activations') });
  const result = bound.step(stepContext({ network: net, trace, target: y, loss, step: 0, epoch: 0, random }));
  const ref = autodiff(net, trace, y, loss, unitFor(surrogateSign));

  const ours: Record<string, tf.Tensor> = {};
  net.layers.forEach((layer, l) => {
    for (const [k, g] of Object.entries(result.grads[l])) ours[`${layer.name}/${k}`] = g;
  });
  for (const [m, g] of Object.entries(result.moduleGrads ?? {})) for (const [k, t] of Object.entries(g)) ours[`${m}/${k}`] = t;
  expect(Object.keys(ours).sort()).toEqual(Object.keys(ref.params).sort());
  const grads = Object.keys(ref.params).map((name) => ({ name, bp: ours[name], ref: ref.params[name] }));
  const signals = net.layers.map((layer, l) => ({ name: `δ_${l} (${layer.name})`, bp: result.signals[l], ref: ref.pre[l] }));
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
            const { grads, signals } = compare(net, lossName, x, y);
            expect(grads.length).toBe(2 * depth);
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
              const first = exact.grads.find((g) => g.name === `${net.layers[0].name}/kernel`)!;
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
            const { grads, signals } = compare(net, lossName, x, y);
            for (const g of [...grads, ...signals]) expectClose(g.bp, g.ref, TOL, `bernoulli/${lossName}/${depth} layers: ${g.name}`);
          });
          tf.dispose([x, y]);
          net.dispose();
        },
      );
    }
  });
}

// the autodiff reference through convolutions needs Conv2DBackpropFilter, which wasm lacks: these run on cpu
describe(`backprop equals tf.grads on the papers' architectures (cpu backend, relative error ≤ ${TOL})`, () => {
  beforeAll(async () => {
    await resolveBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  /** The preset's network, a seeded batch, and every gradient and teaching signal held to autodiff's. */
  function checkPreset(name: string, inputShape: number[], classes: number, lossName: string, n: number, seed: number) {
    const built = preset(name).build({ inputShape, classes });
    const net = sequential({ ...built, seed });
    const { x, y } = batch(lossName, seed, n, net.inputShape, classes);
    const before = tf.memory().numTensors;
    const counted = tf.tidy(() => {
      const { grads, signals } = compare(net, lossName, x, y);
      for (const g of [...grads, ...signals]) expectClose(g.bp, g.ref, TOL, `${name}: ${g.name}`);
      // a signal or gradient of zero would compare equal to anything small: these nets must carry real errors
      for (const g of [...grads, ...signals]) expect(tf.max(tf.abs(g.ref)).dataSync()[0], `${name}: ${g.name} is zero`).toBeGreaterThan(0);
      return { grads: grads.map((g) => g.name), signals: signals.length };
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    const layers = net.layers.map((l) => l.kind);
    net.dispose();
    return { ...counted, layers };
  }

  it('lenet5 (28×28×1 zero-padded to 32×32: conv, relu, max pooling, flatten, dense), softmax cross-entropy', () => {
    const r = checkPreset('lenet5', [28, 28, 1], 10, 'softmaxCrossEntropy', 3, 5);
    expect(r.layers).toEqual(['conv2d', 'conv2d', 'conv2d', 'dense', 'dense']);
    expect(r.grads.length).toBe(10);
    expect(r.signals).toBe(5);
  });

  it('resnet20, full size (32×32×3, 16-32-64 filters), train-mode batch norm, projection shortcuts: every kernel, γ and β', () => {
    const r = checkPreset('resnet20', [32, 32, 3], 10, 'softmaxCrossEntropy', 2, 6);
    // 19 bias-free 3×3 convolutions, 2 projection 1×1 convolutions, the dense classifier
    expect(r.layers.filter((k) => k === 'conv2d').length).toBe(21);
    expect(r.signals).toBe(22);
    // every convolution is followed by a batch norm: 21 γ and 21 β, 21 kernels, the dense kernel and bias
    expect(r.grads.filter((g) => g.endsWith('/gamma')).length).toBe(21);
    expect(r.grads.filter((g) => g.endsWith('/beta')).length).toBe(21);
    expect(r.grads.length).toBe(21 * 3 + 2);
  });

  it('bartunov-lc-mnist (locally connected 3×3 s2 ×2, fc 1024, tanh), softmax cross-entropy', () => {
    const r = checkPreset('bartunov-lc-mnist', [28, 28, 1], 10, 'softmaxCrossEntropy', 2, 7);
    expect(r.layers).toEqual(['locallyConnected2d', 'locallyConnected2d', 'dense', 'dense']);
    expect(r.grads.length).toBe(8);
  });

  it('bartunov-lc-cifar (locally connected 5×5 s2, 5×5 s2, 3×3, fc 1024, tanh), MSE', () => {
    const r = checkPreset('bartunov-lc-cifar', [32, 32, 3], 10, 'mse', 2, 8);
    expect(r.layers).toEqual(['locallyConnected2d', 'locallyConnected2d', 'locallyConnected2d', 'dense', 'dense']);
    expect(r.grads.length).toBe(10);
  });
});

runConformance({ name: 'backprop', createRule: () => backprop() });

runConformance({
  name: 'backprop on lenet5 (28×28×1)',
  createRule: () => backprop(),
  network: (seed) => sequential({ ...preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 }), seed }),
});

runConformance({
  name: 'backprop on resnet20-tiny (8×8×3, batch norm, residual blocks)',
  createRule: () => backprop(),
  network: (seed) => sequential({ ...preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 5 }), seed }),
});
