import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import {
  OptionError,
  conv2d,
  createTrainer,
  dense,
  flatten,
  linear,
  locallyConnected2d,
  maxPool2d,
  preset,
  randomStream,
  resolveBackend,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  tanh,
  type LayerSpec,
  type LocallyConnected2dLayer,
  type Network,
  type Tensor,
  type VariableMap,
} from '@bioprop/core';
import { loadDigits } from '@bioprop/datasets';
import { relativeError } from '@bioprop/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUX_PROJECTION,
  INVERSE_AUX_KERNEL,
  INVERSE_BIAS,
  INVERSE_KERNEL,
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  blockAdjoint,
  differenceTargetPropagation,
  inverseForward,
  inverseGrads,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
  type InverseMap,
} from './index.js';

const randn = (shape: number[], seed: number, std = 1): Tensor => tf.tensor(randomStream(seed, 'x').normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape);

/**
 * `tanh(Lᵀ(u; V) + c)` for a locally connected layer, written without the layer's scatter (which has no
 * autodiff gradient in TensorFlow.js): per-location products, then a dense 0/1 matrix puts patch entries on pixels.
 */
function transposedLcReference(layer: LocallyConnected2dLayer, u: Tensor, v: Tensor, c: Tensor): Tensor {
  const g = layer.geometry;
  const n = u.shape[0];
  const p = g.outH * g.outW;
  const taps = g.kh * g.kw;
  const select = new Float32Array(g.inH * g.inW * p * taps);
  g.indices.forEach((pixel, row) => {
    if (pixel < g.inH * g.inW) select[pixel * p * taps + row] = 1;
  });
  const uPNF = tf.transpose(tf.reshape(u, [n, p, layer.filters]), [1, 0, 2]);
  const patches = tf.matMul(uPNF, tf.transpose(v, [0, 2, 1])); // [P, N, taps·C]
  const rows = tf.reshape(tf.transpose(tf.reshape(patches, [p, n, taps, g.inC]), [0, 2, 1, 3]), [p * taps, n * g.inC]);
  const image = tf.matMul(tf.tensor2d(select, [g.inH * g.inW, p * taps]), rows);
  const nhwc = tf.transpose(tf.reshape(image, [g.inH, g.inW, n, g.inC]), [2, 0, 1, 3]);
  return tf.tanh(tf.add(nhwc, c));
}

describe('the inverse loss gradient equals autodiff (cpu backend: wasm lacks Conv2DBackpropFilter)', () => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await resolveBackend('cpu');
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  const cases: [string, LayerSpec[], number[], boolean][] = [
    ['dense', [dense({ units: 6, activation: 'tanh' })], [7], false],
    ['dense with auxiliary features (AO-SDTP top)', [dense({ units: 4 })], [7], true],
    ['conv2d', [conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' })], [6, 5, 2], false],
    ['locallyConnected2d', [locallyConnected2d({ filters: 3, kernelSize: [3, 2], strides: 2, padding: 'same', activation: 'tanh' })], [6, 5, 2], false],
    // lenet5's block: the inverse first unpools h_l through the trace's maxima, then the transposed convolution
    ['conv2d → relu → max pooling → flatten', [conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }), maxPool2d(2), flatten()], [8, 7, 2], false],
  ];

  it.each(cases)('%s', (_name, specs, inputShape, aux) => {
    const network = sequential({ inputShape, layers: specs, seed: 1 });
    const layer = network.layers[0];
    tf.tidy(() => {
      const n = 3;
      const trace = network.forward(randn([n, ...inputShape], 8), { training: false });
      const weights: Record<string, Tensor> = {
        [INVERSE_KERNEL]: randn(layer.params.kernel.shape, 2, 0.3),
        [INVERSE_BIAS]: randn([...layer.inputShape], 3, 0.1),
        ...(aux ? { [INVERSE_AUX_KERNEL]: randn([7, 5], 4, 0.3) } : {}),
      };
      const inv: InverseMap = { layer, activation: tanh, weights, trace };
      const target = tf.tanh(randn([n, ...inputShape], 5));
      const u = randn([n, ...layer.blockOutputShape], 6);
      const z = aux ? randn([n, 5], 7) : undefined;
      const { grads, loss } = inverseGrads(inv, target, u, z);
      const lossOf = (k: Tensor, c: Tensor, kz?: Tensor) => {
        const w = { [INVERSE_KERNEL]: k, [INVERSE_BIAS]: c, ...(kz ? { [INVERSE_AUX_KERNEL]: kz } : {}) };
        const out =
          layer.kind === 'locallyConnected2d'
            ? transposedLcReference(layer.kernel as unknown as LocallyConnected2dLayer, u, k, c)
            : inverseForward({ ...inv, weights: w }, u, z).out;
        return tf.div(tf.sum(tf.square(tf.sub(out, target))), 2 * n) as tf.Scalar;
      };
      const vars = [weights[INVERSE_KERNEL], weights[INVERSE_BIAS], ...(aux ? [weights[INVERSE_AUX_KERNEL]] : [])];
      const auto = tf.grads((...v: Tensor[]) => lossOf(v[0], v[1], v[2]))(vars);
      expect(relativeError(loss, lossOf(vars[0], vars[1], vars[2]))).toBeLessThan(1e-6);
      expect(relativeError(grads[INVERSE_KERNEL], auto[0])).toBeLessThan(1e-5);
      expect(relativeError(grads[INVERSE_BIAS], auto[1])).toBeLessThan(1e-5);
      if (aux) expect(relativeError(grads[INVERSE_AUX_KERNEL], auto[2])).toBeLessThan(1e-5);
    });
    network.dispose();
  });
});

describe('the inverse through a block', () => {
  beforeAll(async () => {
    await resolveBackend('wasm');
  });

  const bits = (t: Tensor) => Array.from(t.dataSync());

  it.each([
    ['dense tanh', [dense({ units: 6, activation: 'tanh' })], [7], tanh],
    ['dense, linear (no block)', [dense({ units: 6 })], [7], linear],
    ['locallyConnected2d tanh', [locallyConnected2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' })], [6, 5, 2], tanh],
  ] as const)('%s: the block adjoint is u itself, g(u) = σ(Lᵀ(u; V) + c) and f(x) = σ(L(x)) bit for bit', (_name, specs, inputShape, sigma) => {
    const network = sequential({ inputShape: [...inputShape], layers: [...specs], seed: 2 });
    const layer = network.layers[0];
    tf.tidy(() => {
      const n = 4;
      const x = randn([n, ...inputShape], 1);
      const trace = network.forward(x, { training: true });
      const weights = { [INVERSE_KERNEL]: randn(layer.params.kernel.shape, 2, 0.3), [INVERSE_BIAS]: randn([...layer.inputShape], 3, 0.1) };
      const inv: InverseMap = { layer, activation: tanh, weights, trace };
      const u = randn([n, ...layer.blockOutputShape], 4);
      expect(bits(blockAdjoint(inv, u))).toEqual(bits(u));
      const plain = tf.tanh(tf.add(tf.reshape(layer.backwardInput(u, weights[INVERSE_KERNEL]), [n, ...layer.inputShape]), weights[INVERSE_BIAS]));
      expect(bits(inverseForward(inv, u).out)).toEqual(bits(plain));
      const y = randn([n, ...inputShape], 5);
      expect(bits(layer.blockReplay(trace, layer.linear(y)))).toEqual(bits(sigma.apply(layer.linear(y), { training: false })));
    });
    network.dispose();
  });

});

// cpu: wasm's MaxPoolGrad kernel (tfjs 4.22) misroutes windows whose maximum is ≤ 0, which tanh produces
describe('the inverse through a max-pooling block (cpu backend)', () => {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await resolveBackend('cpu');
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  const bits = (t: Tensor) => Array.from(t.dataSync());

  it('the adjoint puts each value at its window’s maximum in the trace (zeros elsewhere), flatten reshapes, tanh is skipped', () => {
    // tanh before the pooling keeps the window maxima unique (relu would tie at 0)
    const network = sequential({ inputShape: [6, 6, 1], layers: [conv2d({ filters: 2, kernelSize: 3, activation: 'tanh' }), maxPool2d(2), flatten()], seed: 3 });
    const layer = network.layers[0];
    expect(layer.outputShape).toEqual([4, 4, 2]);
    expect(layer.blockOutputShape).toEqual([8]);
    tf.tidy(() => {
      const n = 2;
      const trace = network.forward(randn([n, 6, 6, 1], 6), { training: true });
      const pooled = tf.tanh(trace.layers[0].pre).arraySync() as number[][][][];
      const u = randn([n, 8], 7);
      const uv = u.arraySync() as number[][];
      const want = new Float32Array(n * 4 * 4 * 2);
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 2; j++) {
            for (let c = 0; c < 2; c++) {
              let best = [2 * i, 2 * j];
              for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
                if (pooled[b][2 * i + di][2 * j + dj][c] > pooled[b][best[0]][best[1]][c]) best = [2 * i + di, 2 * j + dj];
              }
              want[((b * 4 + best[0]) * 4 + best[1]) * 2 + c] = uv[b][(i * 2 + j) * 2 + c];
            }
          }
        }
      }
      const got = blockAdjoint({ layer, activation: tanh, weights: {}, trace }, u);
      expect(got.shape).toEqual([n, 4, 4, 2]);
      expect(bits(got)).toEqual(Array.from(want));
    });
    network.dispose();
  });
});

describe('inverse training on real data (digits, wasm)', () => {
  beforeAll(async () => {
    await resolveBackend('wasm');
  });

  /** `mean ½‖h_{l-1} − g_l(f_l(h_{l-1}))‖²` for layer `l` on a batch, with the rule's current inverse. */
  function reconstruction(network: Network, state: VariableMap, l: number, x: Tensor): number {
    return tf.tidy(() => {
      const trace = network.forward(x, { training: false });
      const weights = { [INVERSE_KERNEL]: state[`layer${l}/${INVERSE_KERNEL}`], [INVERSE_BIAS]: state[`layer${l}/${INVERSE_BIAS}`] };
      const g = inverseForward({ layer: network.layers[l], activation: network.layers[l - 1].activation, weights, trace }, trace.layers[l].output).out;
      return tf.div(tf.sum(tf.square(tf.sub(g, trace.layers[l - 1].output))), 2 * x.shape[0]).dataSync()[0];
    });
  }

  /** Train only the inverses (the forward optimizer has lr 0) for one epoch; return each layer's error before/after. */
  async function trainInverses(
    network: Network,
    samples: number,
    flatten: boolean,
    inverseLr: number,
    layers: readonly number[] = [1],
  ): Promise<{ before: number[]; after: number[]; forwardMoved: number }> {
    const data = await loadDigits({ limitTrain: samples, limitTest: 300, flatten });
    const trainer = createTrainer({
      network,
      rule: differenceTargetPropagation({ noise: 0.1, inverseOptimizer: { name: 'adam', lr: inverseLr } }),
      loss: softmaxCrossEntropyLoss(),
      optimizer: sgd({ lr: 0 }),
      seed: 7,
    });
    const x = tf.tensor(data.test.x, [data.test.count, ...network.inputShape]);
    const w0 = network.layers[1].params.kernel.clone();
    const before = layers.map((l) => reconstruction(network, trainer.boundRule.state(), l, x));
    await trainer.fit(data.train, { epochs: 1, batchSize: 64 });
    const after = layers.map((l) => reconstruction(network, trainer.boundRule.state(), l, x));
    const forwardMoved = tf.tidy(() => tf.max(tf.abs(tf.sub(w0, network.layers[1].params.kernel))).dataSync()[0]);
    tf.dispose([x, w0]);
    trainer.dispose();
    network.dispose();
    return { before, after, forwardMoved };
  }

  it('dense 784-256-256-10: g(f(h)) reconstructs h at least 5× better than at init (held-out digits)', async () => {
    const network = sequential({ inputShape: [784], seed: 7, layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })] });
    const r = await trainInverses(network, 3000, true, 3e-3);
    console.log(`dense inverse reconstruction: ${r.before[0].toFixed(3)} → ${r.after[0].toFixed(3)} (${(r.before[0] / r.after[0]).toFixed(1)}×)`);
    expect(r.forwardMoved).toBe(0);
    expect(r.before[0] / r.after[0]).toBeGreaterThanOrEqual(5);
  });

  it('locally connected (3×3,8,s2),(3×3,16,s2),FC: the transposed-LC inverse reconstructs at least 5× better', async () => {
    const network = sequential({
      inputShape: [28, 28, 1],
      seed: 7,
      layers: [
        locallyConnected2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
        locallyConnected2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
        dense({ units: 10 }),
      ],
    });
    // 7·7·16 = 784 units reconstruct 14·14·8 = 1568: a compressive inverse cannot be exact
    const r = await trainInverses(network, 1280, false, 1e-2);
    console.log(`LC inverse reconstruction: ${r.before[0].toFixed(3)} → ${r.after[0].toFixed(3)} (${(r.before[0] / r.after[0]).toFixed(1)}×)`);
    expect(r.forwardMoved).toBe(0);
    expect(r.before[0] / r.after[0]).toBeGreaterThanOrEqual(5);
  });

  it('lenet5: the inverses of the max-pooling block (conv 16@5×5 → relu → pool) and of the flatten block reconstruct at least 4× better', async () => {
    const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
    const network = sequential({ inputShape, layers, seed: 7 });
    // layer 1 unpools [5, 5, 16] to [10, 10, 16] before its transposed convolution to h_0 = [14, 14, 6]
    expect(network.layers[1].block.map((s) => s.module.kind)).toEqual(['activation', 'maxPool2d']);
    expect(network.layers[2].block.map((s) => s.module.kind)).toEqual(['activation', 'flatten']);
    const r = await trainInverses(network, 1280, false, 1e-2, [1, 2]);
    for (const [i, l] of [1, 2].entries()) {
      console.log(`lenet5 layer ${l} inverse reconstruction: ${r.before[i].toFixed(3)} → ${r.after[i].toFixed(3)} (${(r.before[i] / r.after[i]).toFixed(1)}×)`);
    }
    // measured: 21.3 → 4.1 (5.2×) for the pooling block, 4.7 → 1.0 (4.8×) for the flatten block
    expect(r.forwardMoved).toBe(0);
    expect(r.before[0] / r.after[0]).toBeGreaterThanOrEqual(4);
    expect(r.before[1] / r.after[1]).toBeGreaterThanOrEqual(4);
  });
});

describe('rule state, schedules and options', () => {
  beforeAll(async () => {
    await resolveBackend('wasm');
  });

  const small = () =>
    sequential({ inputShape: [6], seed: 2, layers: [dense({ units: 5, activation: 'tanh' }), dense({ units: 4, activation: 'tanh' }), dense({ units: 3 })] });
  const batch = () => [randn([8, 6], 9), tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3), 'float32')] as const;
  const snapshot = (vars: VariableMap) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from(v.dataSync())]));

  it('state holds the inverse weights and their own optimizer’s slots (its step count in the meta), with stable keys', () => {
    const network = small();
    const trainer = createTrainer({ network, rule: simplifiedDifferenceTargetPropagation(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 1 });
    const keys = Object.keys(trainer.boundRule.state()).sort();
    const layerKeys = (l: number) => [
      `layer${l}/inverseBias`,
      `layer${l}/inverseKernel`,
      `layer${l}/optimizers/inverse/m/inverseBias`,
      `layer${l}/optimizers/inverse/m/inverseKernel`,
      `layer${l}/optimizers/inverse/v/inverseBias`,
      `layer${l}/optimizers/inverse/v/inverseKernel`,
    ];
    expect(keys).toEqual([...layerKeys(1), ...layerKeys(2)].sort());
    expect([...trainer.boundRule.learned()].sort()).toEqual(['layer1/inverseBias', 'layer1/inverseKernel', 'layer2/inverseBias', 'layer2/inverseKernel']);
    // the inverse of layer 2 maps the softmax space (3) back to h_1 (4): kernel in the forward kernel's layout
    expect(trainer.boundRule.state()['layer2/inverseKernel'].shape).toEqual([4, 3]);
    expect(trainer.boundRule.feedbackWeights(2)).toBe(trainer.boundRule.state()['layer2/inverseKernel']);
    expect(trainer.boundRule.feedbackWeights(0)).toBeNull();
    const [x, y] = batch();
    trainer.step(x, y);
    trainer.step(x, y);
    const state = trainer.boundRule.state();
    expect(Object.keys(state).sort()).toEqual(keys);
    expect(trainer.boundRule.getMeta()).toEqual({ layers: [null, { meta: null, optimizers: { inverse: { steps: 2 } } }, { meta: null, optimizers: { inverse: { steps: 2 } } }] });
    // the trainer's optimizer (sgd) has no slots: the inverse optimizer is a separate instance
    expect(Object.keys(trainer.optimizer.slots())).toEqual([]);
    expect(tf.max(tf.abs(state['layer1/optimizers/inverse/m/inverseKernel'])).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, y]);
    trainer.dispose();
    network.dispose();
  });

  it('AO-SDTP keeps a fixed random projection (never trained) and a trained auxiliary inverse kernel', () => {
    const network = small();
    const trainer = createTrainer({ network, rule: auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 9 }), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 1 });
    const before = snapshot(trainer.boundRule.state());
    expect(before[`layer2/${AUX_PROJECTION}`].length).toBe(4 * 9);
    expect(trainer.boundRule.state()[`layer2/${INVERSE_AUX_KERNEL}`].shape).toEqual([4, 9]);
    // update noise perturbs learned state only: R is not among it
    expect(trainer.boundRule.learned()).toContain(`layer2/${INVERSE_AUX_KERNEL}`);
    expect(trainer.boundRule.learned()).not.toContain(`layer2/${AUX_PROJECTION}`);
    const [x, y] = batch();
    trainer.step(x, y);
    const after = snapshot(trainer.boundRule.state());
    expect(after[`layer2/${AUX_PROJECTION}`]).toEqual(before[`layer2/${AUX_PROJECTION}`]);
    expect(after[`layer2/${INVERSE_AUX_KERNEL}`]).not.toEqual(before[`layer2/${INVERSE_AUX_KERNEL}`]);
    tf.dispose([x, y]);
    trainer.dispose();
    network.dispose();
  });

  it('alternating schedule: even epochs train the forward weights only, odd epochs the inverses only', async () => {
    const network = small();
    const trainer = createTrainer({ network, rule: differenceTargetPropagation({ schedule: 'alternating' }), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 1 });
    const data = { x: randn([32, 6], 3).dataSync() as Float32Array, y: new Float32Array(32 * 3).map((_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), count: 32, sampleShape: [6], targetShape: [3] };
    const forward = () => snapshot(network.namedParams());
    const inverse = () => snapshot(trainer.boundRule.state());
    const f0 = forward();
    const i0 = inverse();
    await trainer.fit(data, { epochs: 1, batchSize: 16 });
    const f1 = forward();
    const i1 = inverse();
    expect(f1).not.toEqual(f0);
    expect(i1).toEqual(i0);
    await trainer.fit(data, { epochs: 2, batchSize: 16 });
    expect(forward()).toEqual(f1);
    expect(inverse()).not.toEqual(i1);
    trainer.dispose();
    network.dispose();
  });

  it('validates options at the boundary, messages naming the rule and the option', () => {
    expect(() => differenceTargetPropagation({ alpha: -1 })).toThrow(/dtp\.alpha must be a number ≥ 0, got -1/);
    expect(() => differenceTargetPropagation({ nosie: 0.1 } as never)).toThrow(/dtp: unknown option "nosie"/);
    expect(() => targetPropagation({ schedule: 'sometimes' as never })).toThrow(/tp\.schedule must be one of 'parallel', 'alternating'/);
    expect(() => simplifiedDifferenceTargetPropagation({ inverseOptimizer: { name: 'lion' as never, lr: 1 } })).toThrow(/sdtp\.inverseOptimizer\.name must be one of 'sgd'/);
    expect(() => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 2.5 })).toThrow(/ao-sdtp\.auxUnits must be an integer ≥ 1/);
    // auxUnits is AO-SDTP's own option: the other rules' schemas do not know it
    expect(() => differenceTargetPropagation({ auxUnits: 64 } as never)).toThrow(/dtp: unknown option "auxUnits"/);
    expect(() => differenceTargetPropagation({ noise: Number.NaN })).toThrow(OptionError);
    expect(() => differenceTargetPropagation({ inverseInit: 'xavier' as never })).toThrow(/dtp\.inverseInit must be one of 'glorot', 'zero', 'fanInUniform'/);
    expect(differenceTargetPropagation({ alpha: 0.2 }).options).toMatchObject({ alpha: 0.2, schedule: 'parallel' });
  });
});
