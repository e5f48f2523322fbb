// Every rule of every rule package passes the shared conformance suite with blas as the active backend: any tfjs
// program runs unchanged on that backend. Skips with the reason when the blas addon is absent (fails under CI=true).
import * as tf from '@tensorflow/tfjs-core';
import { runConformance, type ConformanceOptions } from '@bioprop/testing';
import { beforeAll, describe } from 'vitest';
import { blasProblemForTests } from './backends.js';
import { RULES } from './rules.js';

/**
 * What differs from the default run (`entry.create()` with the rule's tuned optimizer), matching each package's own
 * conformance run on wasm.
 */
const SETTINGS: Record<string, Partial<ConformanceOptions> & { options?: Record<string, unknown> }> = {
  // these three run with the conformance kit's default optimizer, as in their packages
  bp: { optimizer: undefined },
  fa: { optimizer: undefined },
  dfa: { optimizer: undefined },
  // plain TP is the weakest learner: Adam and more epochs to show its loss falls
  tp: { optimizer: { name: 'adam', lr: 1e-3 }, lossFalls: { epochs: 24 } },
  dtp: { optimizer: undefined },
  sdtp: { optimizer: undefined },
  // the toy task has 5 classes: a handful of auxiliary units, not the 256 tuned for Fashion-MNIST
  'ao-sdtp': { optimizer: undefined, options: { auxUnits: 7 } },
  // sign symmetry's MLP run uses the kit's default optimizer, as in its package
  usf: { optimizer: undefined },
  brsf: { optimizer: undefined },
  frsf: { optimizer: undefined },
};

const problem = await blasProblemForTests();
if (problem === null) {
  beforeAll(async () => {
    await tf.setBackend('blas');
  });
  for (const [id, { entry, package: pkg }] of RULES) {
    const { options, ...settings } = SETTINGS[id] ?? {};
    runConformance({
      name: `${id} (${pkg}) on the blas backend`,
      createRule: () => entry.create(options ?? {}),
      optimizer: entry.defaults.optimizer,
      ...settings,
      backend: false,
    });
  }
} else {
  describe.skip(`every rule's conformance on the blas backend (${problem})`, () => {});
}
