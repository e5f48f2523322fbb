import { SequentialNetwork, conv2d, dense, linear, locallyConnected2d, sequential, type Layer, type Network } from '@bioprop/core';
import { runConformance } from '@bioprop/testing';
import { lraDiff, lraDiffEntry, lraFdbk, lraFdbkEntry } from './index.js';

/** A network whose second layer has no kernel (a parameter-free identity map): nothing for LRA to train there. */
function withoutKernel(): Network {
  const first = sequential({ inputShape: [20], layers: [dense({ units: 5, activation: 'tanh' })], seed: 1 }).layers[0];
  const identity: Layer = {
    kind: 'identity',
    name: 'identity_1',
    inputShape: [5],
    outputShape: [5],
    activation: linear,
    params: {},
    kernelName: 'kernel',
    fan: { fanIn: 5, fanOut: 5 },
    linear: (x) => x,
    backwardInput: (d) => d,
    paramGrads: () => ({}),
    config: () => ({ kind: 'identity', name: 'identity_1', inputShape: [5], activation: 'linear' }),
  };
  return new SequentialNetwork([first, identity]);
}

const unsupported = { network: withoutKernel, match: /no "kernel" parameter/ };

runConformance({ name: 'lra-fdbk (defaults)', createRule: () => lraFdbkEntry.create(), optimizer: lraFdbkEntry.defaults.optimizer, unsupported });
runConformance({ name: 'lra-diff (defaults)', createRule: () => lraDiffEntry.create(), optimizer: lraDiffEntry.defaults.optimizer, unsupported });
runConformance({
  name: 'lra-fdbk K = 4, updates from the forward pass',
  createRule: () => lraFdbk({ k: 4, updateFrom: 'forward' }),
  optimizer: lraFdbkEntry.defaults.optimizer,
  unsupported,
});
runConformance({ name: 'lra-diff K = 3, Cauchy output', createRule: () => lraDiff({ k: 3, outputLoss: 'cauchy' }), optimizer: lraDiffEntry.defaults.optimizer, unsupported });

/** Images through a convolution and a locally connected layer: E_l is shaped like each kernel, used through backwardInput. */
const convNet = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      conv2d({ filters: 4, kernelSize: 3, activation: 'tanh' }),
      locallyConnected2d({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      dense({ units: 5 }),
    ],
    seed,
  });
runConformance({ name: 'lra-fdbk on conv2d + locallyConnected2d', createRule: () => lraFdbkEntry.create(), optimizer: lraFdbkEntry.defaults.optimizer, network: convNet, unsupported });
runConformance({ name: 'lra-diff on conv2d + locallyConnected2d', createRule: () => lraDiffEntry.create(), optimizer: lraDiffEntry.defaults.optimizer, network: convNet, unsupported });
