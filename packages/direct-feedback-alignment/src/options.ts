import { anyOf, num, oneOf, options, type Infer, type RuleDefaults } from '@bioprop/core';

/**
 * How the fixed direct feedback matrices `D_l` are drawn. The map `e ↦ e·D_l` has fan-in `n_L` (output units) and
 * fan-out `prod(blockOutputShape_l)`: `'fanInUniform'` is `U[±1/√n_L]`, `'glorot'` uses both, `{ uniform: β }` is
 * `U[−β, β]`, `{ normal: σ }` is `N(0, σ²)`.
 */
export const directFeedbackInitSchema = anyOf(oneOf('glorot', 'fanInUniform'), options({ uniform: num({ min: 0 }) }), options({ normal: num({ min: 0 }) }));

/**
 * Direct feedback alignment's options, with the tuned values as defaults: `D ~ U[±1/√n_L]` reads methods.md's
 * `U(±1/√fan)` with the fan-in of `e ↦ e·D` (with Adam the result does not depend on D's overall scale; README).
 */
export const directFeedbackAlignmentOptions = options({
  feedbackInit: directFeedbackInitSchema
    .default('fanInUniform')
    .describe("distribution of every fixed direct feedback matrix D_l ([n_L, size of layer l's block output]; 'fanInUniform': U[±1/√n_L])"),
});

/** Every option, filled (what the rule runs with). */
export type DirectFeedbackAlignmentConfig = Infer<typeof directFeedbackAlignmentOptions>;
/** What a user passes: any subset of the options. */
export type DirectFeedbackAlignmentOptions = Partial<DirectFeedbackAlignmentConfig>;
export type DirectFeedbackInit = DirectFeedbackAlignmentConfig['feedbackInit'];

/**
 * The training direct feedback alignment was tuned with: the best mean test accuracy over seeds 7, 8, 9 in
 * `experiments/sweeps/dfa-lr.yaml` (README, "how the defaults were chosen"). Forward weights start at zero, as in the official code.
 */
export const dfaDefaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 1e-3 },
  kernelInit: 'zero',
  batchSize: 128,
  activation: 'tanh',
  source:
    'experiments/sweeps/dfa-lr.yaml: Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128; mean test accuracy 0.8333 over seeds 7, 8, 9 (seed 7: 0.8355)',
};
