// The teaching pass over graphs: backprop through every module kind (pooling, batch norm, dropout, padding,
// residual adds with identity and projection shortcuts) equals tf.grads of the same loss, on the presets.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { relErr, testBackprop } from './test-utils.js';
import { activation } from './modules/activation.js';
import { avgPool2d, maxPool2d } from './modules/pooling.js';
import { batchNorm } from './modules/batch-norm.js';
import { dropout } from './modules/dropout.js';
import { residual } from './modules/residual.js';
import { flatten, globalAvgPool2d, zeroPad2d } from './modules/shape.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { NETWORK_INPUT, sequential } from './network.js';
import { networkFromConfig } from './config.js';
import { preset } from './presets.js';
import { resolveLoss } from './losses.js';
import { randomSource, randomStream } from './random.js';
import { backpropPass, layerwise, stepContext } from './rule.js';
import { RuleSupportError, ShapeError } from './errors.js';
import type { LayerSpec, Network, Tensor } from './types.js';

const TOL = 1e-5;

/**
 * tf.grads of the loss written through every module's own `replay` (the forward map with the trace's dropout masks
 * and, for batch norm, autodiff through the batch statistics recomputed from the input).
 */
function autodiff(net: Network, x: Tensor, y: Tensor, lossName: string, seed: number) {
  const loss = resolveLoss(lossName);
  const random = randomSource(seed);
  const trace = net.forward(x, { training: true, random: random.stream('forward') });
  const params = net.namedParams();
  const keys = Object.keys(params);
  const f = (...ps: Tensor[]) => {
    const values = Object.fromEntries(keys.map((k, i) => [k, ps[i]]));
    const outs: Tensor[] = [];
    const read = (ref: number) => (ref === NETWORK_INPUT ? x : outs[ref]);
    for (const n of net.nodes) {
      const m = n.module;
      const inputs = n.inputs.map(read);
      const own = (p: string) => values[`${m.name}/${p}`];
      if ('kernelName' in m) {
        const k = m as unknown as { linear(i: Tensor, p: Record<string, Tensor>): Tensor; params: Record<string, unknown> };
        const p: Record<string, Tensor> = {};
        for (const name of Object.keys(k.params)) p[name] = own(name);
        outs.push(k.linear(inputs[0], p));
      } else if (m.kind === 'batchNorm') {
        const axes = Array.from({ length: inputs[0].rank - 1 }, (_, i) => i);
        const { mean, variance } = tf.moments(inputs[0], axes);
        outs.push(tf.add(tf.mul(tf.div(tf.sub(inputs[0], mean), tf.sqrt(tf.add(variance, 1e-5))), own('gamma')), own('beta')));
      } else {
        outs.push(m.replay(inputs, trace.nodes[n.id]));
      }
    }
    return loss.value(outs[outs.length - 1], y) as tf.Scalar;
  };
  const grads = tf.grads(f)(keys.map((k) => params[k]));
  return { trace, keys, grads, loss, random };
}

function compare(net: Network, x: Tensor, y: Tensor, lossName: string, seed = 3) {
  tf.tidy(() => {
    const { trace, keys, grads, loss, random } = autodiff(net, x, y, lossName, seed);
    const ctx = stepContext({ network: net, trace, target: y, loss, step: 0, epoch: 0, random });
    const bound = testBackprop().bind(net, random);
    const result = bound.step(ctx);
    const ours: Record<string, Tensor> = {};
    net.layers.forEach((layer, l) => {
      for (const [k, g] of Object.entries(result.grads[l])) ours[`${layer.name}/${k}`] = g;
    });
    for (const [m, g] of Object.entries(result.moduleGrads ?? {})) for (const [k, t] of Object.entries(g)) ours[`${m}/${k}`] = t;
    expect(Object.keys(ours).sort()).toEqual([...keys].sort());
    keys.forEach((k, i) => expect(relErr(ours[k], grads[i]), k).toBeLessThan(TOL));
    // the reference pass diagnostics use is the same backprop
    const ref = backpropPass(net, trace, ctx);
    net.layers.forEach((_, l) => expect(relErr(ref.signals[l], result.signals[l])).toBe(0));
    bound.dispose();
  });
}

function batch(net: Network, n: number, classes: number, seed: number): [Tensor, Tensor] {
  const r = randomStream(seed, 'batch');
  const x = tf.tensor(r.normalArray(n * net.inputShape.reduce((a, b) => a * b, 1)), [n, ...net.inputShape]);
  const y = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) y[i * classes + Math.floor(r.next() * classes)] = 1;
  return [x, tf.tensor(y, [n, classes])];
}

// the autodiff reference needs Conv2DBackpropFilter, which wasm lacks: wasm is held to cpu's results below
describe('backprop on graphs equals tf.grads (cpu backend)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('every module kind in one chain: padding, conv, relu, max and average pooling, batch norm, dropout, flatten, dense', () => {
    const layers: LayerSpec[] = [
      zeroPad2d([[1, 0], [0, 2]]),
      conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      batchNorm(),
      maxPool2d(2),
      conv2d({ filters: 4, kernelSize: 2, padding: 'same' }),
      activation('relu'),
      avgPool2d({ poolSize: 2, strides: 1 }),
      dropout(0.3),
      flatten(),
      // no bias before batch norm: its gradient is exactly zero
      dense({ units: 6, useBias: false }),
      batchNorm(),
      activation('sigmoid'),
      dense({ units: 3 }),
    ];
    const net = sequential({ inputShape: [7, 6, 2], layers, seed: 4 });
    const [x, y] = batch(net, 5, 3, 1);
    compare(net, x, y, 'softmaxCrossEntropy');
    tf.dispose([x, y]);
    net.dispose();
  });

  it('residual blocks with identity and projection shortcuts (resnet20-tiny, train-mode batch norm)', () => {
    const { inputShape, layers } = preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 5 });
    const net = sequential({ inputShape, layers, seed: 2 });
    expect(net.topology.freePaths.length).toBe(7);
    const [x, y] = batch(net, 4, 5, 2);
    compare(net, x, y, 'softmaxCrossEntropy');
    tf.dispose([x, y]);
    net.dispose();
  });

  it('lenet5 on 28×28×1 (zero-padded to 32×32)', () => {
    const { inputShape, layers } = preset('lenet5').build({ inputShape: [784], classes: 10 });
    const net = sequential({ inputShape, layers, seed: 5 });
    expect(net.layers.map((l) => l.kind)).toEqual(['conv2d', 'conv2d', 'conv2d', 'dense', 'dense']);
    expect(net.layers[0].blockOutputShape).toEqual([14, 14, 6]);
    const [x, y] = batch(net, 3, 10, 3);
    compare(net, x, y, 'softmaxCrossEntropy');
    tf.dispose([x, y]);
    net.dispose();
  });

  it('bartunov-lc-mnist with MSE', () => {
    const { inputShape, layers } = preset('bartunov-lc-mnist').build({ inputShape: [28, 28, 1], classes: 10 });
    const net = sequential({ inputShape, layers, seed: 6 });
    const [x, y] = batch(net, 2, 10, 4);
    compare(net, x, y, 'mse');
    tf.dispose([x, y]);
    net.dispose();
  });
});

describe('the teaching pass on wasm', () => {
  it('gives cpu\'s gradients on resnet20-tiny, lenet5 and max pooling after tanh and batch norm (negative windows)', async () => {
    const negativePools = {
      inputShape: [6, 6, 2],
      layers: [
        conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }),
        maxPool2d(2),
        // no bias before batch norm: its gradient is exactly zero
        conv2d({ filters: 3, kernelSize: 2, useBias: false }),
        batchNorm(),
        maxPool2d({ poolSize: 2, strides: 1 }),
        dense({ units: 4 }),
      ],
    };
    for (const name of ['resnet20-tiny', 'lenet5', 'negative windows']) {
      const { inputShape, layers } =
        name === 'negative windows' ? negativePools : preset(name).build({ inputShape: name === 'lenet5' ? [28, 28, 1] : [8, 8, 2], classes: 4 });
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const net = sequential({ inputShape, layers, seed: 7 });
        const [x, y] = batch(net, 3, 4, 5);
        const out = tf.tidy(() => {
          const random = randomSource(1);
          const trace = net.forward(x, { training: true, random: random.stream('forward') });
          const ctx = stepContext({ network: net, trace, target: y, loss: resolveLoss('softmaxCrossEntropy'), step: 0, epoch: 0, random });
          const r = backpropPass(net, trace, ctx);
          return [...r.grads.flatMap((g) => Object.values(g)), ...Object.values(r.moduleGrads).flatMap((g) => Object.values(g))].map((t) =>
            Array.from(t.dataSync()),
          );
        });
        tf.dispose([x, y]);
        net.dispose();
        return out;
      };
      const cpu = await run('cpu');
      const wasm = await run('wasm');
      cpu.forEach((c, i) => {
        const e = relErr(tf.tensor(wasm[i]), tf.tensor(c));
        expect(e, `${name} gradient ${i}`).toBeLessThan(1e-4);
      });
    }
  });
});

describe('network graphs', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('a config rebuilds the same network (resnet20-tiny), and chains are told from graphs', () => {
    const { inputShape, layers } = preset('resnet20-tiny').build({ inputShape: [8, 8, 1], classes: 3 });
    const net = sequential({ inputShape, layers, seed: 1 });
    const again = networkFromConfig(JSON.parse(JSON.stringify(net.config())), { seed: 1 });
    expect(Object.keys(again.namedParams())).toEqual(Object.keys(net.namedParams()));
    for (const [k, v] of Object.entries(net.namedParams())) expect(Array.from(again.namedParams()[k].dataSync())).toEqual(Array.from(v.dataSync()));
    expect(net.chainBreak()?.kind).toBe('add');
    const lenet = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
    const chain = sequential({ inputShape: lenet.inputShape, layers: lenet.layers });
    expect(chain.chainBreak()).toBeNull();
    for (const n of [net, again, chain]) n.dispose();
  });

  it('a chain-only layer rule refuses a residual network, naming the add', () => {
    const net = sequential({ inputShape: [4], layers: [dense({ units: 4 }), residual({ body: [activation('tanh'), dense({ units: 4 })] }), dense({ units: 2 })] });
    const rule = testBackprop();
    const chainOnly = { ...rule.layerRule!, graphs: 'chain' as const };
    expect(() => ({ ...rule, layerRule: chainOnly }).bind(net, randomSource(0))).not.toThrow();
    expect(() => layerwise(chainOnly).bind(net, randomSource(0))).toThrow(RuleSupportError);
    expect(() => layerwise(chainOnly).bind(net, randomSource(0))).toThrow(/add_1 \(add\)/);
    net.dispose();
  });

  it('shape errors name the module', () => {
    expect(() => sequential({ inputShape: [10], layers: [maxPool2d(2)] })).toThrow(ShapeError);
    expect(() => sequential({ inputShape: [4, 4, 1], layers: [residual({ body: [conv2d({ filters: 2, kernelSize: 1 })] }), dense({ units: 2 })] })).toThrow(
      /body ends with shape \[4, 4, 2\] but the shortcut with \[4, 4, 1\]/,
    );
    expect(() => sequential({ inputShape: [4], layers: [activation('tanh')] })).toThrow(/kernel module/);
  });

  it('batch norm: running statistics move only on commit, inference uses them', () => {
    const net = sequential({ inputShape: [3], layers: [dense({ units: 3 }), batchNorm({ momentum: 0.5 })], seed: 1 });
    const x = tf.tensor([[1, 2, 3], [3, 0, 1], [0, 1, 5], [2, 2, 2]]);
    const bn = net.namedBuffers();
    tf.tidy(() => {
      const trace = net.forward(x, { training: true });
      expect(Array.from(bn['batchNorm_1/runningMean'].dataSync())).toEqual([0, 0, 0]);
      const a = trace.layers[0].pre;
      const mean = tf.mean(a, 0);
      const unbiased = tf.div(tf.sum(tf.square(tf.sub(a, mean)), 0), 3);
      net.commit(trace);
      expect(relErr(bn['batchNorm_1/runningMean'], tf.mul(0.5, mean))).toBeLessThan(1e-6);
      expect(relErr(bn['batchNorm_1/runningVar'], tf.add(0.5, tf.mul(0.5, unbiased)))).toBeLessThan(1e-6);
      const out = net.predict(x);
      const want = tf.div(tf.sub(a, bn['batchNorm_1/runningMean']), tf.sqrt(tf.add(bn['batchNorm_1/runningVar'], 1e-5)));
      expect(relErr(out, want)).toBeLessThan(1e-5);
    });
    x.dispose();
    net.dispose();
  });

  it('dropout: seeded masks in training, the identity in inference', () => {
    const net = sequential({ inputShape: [200], layers: [dense({ units: 200 }), dropout(0.25)], seed: 1 });
    const x = tf.ones([2, 200]);
    tf.tidy(() => {
      const a = net.forward(x, { training: true, random: randomStream(1, 'forward') }).output;
      const b = net.forward(x, { training: true, random: randomStream(1, 'forward') }).output;
      const c = net.forward(x, { training: true, random: randomStream(2, 'forward') }).output;
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
      const pre = net.forward(x, { training: false }).layers[0].pre;
      const kept = tf.notEqual(a, 0);
      const dropped = 1 - tf.mean(tf.cast(kept, 'float32')).dataSync()[0];
      expect(dropped).toBeGreaterThan(0.2);
      expect(dropped).toBeLessThan(0.3);
      expect(relErr(tf.where(kept, a, 0), tf.where(kept, tf.div(pre, 0.75), 0))).toBeLessThan(1e-6);
      expect(relErr(net.predict(x), pre)).toBe(0);
    });
    x.dispose();
    net.dispose();
  });
});
