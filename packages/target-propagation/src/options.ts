import { anyOf, num, oneOf, optimizerConfigSchema, options, type Infer, type OptimizerConfig, type RuleDefaults } from '@bioprop/core';

/** How the inverse weights V start (the inverse biases c start at zero): a core initializer's JSON form. */
export const inverseInitSchema = anyOf(
  oneOf('glorot', 'zero', 'fanInUniform'),
  options({ uniform: num({ min: 0 }) }),
  options({ normal: num({ min: 0 }) }),
);

/** The tuned values that differ between the rules (README, "How the defaults were chosen"). */
interface Tuned {
  readonly alpha: number;
  readonly alphaText: string;
  readonly noise: number;
}

const ALPHA_TEXT =
  'α of the per-sample gradient step that makes the penultimate target, ĥ_{L-1} = h_{L-1} − α ∂ℓ_n/∂h_{L-1}; a layer that receives an error instead of a target (perLayer) forms its target the same way';

/** The options every rule of the family takes, with one rule's tuned defaults. */
const shape = (t: Tuned) => ({
  alpha: num({ min: 0 }).default(t.alpha).describe(t.alphaText),
  noise: num({ min: 0 }).default(t.noise).describe('σ of the noise h̃ = h + ε, ε ~ N(0, σ²), in the denoising inverse loss ½‖h − g(f(h̃))‖²'),
  inverseOptimizer: optimizerConfigSchema
    .default({ name: 'adam', lr: 3e-4 })
    .describe("the inverse weights' own optimizer (the trainer's optimizer updates the forward weights)"),
  inverseInit: inverseInitSchema
    .default('glorot')
    .describe("initializer of the inverse weights V (the biases c start at zero): 'glorot', 'zero', 'fanInUniform', { uniform: β } or { normal: σ }"),
  schedule: oneOf('parallel', 'alternating')
    .default('parallel')
    .describe("'parallel': forward and inverse updates every step; 'alternating': an epoch of each in turn"),
  alternateStart: oneOf('forward', 'inverse').default('forward').describe("with 'alternating', what epoch 0 trains"),
});

/** Target propagation (TP). */
export const targetPropagationOptions = options(shape({ alpha: 0.2, alphaText: ALPHA_TEXT, noise: 0.01 }));
/** Difference target propagation (DTP). */
export const differenceTargetPropagationOptions = options(shape({ alpha: 0.05, alphaText: ALPHA_TEXT, noise: 0.3 }));

// SDTP takes no gradient step: α serves only a layer that receives an error from a rule above it (perLayer)
const SDTP_ALPHA_TEXT =
  'SDTP takes no gradient step: α only serves a layer that receives an error instead of a target (from a rule above it in perLayer), ĥ = h − α ∂ℓ_n/∂h';

/** Simplified difference target propagation (SDTP). */
export const simplifiedDifferenceTargetPropagationOptions = options(shape({ alpha: 0.05, alphaText: SDTP_ALPHA_TEXT, noise: 0.01 }));

/** SDTP with auxiliary outputs (AO-SDTP): SDTP's options and the number of fixed random features. */
export const auxiliaryOutputSdtpOptions = options({
  ...shape({ alpha: 0.05, alphaText: SDTP_ALPHA_TEXT, noise: 0.1 }),
  auxUnits: num({ min: 1, integer: true })
    .default(256)
    .describe('number of fixed random auxiliary features z = σ(h_{L-1}·R) the top inverse also reads'),
});

/** Every option of TP, DTP or SDTP, filled (what the rule runs with). */
export type TargetPropagationConfig = Infer<typeof targetPropagationOptions>;
/** What a user passes to `targetPropagation`, `differenceTargetPropagation` or `simplifiedDifferenceTargetPropagation`. */
export type TargetPropagationOptions = Partial<TargetPropagationConfig>;
/** Every option of AO-SDTP, filled. */
export type AuxiliaryOutputSdtpConfig = Infer<typeof auxiliaryOutputSdtpOptions>;
/** What a user passes to `auxiliaryOutputSimplifiedDifferenceTargetPropagation`. */
export type AuxiliaryOutputSdtpOptions = Partial<AuxiliaryOutputSdtpConfig>;
export type InverseInit = TargetPropagationConfig['inverseInit'];

const SOURCE =
  'experiments/sweeps/tp.yaml: coordinate search (forward lr; σ × inverse lr; α or auxUnits) on Fashion-MNIST 784-256-256-10 tanh, 10000/2000, 3 epochs, batch 128, seed 7, wasm';

const training = (lr: number): RuleDefaults => {
  const optimizer: OptimizerConfig = { name: 'adam', lr };
  return { optimizer, kernelInit: 'glorot', batchSize: 128, activation: 'tanh', source: SOURCE };
};

/** The training each rule was tuned with (forward optimizer, init, batch, activation); its options' defaults are in its schema. */
export const targetPropagationDefaults: Record<'tp' | 'dtp' | 'sdtp' | 'ao-sdtp', RuleDefaults> = {
  tp: training(3e-4),
  dtp: training(3e-3),
  sdtp: training(1e-3),
  'ao-sdtp': training(1e-3),
};
