import * as tf from '@tensorflow/tfjs-core';
import {
  SequentialNetwork,
  perLayer,
  adam,
  conv2d,
  dense,
  locallyConnected2d,
  momentum,
  randomSource,
  sequential,
  withUpdateNoise,
  type Layer,
  type Network,
} from '@bioprop/core';
import { runConformance } from '@bioprop/testing';
import {
  amp,
  decay,
  learnedFeedback,
  learnedFeedbackEntries,
  nullTerm,
  self,
  sparse,
  symmetricAlignment,
  activationAlignment,
} from './index.js';

/** A network whose second layer has no kernel (an elementwise gain): nothing for B to stand in for. */
function kernellessNetwork(): Network {
  const first = dense({ units: 16, activation: 'tanh' }).build([20], { index: 0, random: randomSource(1).stream('init'), defaultName: 'dense_1' });
  const gain = tf.tidy(() => tf.variable(tf.ones([16])));
  const odd: Layer = {
    kind: 'gain',
    name: 'gain_1',
    inputShape: [16],
    outputShape: [16],
    activation: first.activation,
    params: { gain },
    kernelName: 'kernel',
    fan: { fanIn: 1, fanOut: 1 },
    linear: (x) => tf.mul(x, gain),
    backwardInput: (d) => tf.mul(d, gain),
    paramGrads: (x, d) => ({ gain: tf.sum(tf.mul(x, d), 0) }),
    config: () => ({ kind: 'gain', name: 'gain_1', inputShape: [16], activation: 'tanh' }),
  };
  return new SequentialNetwork([first, odd]);
}

// every named rule with its tuned defaults, as the CLI creates it
for (const entry of learnedFeedbackEntries) {
  runConformance({
    name: `${entry.name} (${entry.id}, tuned defaults)`,
    createRule: () => entry.create(),
    optimizer: entry.defaults.optimizer,
    unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ },
  });
}

// the same rules through convolution and locally connected layers (B in each kernel's layout)
const imageNet = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [
      conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }),
      conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      locallyConnected2d({ filters: 3, kernelSize: 2, strides: 1, padding: 'valid', activation: 'tanh' }),
      dense({ units: 5 }),
    ],
    seed,
  });
for (const entry of learnedFeedbackEntries) {
  runConformance({
    name: `${entry.name} (${entry.id}) on conv2d and locallyConnected2d layers`,
    createRule: () => entry.create(),
    // the defaults' forward rates were tuned on the dense Fashion-MNIST run; this toy conv net needs 0.05 for all
    optimizer: { ...entry.defaults.optimizer, lr: 0.05 },
    network: imageNet,
    unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ },
  });
}

// all five primitives at once, B on momentum (slots in the state) and W on Adam (counters in the meta)
runConformance({
  name: 'learned feedback, every primitive, momentum B optimizer',
  createRule: () =>
    learnedFeedback({
      terms: [decay(2e-3), amp(1e-3), nullTerm(5e-4), sparse(5e-4), self(1e-3)],
      feedbackOptimizer: momentum({ lr: 5, momentum: 0.9 }),
    }),
  optimizer: adam({ lr: 3e-3 }),
  unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ },
});

// the noise wrapper: its draws come from a saved stream, so a resumed noisy run is still bit-for-bit
runConformance({
  name: 'symmetric alignment with update noise on both passes',
  createRule: () => withUpdateNoise(symmetricAlignment({ feedbackOptimizer: adam({ lr: 1e-2 }) }), { sigma: 1e-3, on: 'both' }),
  unsupported: { network: kernellessNetwork, match: /layer 1 \(gain_1, gain\) has no kernel "kernel"/ },
});

// composed per layer, B's Adam step counters travel in core's layer meta: the resume check is bit-for-bit
runConformance({
  name: 'activation alignment composed with perLayer (Adam on B)',
  createRule: () => perLayer({ default: activationAlignment() }),
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
});
