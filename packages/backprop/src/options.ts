import { options, type Infer, type RuleDefaults } from '@bioprop/core';

/** Backprop's options: none. The schema still rejects every key, naming it. */
export const backpropOptions = options({});

/** Every option, filled (backprop has none). */
export type BackpropConfig = Infer<typeof backpropOptions>;
/** What a user passes: nothing but an empty object (any key is a type error here and an `OptionError` at run time). */
export type BackpropOptions = Partial<BackpropConfig> & { readonly [key: string]: never };

/**
 * The training backprop was tuned with, measured under the standard budget by `@bioprop/feedback-alignment`'s
 * `scripts/sweep.ts` (so every rule is compared at its own best): momentum 0.9, lr 0.03 had the best mean test accuracy
 * over seeds 7, 8, 9 among lr 0.01–0.1 and Adam 3e-4 / 1e-3.
 */
export const backpropDefaults: RuleDefaults = {
  optimizer: { name: 'momentum', lr: 0.03, momentum: 0.9 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source:
    'experiments/sweeps/fa-lr.yaml (bp): Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128; mean test accuracy 0.8277 over seeds 7, 8, 9 (seed 7: 0.8380)',
};
