export { coefficient } from './coefficients.js';
export type { Coefficient, CoefficientLike, CoefficientSchedule, TrainingTime } from './coefficients.js';
export { amp, decay, nullTerm, sparse, self, primitive, primitives, resolveTerm, linearNoBias, linearOutput, weightUses, kernelGradient, PRIMITIVES } from './primitives.js';
export type { FeedbackTerm, PrimitiveName, TermContext, TermLike } from './primitives.js';
export type { FeedbackInit } from './feedback.js';
export { learnedFeedback, learnedFeedbackRule, combinedGradient, normalTensor, DEFAULT_FEEDBACK_OPTIMIZER } from './learned-feedback.js';
export type { FeedbackInputs, FeedbackOptimizerLike, LearnedFeedbackOptions } from './learned-feedback.js';
export { symmetricAlignment, activationAlignment, weightMirror, informationAlignment } from './named.js';
export type {
  ActivationAlignmentOptions,
  InformationAlignmentOptions,
  NamedRuleOptions,
  SymmetricAlignmentOptions,
  WeightMirrorOptions,
} from './named.js';
export { kolenPollack, kolenPollackRule } from './kolen-pollack.js';
export type { KolenPollackOptions } from './kolen-pollack.js';
export { namedDefaults, ruleDefaults } from './defaults.js';
export {
  symmetricAlignmentEntry,
  activationAlignmentEntry,
  weightMirrorEntry,
  informationAlignmentEntry,
  kolenPollackEntry,
  learnedFeedbackEntries,
} from './entries.js';
export { feedbackAngles } from './diagnostics.js';
