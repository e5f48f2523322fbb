// Every rule of every rule package passes the shared conformance suite with blas as the active backend
// (backprop, FA and DFA are in training.test.ts): any tfjs program runs unchanged on this backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { learnedFeedbackEntries } from '@bioprop/learned-feedback';
import { lraEntries } from '@bioprop/lra';
import { targetPropagationEntries } from '@bioprop/target-propagation';
import { runConformance } from '@bioprop/testing';
import { beforeAll, describe } from 'vitest';
import { nativeProblem } from './test-helpers.js';

if (nativeProblem === null) {
  beforeAll(async () => {
    await tf.setBackend('blas');
  });
  // the same options as each package's own conformance run (on wasm there)
  for (const entry of [...learnedFeedbackEntries, ...lraEntries]) {
    runConformance({ name: `${entry.id} on the blas backend`, createRule: () => entry.create(), optimizer: entry.defaults.optimizer, backend: false });
  }
  for (const entry of targetPropagationEntries) {
    runConformance({
      name: `${entry.id} on the blas backend`,
      // the toy task has 5 classes: a handful of auxiliary units, not the 256 tuned for Fashion-MNIST
      createRule: () => entry.create(entry.id === 'ao-sdtp' ? { auxUnits: 7 } : {}),
      // plain TP is the weakest learner: Adam and more epochs to show its loss falls
      ...(entry.id === 'tp' ? { optimizer: { name: 'adam', lr: 1e-3 } as const, lossFalls: { epochs: 24 } } : {}),
      backend: false,
    });
  }
} else {
  describe.skip(`every rule's conformance on the blas backend (${nativeProblem})`, () => {});
}
