import * as tf from '@tensorflow/tfjs-core';
import { DenseLayer, conv2d, dense, locallyConnected2d, preset, sequential, type LayerSpec } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { runConformance } from '@bioprop/testing';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
} from './index.js';

/** A dense kernel module that calls itself a kind no TP rule knows. */
const mysteryLayer = (units: number): LayerSpec => ({
  kind: 'mysteryKind',
  build: (builder, input) =>
    builder.add('mysteryKind', [input], ({ name, inputShapes, random }) => {
      const nIn = inputShapes[0].reduce((a, b) => a * b, 1);
      const params = {
        kernel: tf.variable(tf.tensor(random.normalArray(nIn * units, 0, 0.3), [nIn, units])),
        bias: tf.variable(tf.zeros([units])),
      };
      return Object.defineProperty(new DenseLayer(name, [...inputShapes[0]], units, params), 'kind', { value: 'mysteryKind' });
    }),
  config: () => ({ kind: 'mysteryKind', units }),
});

const unsupportedKind = {
  network: () => sequential({ inputShape: [20], layers: [mysteryLayer(8), dense({ units: 5 })], seed: 1 }),
  match: /mysteryKind/,
};

/** ResNet-20's topology at width 4: targets cannot be split between a residual block's two branches. */
const residualNet = {
  network: () => {
    const { inputShape, layers } = preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 10 });
    return sequential({ inputShape, layers, seed: 1 });
  },
  match: /add_\d+ \(add\)/,
};

/** The small image nets: locally connected and convolutional, 8×8×1 inputs. */
const lcNet = (seed: number) =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      locallyConnected2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      dense({ units: 5 }),
    ],
    seed,
  });
const convNet = (seed: number) =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }), conv2d({ filters: 6, kernelSize: 3, padding: 'valid', activation: 'tanh' }), dense({ units: 5 })],
    seed,
  });

/** LeNet-5 (conv-relu-pool ×2, conv-relu-flatten, fc 84, fc 10) on 28×28×1 inputs. */
const lenet5 = (seed: number) => {
  const { inputShape, layers } = preset('lenet5').build({ inputShape: [28, 28, 1], classes: 10 });
  return sequential({ inputShape, layers, seed });
};

// plain TP is the weakest of the family: it gets Adam and 3× the default epochs to show that its loss falls
runConformance({ name: 'target propagation (tp)', createRule: () => targetPropagation(), unsupported: unsupportedKind, optimizer: { name: 'adam', lr: 1e-3 }, lossFalls: { epochs: 24 } });
runConformance({ name: 'difference target propagation (dtp)', createRule: () => differenceTargetPropagation(), unsupported: unsupportedKind });
runConformance({ name: 'simplified DTP (sdtp)', createRule: () => simplifiedDifferenceTargetPropagation(), unsupported: unsupportedKind });
runConformance({ name: 'auxiliary-output SDTP (ao-sdtp)', createRule: () => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 7 }), unsupported: unsupportedKind });
// alternating trains the forward weights every other epoch only: twice the epochs give it the same forward steps
runConformance({ name: 'dtp, alternating schedule', createRule: () => differenceTargetPropagation({ schedule: 'alternating' }), lossFalls: { epochs: 16 } });
runConformance({ name: 'dtp on a locally connected net', createRule: () => differenceTargetPropagation(), network: lcNet });
runConformance({ name: 'sdtp on a conv net', createRule: () => simplifiedDifferenceTargetPropagation(), network: convNet });

// LeNet-5: blocks with max pooling and flatten, on the kit's seeded images; residual networks are refused, naming the add.
// Plain TP does not train it: its targets g(ĥ) ignore where a layer is, and on relu layers they pull the activations to
// zero (‖h_2‖ falls ~15× in 25 steps) until the network predicts the class prior; measured with forward Adam 3e-4–3e-3,
// momentum 0.005–0.05 and SGD, α 0–1, σ 0.01–1, inverse lr 3e-4–1e-2, the alternating schedule and 3× the epochs.
runConformance({
  name: 'tp on lenet5',
  createRule: () => targetPropagation(),
  network: lenet5,
  unsupported: residualNet,
  skip: {
    lossFalls: 'plain TP collapses the relu layers of lenet5 (the difference-corrected rules below train it)',
    // wasm's max pooling turns the NaN pixel into infinities and its relu turns NaN into 0: after TP's first step none
    // of it reaches the loss, which stays finite (measured node by node), so there is nothing for the check to catch
    divergence: 'on wasm, max pooling and relu turn the NaN input pixel into values that never reach the loss',
  },
});
runConformance({ name: 'dtp on lenet5', createRule: () => differenceTargetPropagation(), network: lenet5, unsupported: residualNet });
// SDTP's label targets are unreachable (ĥ_L = y, one-hot), and lenet5's fc 84 layer is linear, so nothing bounds them: with
// inverses that start near zero the targets below grow only as the inverses learn (Glorot-initialized ones blow it up)
const smallInverses = { inverseInit: { normal: 0.001 } } as const;
runConformance({ name: 'sdtp on lenet5', createRule: () => simplifiedDifferenceTargetPropagation(smallInverses), network: lenet5, unsupported: residualNet });
runConformance({ name: 'ao-sdtp on lenet5', createRule: () => auxiliaryOutputSimplifiedDifferenceTargetPropagation(smallInverses), network: lenet5, unsupported: residualNet });

// core's backprop through the image layer kinds (its own package tests dense nets only)
runConformance({ name: 'backprop on a locally connected net', createRule: () => backprop(), network: lcNet });
runConformance({ name: 'backprop on a conv net', createRule: () => backprop(), network: convNet });

