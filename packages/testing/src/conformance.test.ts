// The kit run the way a rule package runs it: on correct rules every registered check passes.
import { activation, batchNorm, conv2d, dense, dropout, maxPool2d, residual, sequential } from '@bioprop/core';
import { runConformance } from './index.js';
import { backpropWithoutSign, localBackprop, localFeedbackAlignment } from './test-rules.js';

runConformance({ name: 'backprop (kit-local)', createRule: localBackprop });

runConformance({ name: 'feedback alignment (kit-local, seeded B in state)', createRule: localFeedbackAlignment });

runConformance({ name: 'backprop, MSE regression, adam', createRule: localBackprop, loss: 'mse', optimizer: { name: 'adam', lr: 0.01 } });

runConformance({
  name: 'backprop refusing sign units',
  createRule: backpropWithoutSign,
  unsupported: {
    network: () => sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'sign' }), dense({ units: 5 })] }),
    match: /layer 0 \(dense_1\): sign units are not supported/,
  },
});

runConformance({
  name: 'backprop on a conv network (caller-built network, image inputs)',
  createRule: localBackprop,
  network: (seed) =>
    sequential({ inputShape: [6, 6, 2], layers: [conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }), dense({ units: 5 })], seed }),
});

// every module kind with state or randomness: batch norm's running statistics and dropout's masks must resume too
runConformance({
  name: 'backprop on a graph with batch norm, dropout, pooling and a residual block',
  createRule: localBackprop,
  network: (seed) =>
    sequential({
      inputShape: [6, 6, 2],
      layers: [
        conv2d({ filters: 4, kernelSize: 3, padding: 'same' }),
        batchNorm(),
        activation('relu'),
        residual({ body: [conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), batchNorm(), activation('tanh')] }),
        maxPool2d(2),
        dropout(0.2),
        dense({ units: 5 }),
      ],
      seed,
    }),
});
