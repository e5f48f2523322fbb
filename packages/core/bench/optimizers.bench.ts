import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { adam, momentum, randomStream, resolveBackend, rmsprop, sgd, type OptimizerSpec } from '../src/index.js';

// One optimizer step over a 784-1000-10 network's weights (794k floats) on wasm: Adam's elementwise passes are
// a measurable part of a training step there (FA/DFA default to Adam), so they are timed here.
await resolveBackend('wasm');
const r = randomStream(1);
const shapes: Record<string, number[]> = { k0: [784, 1000], b0: [1000], k1: [1000, 10], b1: [10] };
const vars = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, tf.variable(tf.tensor(r.normalArray(s.reduce((a, b) => a * b, 1), 0, 0.01), s))]));
const grads = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, tf.tensor(r.normalArray(s.reduce((a, b) => a * b, 1), 0, 0.01), s)]));

describe('optimizer step, 794k weights, wasm', () => {
  const specs: [string, OptimizerSpec][] = [
    ['sgd', sgd({ lr: 0.01 })],
    ['momentum', momentum({ lr: 0.01, momentum: 0.9 })],
    ['rmsprop', rmsprop({ lr: 1e-3 })],
    ['adam', adam({ lr: 1e-3 })],
  ];
  for (const [name, spec] of specs) {
    const opt = spec.create();
    bench(name, () => {
      tf.tidy(() => {
        opt.apply(vars, grads);
      });
    }, { time: 1000 });
  }
});
