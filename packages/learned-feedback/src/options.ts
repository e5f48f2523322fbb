import {
  OptionError,
  anyOf,
  bool,
  custom,
  list,
  num,
  oneOf,
  optimizerConfigSchema,
  options,
  str,
  type Infer,
  type OptimizerConfig,
  type OptimizerSpec,
  type RuleDefaults,
  type Schema,
} from '@bioprop/core';
import { coefficientSchema } from './coefficients.js';
import { PRIMITIVES, type FeedbackTerm, type TermLike } from './primitives.js';

/** A schema's value, or undefined where it does not match (for `custom` schemas built from other schemas). */
function tryParse<T>(schema: Schema<T>, value: unknown): T | undefined {
  try {
    return schema.parse(value, 'value');
  } catch (e) {
    if (e instanceof OptionError) return undefined;
    throw e;
  }
}

const rate = num({ min: 0, max: 1 });


/** B's optimizer: a core spec (`sgd({ lr: 10 })`) or its JSON form (`{ name: 'sgd', lr: 10 }`). */
export type FeedbackOptimizerLike = OptimizerSpec | OptimizerConfig;

/** Whether a value is an optimizer spec (`sgd({ lr })`, or any object with a name and `create`). */
export const isOptimizerSpec = (v: unknown): v is OptimizerSpec =>
  typeof v === 'object' && v !== null && typeof (v as OptimizerSpec).create === 'function' && typeof (v as OptimizerSpec).name === 'string';

/** B's optimizer option: a spec from JavaScript, or a JSON config (which the JSON Schema describes). */
export const feedbackOptimizerSchema = custom<FeedbackOptimizerLike>(
  `an optimizer spec such as sgd({ lr: 10 }), or its JSON config { name: 'sgd' | 'momentum' | 'adam' | 'rmsprop', lr ≥ 0, momentum?, nesterov?, beta1?, beta2?, rho?, epsilon?, weightDecay?, decoupledDecay?, clipNorm?, schedule? }`,
  (v) => (isOptimizerSpec(v) ? v : tryParse(optimizerConfigSchema, v)),
  optimizerConfigSchema.toJSONSchema(),
);

/**
 * How B starts, drawn from the layer's own stream `rule/<id>/layer<l>`: `'glorot'` (Glorot uniform), `'kernel'` (a copy
 * of the kernel: backprop at the start), `'fanInUniform'` (`U[±1/√fanIn]`), `'heNormal'`, `'zero'`, `{ uniform: β }`
 * (`U[−β, β]`) or `{ normal: σ }` (`N(0, σ²)`).
 */
export const feedbackInitSchema = anyOf(
  oneOf('glorot', 'kernel', 'fanInUniform', 'heNormal', 'zero'),
  options({ uniform: num({ min: 0 }) }),
  options({ normal: num({ min: 0 }) }),
);
export type FeedbackInit = Infer<typeof feedbackInitSchema>;

const FEEDBACK_INIT_TEXT =
  "how B starts (from the layer's stream rule/<id>/layer<l>): 'glorot', 'kernel' (a copy of the kernel), 'fanInUniform', 'heNormal', 'zero', { uniform: β } or { normal: σ }";

/** Where the terms' `x` and `r` come from: the data, or white noise pushed through the kernel (mirror mode). */
export const feedbackInputsSchema = anyOf(
  oneOf('data'),
  options({
    noise: num({ min: 0 }).describe('σ of the noise x ~ N(0, σ²), shaped like the kernel input'),
    batchSize: num({ min: 1, integer: true }).optional().describe('noise samples per step (default: the batch size)'),
  }),
);
export type FeedbackInputs = Infer<typeof feedbackInputsSchema>;

/** Data rules: how many samples of each batch B's update reads (`null`: all). */
const feedbackSamples = num({ min: 1, integer: true }).nullable();
const FEEDBACK_SAMPLES_TEXT =
  "B's update reads only the first n samples of each batch (an unbiased estimate of the same expectation; B's products scale with n); null: the whole batch";

const isTermObject = (v: unknown): v is FeedbackTerm =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as FeedbackTerm).grad === 'function' &&
  typeof (v as FeedbackTerm).coefficient?.at === 'function';

const jsonTerm = options({ primitive: oneOf(...PRIMITIVES), coefficient: coefficientSchema });

/** One summand of R(B): a term value (`amp(1e-3)`, or a custom `FeedbackTerm`) or its JSON form. */
export const termSchema = custom<TermLike>(
  `a term such as amp(1e-3) (or a custom FeedbackTerm), or its JSON { primitive: ${PRIMITIVES.map((p) => `'${p}'`).join(' | ')}, coefficient }`,
  (v) => (isTermObject(v) ? v : tryParse(jsonTerm, v)),
  jsonTerm.toJSONSchema(),
);

/**
 * The generic rule, `learnedFeedback(options)`: FA's backward pass with each B trained by its own optimizer on
 * `R(B) = Σ c_i(t) R_i(B)`. Only `terms` is required.
 */
export const learnedFeedbackOptions = options({
  terms: list(termSchema).describe('the regularizer R(B) = Σ c_i(t) R_i(B), e.g. [amp(1e-3), decay(2e-3)] or [{ primitive: "amp", coefficient: 1e-3 }]'),
  // η_B = 10 makes η_B · 2e-3 (the papers' decay) 0.02 per step
  feedbackOptimizer: feedbackOptimizerSchema.default({ name: 'sgd', lr: 10 }).describe("B's own optimizer (never the forward one)"),
  feedbackInit: feedbackInitSchema.default('glorot').describe(FEEDBACK_INIT_TEXT),
  feedbackInputs: feedbackInputsSchema
    .default('data')
    .describe("'data' (the kernel's input and linear output), or mirror mode { noise: σ, batchSize? }: x ~ N(0, σ²) pushed through the kernel"),
  feedbackSamples: feedbackSamples.default(null).describe(`data mode: ${FEEDBACK_SAMPLES_TEXT}`),
  id: str().default('lf').describe('the rule id (its layers draw from the streams rule/<id>/layer<l>)'),
  name: str().default('learned feedback').describe('the rule name'),
});

/** Every option of the generic rule, filled. */
export type LearnedFeedbackConfig = Infer<typeof learnedFeedbackOptions>;
/** What a user passes to `learnedFeedback`: the terms, and any other option. */
export type LearnedFeedbackOptions = Partial<LearnedFeedbackConfig> & Pick<LearnedFeedbackConfig, 'terms'>;

const bOptimizer = (tuned: OptimizerConfig) => feedbackOptimizerSchema.default(tuned).describe("B's own optimizer (never the forward one)");
const bInit = feedbackInitSchema.default('glorot').describe(FEEDBACK_INIT_TEXT);

/** Symmetric alignment, SA = α·Self + β·Decay: B → `(α/β)·kernel`. Coefficients are the official code's. */
export const symmetricAlignmentOptions = options({
  self: coefficientSchema.default(2e-3).describe('α, the Self coefficient (R = −tr(B W), non-local: reads W)'),
  decay: coefficientSchema.default(2e-3).describe('β, the Decay coefficient (R = ½‖B‖²); the fixed point is B = (α/β)·kernel'),
  // η_B·β = 25·2e-3 = 0.05: B relaxes toward the kernel over ~20 steps. η_B = 250 (0.5 per step, B ← ½B + ½W: backprop
  // one step late) scored 0.8 points better on the retune sweep, within the seeds' spread (experiments/sweeps/retune.yaml)
  feedbackOptimizer: bOptimizer({ name: 'sgd', lr: 25 }),
  feedbackInit: bInit,
});

/** Activation alignment, AA = α·Amp + β·Sparse: `Σ B = (α/β) Σ kernel`. */
export const activationAlignmentOptions = options({
  amp: coefficientSchema.default(2e-3).describe('α, the Amp coefficient (R = −(1/N) Σ xᵀ B r, Hebbian)'),
  sparse: coefficientSchema.default(2e-3).describe('β, the Sparse coefficient (R = (1/2N) Σ ‖Bᵀ x‖²)'),
  // SGD on Sparse diverges once η_B·β·λmax(Σ) > 2 (Σ of tanh activations is far from white): Adam is stable
  feedbackOptimizer: bOptimizer({ name: 'adam', lr: 1e-2 }),
  feedbackInit: bInit,
  // 32 of 128 samples: a quarter of B's cost, the same accuracy (sweep stage `samples`)
  feedbackSamples: feedbackSamples.default(32).describe(FEEDBACK_SAMPLES_TEXT),
});

const noMirror = custom<false>('false', (v) => (v === false ? false : undefined), { const: false });
const mirrorNoise = options({
  sigma: num({ min: 0 }).optional().describe('σ of the noise; default √(decay/amp), which makes the fixed point the kernel itself'),
  // a 64-sample noise batch aligns B about as well as 128 at half the cost
  batchSize: num({ min: 1, integer: true }).default(64).describe('noise samples per step'),
});

/** Weight mirror, WM = α·Amp + β·Decay on white noise `x ~ N(0, σ²)`: B → `(α σ²/β)·kernel`. */
export const weightMirrorOptions = options({
  amp: coefficientSchema.default(1e-3).describe('α, the Amp coefficient'),
  decay: coefficientSchema.default(2e-3).describe('β, the Decay coefficient'),
  mirror: anyOf(noMirror, mirrorNoise)
    .default(mirrorNoise.parse({}, 'wm.mirror'))
    .describe(
      "mirror mode: B learns from x ~ N(0, σ²) pushed through the kernel, { sigma?, batchSize }; σ defaults to √(decay/amp) (the default coefficients' ratio when one is scheduled); false: from the data",
    ),
  // η_B·β = 0.02
  feedbackOptimizer: bOptimizer({ name: 'sgd', lr: 10 }),
  feedbackInit: bInit,
  feedbackSamples: feedbackSamples.default(null).describe(`with mirror: false, ${FEEDBACK_SAMPLES_TEXT}`),
});

/** Information alignment, IA = α·Amp + β·Null + γ·Decay: `B = α Σ Wᵀ (β W Σ Wᵀ + γ I)⁻¹`, purely local. */
export const informationAlignmentOptions = options({
  // 5× the official value keeps ‖B‖ near ‖W‖ (IA's fixed point scales with α)
  amp: coefficientSchema.default(1e-2).describe('α, the Amp coefficient'),
  null: coefficientSchema.default(2e-3).describe('β, the Null coefficient (R = (1/2N) Σ ‖B r‖²)'),
  decay: coefficientSchema.default(2e-3).describe('γ, the Decay coefficient'),
  // Null's curvature (β·λmax(RᵀR/N) ≫ decay's) makes SGD diverge at any η_B that moves B in an epoch: Adam
  feedbackOptimizer: bOptimizer({ name: 'adam', lr: 3e-3 }),
  feedbackInit: bInit,
  feedbackSamples: feedbackSamples.default(32).describe(FEEDBACK_SAMPLES_TEXT),
});

/** Kolen–Pollack: B receives W's applied step and its decoupled decay; it has no optimizer of its own. */
export const kolenPollackOptions = options({
  feedbackInit: feedbackInitSchema.default('glorot').describe(`${FEEDBACK_INIT_TEXT}; 'kernel' starts W and B tied`),
});

export type SymmetricAlignmentConfig = Infer<typeof symmetricAlignmentOptions>;
export type SymmetricAlignmentOptions = Partial<SymmetricAlignmentConfig>;
export type ActivationAlignmentConfig = Infer<typeof activationAlignmentOptions>;
export type ActivationAlignmentOptions = Partial<ActivationAlignmentConfig>;
export type WeightMirrorConfig = Infer<typeof weightMirrorOptions>;
/** What a user passes (the mirror object's fields have defaults too, which `Partial` alone does not say). */
export type WeightMirrorOptions = Omit<Partial<WeightMirrorConfig>, 'mirror'> & { mirror?: false | { sigma?: number; batchSize?: number } };
export type InformationAlignmentConfig = Infer<typeof informationAlignmentOptions>;
export type InformationAlignmentOptions = Partial<InformationAlignmentConfig>;
export type KolenPollackConfig = Infer<typeof kolenPollackOptions>;
export type KolenPollackOptions = Partial<KolenPollackConfig>;

const SOURCE = 'experiments/sweeps/learned-feedback.yaml: Fashion-MNIST 784-256-256-10 tanh, 10k train / 2k test, 3 epochs, seed 7, batch 128';

const RETUNE = 'experiments/sweeps/retune.yaml: Fashion-MNIST 784-256-256-10 tanh, 20k train / 5k test, 6 epochs, batch 128, seeds 1-3, blas';

const forward = (lr: number, extra: Partial<OptimizerConfig> = {}): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9, ...extra });
const training = (optimizer: OptimizerConfig): RuleDefaults => ({ optimizer, kernelInit: 'glorot', batchSize: 128, activation: 'tanh', source: SOURCE });

/** The training each named rule was tuned with (forward optimizer, init, batch, activation); its options' defaults are in its schema. */
export const ruleDefaults: Record<'sa' | 'aa' | 'wm' | 'ia' | 'kp', RuleDefaults> = {
  sa: { ...training(forward(0.05)), source: `${SOURCE}; B's learning rate: ${RETUNE}` },
  aa: training(forward(0.05)),
  wm: training(forward(0.05)),
  ia: training(forward(0.02)),
  // W − B decays as (1−λ)^t. On the MLP λ = 5e-4 scores 15.5% test error where 5e-3 gives 20.6% and 5e-5 16.0%, as
  // backprop with the same decays (15.4%, 20.6%, 14.7%: the decay that ties B to W also shrinks W;
  // experiments/sweeps/retune.yaml, stage kp-decay). LeNet-5 trains KP with its preset's own optimizer and λ (5e-5:
  // on that net's momentum at lr 0.005, λ = 5e-4 lets the loss grow, 1.43× in the conformance check's 64 steps).
  kp: { ...training(forward(0.05, { decoupledDecay: 5e-4 })), source: `${RETUNE}; LeNet-5: its preset's` },
};
