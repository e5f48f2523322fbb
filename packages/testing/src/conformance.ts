import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { resolveBackend, type BackendName } from '@bioprop/core';
import {
  checkDeterminism,
  checkDivergence,
  checkLossFalls,
  checkNoLeak,
  checkResume,
  checkShapeMismatch,
  checkShapes,
  checkUnsupported,
} from './checks.js';
import type { ConformanceCheck } from './errors.js';
import type { ConformanceSetup } from './setup.js';

export interface ConformanceOptions extends ConformanceSetup {
  /** The rule's name in test titles, e.g. `'feedback alignment'`. */
  name: string;
  /** Backend activated in a `beforeAll` (default `'wasm'`); `false` leaves the current backend alone. */
  backend?: BackendName | 'auto' | false;
  /**
   * Backends the leak check also runs on, each in its own block (default `['cpu']`; the main backend is left out).
   * Leaks can be backend-specific (a kernel's output kept alive on one backend only).
   */
  leakBackends?: readonly BackendName[];
  /** Checks to skip, each with the reason shown in the test title. Every skip is a hole: prefer an option. */
  skip?: Partial<Record<ConformanceCheck, string>>;
}

/**
 * Register the conformance suite for one rule as vitest `describe`/`it` blocks. Call it at the top level of a
 * test file: `runConformance({ name: 'feedback alignment', createRule: () => feedbackAlignment() })`.
 */
export function runConformance(options: ConformanceOptions): void {
  if (!options?.name) throw new TypeError('runConformance: `name` is required');
  const skip = options.skip ?? {};
  const test = (check: ConformanceCheck, title: string, body: () => Promise<unknown>) => {
    const reason = skip[check];
    if (reason !== undefined) it.skip(`${title} (skipped: ${reason})`, () => {});
    else it(title, async () => {
      await body();
    });
  };
  describe(`conformance: ${options.name}`, () => {
    beforeAll(async () => {
      if (options.backend !== false) await resolveBackend(options.backend ?? 'wasm');
    });
    test('shapes', 'every update has its param’s shape, every teaching signal the shape of a_l, state stays finite', () => checkShapes(options));
    test('leak', 'leaks no tensor in a training step, nor across bind → dispose', () => checkNoLeak(options));
    test('determinism', 'the same seed gives bitwise identical weights and rule state', () => checkDeterminism(options));
    test('resume', 'save → restore into a fresh trainer continues bit-for-bit (steps, and fit stopped mid-epoch)', () => checkResume(options));
    test('lossFalls', 'lowers the loss on a seeded task', () => checkLossFalls(options));
    if (options.unsupported) {
      test('unsupported', `refuses a network it cannot handle with a RuleSupportError matching ${options.unsupported.match}`, () => checkUnsupported(options));
    } else {
      it.skip('refuses a network it cannot handle (no `unsupported` network given)', () => {});
    }
    test('shapeMismatch', 'targets of another size than the output give a ShapeError and change nothing', () => checkShapeMismatch(options));
    test('divergence', 'a non-finite loss throws DivergenceError naming step and layer, weights unchanged', () => checkDivergence(options));
    for (const backend of options.leakBackends ?? ['cpu']) {
      if (backend === (options.backend ?? 'wasm')) continue;
      describe(`on ${backend}`, () => {
        let previous = '';
        beforeAll(async () => {
          previous = tf.getBackend();
          await resolveBackend(backend);
        });
        afterAll(async () => {
          if (previous) await tf.setBackend(previous);
        });
        test('leak', `leaks no tensor on ${backend}: step, evaluate, angle probe, save, restore, dispose`, () => checkNoLeak(options));
      });
    }
  });
}
