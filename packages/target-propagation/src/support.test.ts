import * as tf from '@tensorflow/tfjs-core';
import { RuleSupportError, activation, bernoulli, dense, dropout, preset, randomSource, resolveBackend, sequential, type Network, type Rule } from '@bioprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
  rules as entries,
} from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const rules: [string, () => Rule][] = [
  ['tp', () => targetPropagation()],
  ['dtp', () => differenceTargetPropagation()],
  ['sdtp', () => simplifiedDifferenceTargetPropagation()],
  ['ao-sdtp', () => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 4 })],
];

/** `check` and `bind` both refuse the network with a RuleSupportError matching `match`; the refused bind leaks nothing. */
function expectRefused(create: () => Rule, network: Network, match: RegExp): void {
  const rule = create();
  expect(() => rule.check(network)).toThrow(RuleSupportError);
  expect(() => rule.check(network)).toThrow(match);
  const before = tf.memory().numTensors;
  expect(() => rule.bind(network, randomSource(1))).toThrow(match);
  expect(tf.memory().numTensors).toBe(before);
}

describe('which networks the TP family trains', () => {
  it('the entries say so: dense, conv2d and locally connected kernels, chains of blocks only', () => {
    for (const entry of entries) {
      expect(entry.graphs).toBe('chain');
      expect([...entry.supports]).toEqual(['dense', 'conv2d', 'locallyConnected2d']);
      expect(entry.create().layerRule?.graphs).toBe('chain');
    }
  });

  it.each(rules)('%s refuses resnet20-tiny, naming the residual add (targets cannot be split between two branches)', (_id, create) => {
    const { inputShape, layers } = preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 10 });
    const network = sequential({ inputShape, layers, seed: 1 });
    expect(network.chainBreak()?.kind).toBe('add');
    expectRefused(create, network, new RegExp(`module ${network.chainBreak()!.name} \\(add\\)`));
    network.dispose();
  });

  it.each(rules)('%s binds to lenet5 (max pooling and flatten in its blocks)', (_id, create) => {
    const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
    const network = sequential({ inputShape, layers, seed: 1 });
    const bound = create().bind(network, randomSource(1));
    bound.dispose();
    network.dispose();
  });

  it.each(rules)('%s refuses a block that samples: dropout, and Bernoulli units, by module name', (_id, create) => {
    const withDropout = sequential({ inputShape: [6], layers: [dense({ units: 5, activation: 'tanh' }), dropout(0.5), dense({ units: 3 })], seed: 1 });
    expectRefused(create, withDropout, /layer 0 \(dense_1\): module dropout_1 \(dropout\) in its block samples/);
    withDropout.dispose();
    const withBernoulli = sequential({ inputShape: [6], layers: [dense({ units: 5 }), dense({ units: 4 }), activation(bernoulli()), dense({ units: 3 })], seed: 1 });
    expectRefused(create, withBernoulli, /layer 1 \(dense_2\): module activation_1 \(activation bernoulli\) in its block samples/);
    withBernoulli.dispose();
  });
});
