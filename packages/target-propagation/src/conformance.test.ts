import { dense, locallyConnected2d, conv2d, sequential, SequentialNetwork } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { runConformance } from '@bioprop/testing';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
} from './index.js';

/** A dense network with one layer of a kind no TP rule knows. */
const unsupported = {
  network: () => {
    const net = sequential({ inputShape: [20], layers: [dense({ units: 8, activation: 'tanh' }), dense({ units: 5 })], seed: 1 });
    const odd = Object.create(net.layers[0], { kind: { value: 'mysteryKind' } });
    return new SequentialNetwork([odd, net.layers[1]]);
  },
  match: /mysteryKind/,
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

// plain TP is the weakest of the family: it gets Adam and 3× the default epochs to show that its loss falls
runConformance({ name: 'target propagation (tp)', createRule: () => targetPropagation(), unsupported, optimizer: { name: 'adam', lr: 1e-3 }, lossFalls: { epochs: 24 } });
runConformance({ name: 'difference target propagation (dtp)', createRule: () => differenceTargetPropagation(), unsupported });
runConformance({ name: 'simplified DTP (sdtp)', createRule: () => simplifiedDifferenceTargetPropagation(), unsupported });
runConformance({ name: 'auxiliary-output SDTP (ao-sdtp)', createRule: () => auxiliaryOutputSimplifiedDifferenceTargetPropagation({ auxUnits: 7 }), unsupported });
// alternating trains the forward weights every other epoch only: twice the epochs give it the same forward steps
runConformance({ name: 'dtp, alternating schedule', createRule: () => differenceTargetPropagation({ schedule: 'alternating' }), lossFalls: { epochs: 16 } });
runConformance({ name: 'dtp on a locally connected net', createRule: () => differenceTargetPropagation(), network: lcNet });
runConformance({ name: 'sdtp on a conv net', createRule: () => simplifiedDifferenceTargetPropagation(), network: convNet });
// core's backprop through the new layer kinds (its own package tests dense nets only)
runConformance({ name: 'backprop on a locally connected net', createRule: () => backprop(), network: lcNet });
runConformance({ name: 'backprop on a conv net', createRule: () => backprop(), network: convNet });
