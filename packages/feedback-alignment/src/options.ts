import { anyOf, num, oneOf, options, type Infer, type RuleDefaults } from '@bioprop/core';

/**
 * How the fixed feedback weights are drawn: `{ uniform: β }` is `U[−β, β]`, `{ normal: σ }` is `N(0, σ²)`,
 * `'glorot'` scales them like a Glorot forward init of the same layer, `'fanInUniform'` is `U[±1/√fanIn]`.
 */
export const feedbackInitSchema = anyOf(oneOf('glorot', 'fanInUniform'), options({ uniform: num({ min: 0 }) }), options({ normal: num({ min: 0 }) }));

/**
 * Feedback alignment's options, with the tuned values as defaults: B's `U[−0.5, 0.5]` is Lillicrap's (with Adam the
 * result does not depend on B's overall scale; README, "how the defaults were chosen").
 */
export const feedbackAlignmentOptions = options({
  feedbackInit: feedbackInitSchema.default({ uniform: 0.5 }).describe("distribution of the fixed feedback weights B"),
  feedbackSparsity: num({ min: 0, max: 1 }).default(0).describe("fraction of B's entries set to zero (and kept zero)"),
  forwardSparsity: num({ min: 0, max: 1 })
    .default(0)
    .describe('fraction of every forward kernel zeroed at bind time and kept zero (its gradient masked, the mask re-applied after every step)'),
});

/** Every option, filled (what the rule runs with). */
export type FeedbackAlignmentConfig = Infer<typeof feedbackAlignmentOptions>;
/** What a user passes: any subset of the options. */
export type FeedbackAlignmentOptions = Partial<FeedbackAlignmentConfig>;
export type FeedbackInit = FeedbackAlignmentConfig['feedbackInit'];

/**
 * The training feedback alignment was tuned with: the best mean test accuracy over seeds 7, 8, 9 in
 * `experiments/sweeps/fa-lr.yaml`. Small forward weights (U[−0.05, 0.05]) let W align with B before it grows.
 */
export const faDefaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 1e-3 },
  kernelInit: { uniform: 0.05 },
  batchSize: 128,
  activation: 'tanh',
  source:
    'experiments/sweeps/fa-lr.yaml: Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128; mean test accuracy 0.8315 over seeds 7, 8, 9 (seed 7: 0.8280)',
};
