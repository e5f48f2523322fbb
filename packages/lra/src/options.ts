import { bool, num, oneOf, options, type Infer, type RuleDefaults } from '@bioprop/core';

/** How layer l's correction reaches layer l−1: through `W_lᵀ` (diff) or a fixed random matrix `E_l` (fdbk). */
export type LraCorrection = 'diff' | 'fdbk';

/**
 * The options both variants take, with a variant's tuned step β and bound c₁ as defaults (the other defaults are
 * the same for both: README, "how the defaults were chosen").
 */
const sharedOptions = (tuned: { beta: number; c1: number | null }) => ({
  k: num({ min: 1, max: 1000, integer: true }).default(1).describe('refinement passes K per training step (1 as in most of the paper: the rule is then layer-wise)'),
  beta: num({ min: 0 }).default(tuned.beta).describe('step β of the corrections: y_{l-1} = φ(ā_{l-1} − β Δa_{l-1})'),
  c1: num({ exclusiveMin: 0 })
    .nullable()
    .default(tuned.c1)
    .describe("bound c₁ on the Frobenius norm of each parameter's update (kernel and bias apart), applied before the optimizer; null: unconstrained"),
  outputLoss: oneOf('task', 'cauchy').default('task').describe("the output layer's error: the trainer's loss ('task') or the Cauchy loss to the labels ('cauchy')"),
  settleTop: bool().default(true).describe('with K > 1: recompute the output layer from the moved representation below after each pass'),
  updateFrom: oneOf('forward', 'lastPass')
    .default('forward')
    .describe("with K > 1: the weight update from the forward activity against the final targets ('forward') or from the last pass's temporaries ('lastPass', the method's literal reading)"),
  metrics: bool().default(false).describe("report each layer's local loss and update norm in StepResult.metrics (about 20 small ops a step)"),
});

/** LRA-diff's options, tuned: β 0.3 and c₁ 1 (c₁ off measured the same; 0.3 cost 0.01). */
export const lraDiffOptions = options(sharedOptions({ beta: 0.3, c1: 1 }));

/**
 * LRA-fdbk's options: LRA-diff's keys (tuned here to β 0.1, c₁ 0.3: c₁ lifts zero-init runs from 0.76 to 0.81–0.82),
 * plus where the one derivative sits (`'above'`: equal on tanh, better with LWTA, Bernoulli and softplus) and the
 * scale of the feedback matrices (σ = 1, the paper's).
 */
export const lraFdbkOptions = options({
  ...sharedOptions({ beta: 0.1, c1: 0.3 }),
  derivative: oneOf('above', 'below')
    .default('above')
    .describe("which derivative the correction keeps: 'above' Δa_{l-1} = E_l (e_l ⊙ φ'(a_l)); 'below' Δa_{l-1} = (E_l e_l) ⊙ φ'(a_{l-1})"),
  feedbackStd: num({ exclusiveMin: 0 }).default(1).describe('standard deviation σ of the fixed Gaussian feedback matrices E_l'),
});

/** LRA-diff's options, filled (what the rule runs with). */
export type LraDiffConfig = Infer<typeof lraDiffOptions>;
/** LRA-fdbk's options, filled. */
export type LraFdbkConfig = Infer<typeof lraFdbkOptions>;
/** What a user passes to `lraDiff`: any subset of its options. */
export type LraDiffOptions = Partial<LraDiffConfig>;
/** What a user passes to `lraFdbk`: any subset of its options (LRA-diff's and two more). */
export type LraFdbkOptions = Partial<LraFdbkConfig>;
/** The options both variants take (LRA-diff's). */
export type LraOptions = LraDiffOptions;
/** Where LRA-fdbk keeps its one derivative. */
export type LraFdbkDerivative = LraFdbkConfig['derivative'];
/** The output layer's error: the trainer's loss (`e = ∂ℒ/∂a_L`), or the Cauchy loss to the labels. */
export type LraOutputLoss = LraDiffConfig['outputLoss'];
/** With K > 1: the weight update from the last pass's temporaries, or from the forward activity and the final targets. */
export type LraUpdateFrom = LraDiffConfig['updateFrom'];

/** What the implementation runs with: a variant and its filled options. */
export type LraConfig = ({ readonly correction: 'diff' } & LraDiffConfig) | ({ readonly correction: 'fdbk' } & LraFdbkConfig);

const SOURCE =
  'experiments/sweeps/lra.yaml: Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128, seeds 7–9, wasm; ' +
  'derivative and optimizer also checked on digits with LWTA, Bernoulli, softplus, relu6, sign (README)';

/** The training LRA-fdbk was tuned with: momentum 0.9, lr 0.05 (with β 0.1, c₁ 0.3; Adam: +0.01 on tanh, worse on digits). */
export const lraFdbkDefaults: RuleDefaults = {
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: SOURCE,
};

/** The training LRA-diff was tuned with: momentum 0.9, lr 0.05 (with β 0.3, c₁ 1). */
export const lraDiffDefaults: RuleDefaults = {
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: SOURCE,
};
