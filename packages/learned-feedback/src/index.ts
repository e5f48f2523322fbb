import { layerwise, type Rule } from '@bioprop/core';
import { learnedFeedbackRule } from './learned-feedback.js';
import {
  learnedFeedbackOptions,
  type ActivationAlignmentOptions,
  type InformationAlignmentOptions,
  type KolenPollackOptions,
  type LearnedFeedbackOptions,
  type SymmetricAlignmentOptions,
  type WeightMirrorOptions,
} from './options.js';
import { activationAlignmentEntry, informationAlignmentEntry, kolenPollackEntry, symmetricAlignmentEntry, weightMirrorEntry } from './rules.js';

/**
 * Learned feedback (Kunin et al. 2020): the backward pass of feedback alignment, `δ_{l-1} = (B_l δ_l) ⊙ f'(a_{l-1})`,
 * with each B trained by its own optimizer on `R(B) = Σ c_i(t) R_i(B)`, a weighted sum of the primitives. Options
 * other than `terms` take the defaults of `learnedFeedbackOptions`; messages name the rule by its `id` (default `lf`).
 *
 * @example learnedFeedback({ terms: [amp(1e-3), decay(2e-3)], feedbackOptimizer: sgd({ lr: 10 }) })
 */
export function learnedFeedback(options: LearnedFeedbackOptions): Rule {
  const id = typeof options?.id === 'string' && options.id ? options.id : 'lf';
  return layerwise(learnedFeedbackRule(learnedFeedbackOptions.parse(options, id)));
}

/** Symmetric alignment, SA = α·Self + β·Decay: B is pulled toward `(α/β)·kernel` (backprop when α = β). */
export function symmetricAlignment(options: SymmetricAlignmentOptions = {}): Rule {
  return symmetricAlignmentEntry.create(options);
}

/** Activation alignment, AA = α·Amp + β·Sparse: fixed point `Σ B = (α/β) Σ kernel` (`Σ = E[x xᵀ]`). */
export function activationAlignment(options: ActivationAlignmentOptions = {}): Rule {
  return activationAlignmentEntry.create(options);
}

/**
 * Weight mirror (Akrout et al. 2019), WM = α·Amp + β·Decay, in mirror mode by default: B learns from white noise
 * `x ~ N(0, σ²)` pushed through the layer's linear map, so B → `(α σ²/β)·kernel`; `σ = √(decay/amp)` by default.
 */
export function weightMirror(options: WeightMirrorOptions = {}): Rule {
  return weightMirrorEntry.create(options);
}

/** Information alignment, IA = α·Amp + β·Null + γ·Decay: fixed point `B = α Σ Wᵀ (β W Σ Wᵀ + γ I)⁻¹`. */
export function informationAlignment(options: InformationAlignmentOptions = {}): Rule {
  return informationAlignmentEntry.create(options);
}

/**
 * Kolen–Pollack: FA's backward pass, and after each step B receives W's applied step plus the same decoupled decay
 * `(1−λ)`, so `W − B` shrinks exactly as `(1−λ)^t`. Give the forward optimizer a `decoupledDecay` (e.g.
 * `momentum({ lr, decoupledDecay: 5e-3 })`): with λ = 0, `W − B` never shrinks.
 */
export function kolenPollack(options: KolenPollackOptions = {}): Rule {
  return kolenPollackEntry.create(options);
}

export { rules, symmetricAlignmentEntry, activationAlignmentEntry, weightMirrorEntry, informationAlignmentEntry, kolenPollackEntry } from './rules.js';
export {
  activationAlignmentOptions,
  feedbackInitSchema,
  feedbackInputsSchema,
  feedbackOptimizerSchema,
  informationAlignmentOptions,
  kolenPollackOptions,
  learnedFeedbackOptions,
  ruleDefaults,
  symmetricAlignmentOptions,
  termSchema,
  weightMirrorOptions,
} from './options.js';
export type {
  ActivationAlignmentConfig,
  ActivationAlignmentOptions,
  FeedbackInit,
  FeedbackInputs,
  FeedbackOptimizerLike,
  InformationAlignmentConfig,
  InformationAlignmentOptions,
  KolenPollackConfig,
  KolenPollackOptions,
  LearnedFeedbackConfig,
  LearnedFeedbackOptions,
  SymmetricAlignmentConfig,
  SymmetricAlignmentOptions,
  WeightMirrorConfig,
  WeightMirrorOptions,
} from './options.js';
export { coefficient, coefficientSchema, scheduleSchemas } from './coefficients.js';
export type { Coefficient, CoefficientLike, CoefficientSchedule, TrainingTime } from './coefficients.js';
export { amp, decay, nullTerm, sparse, self, primitive, primitives, resolveTerm, linearNoBias, linearOutput, weightUses, kernelGradient, PRIMITIVES } from './primitives.js';
export type { FeedbackTerm, PrimitiveName, TermContext, TermLike } from './primitives.js';
export { learnedFeedbackRule, combinedGradient, normalTensor } from './learned-feedback.js';
export { symmetricAlignmentRule, activationAlignmentRule, weightMirrorRule, informationAlignmentRule, mirrorSigma } from './named.js';
export { kolenPollackRule } from './kolen-pollack.js';
export { FEEDBACK_KEY } from './feedback.js';
export { feedbackAngles } from './diagnostics.js';
