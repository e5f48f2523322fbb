export { coefficient } from './coefficients.js';
export type { Coefficient, CoefficientLike, CoefficientSchedule, TrainingTime } from './coefficients.js';
export { amp, decay, nullTerm, sparse, self, primitive, primitives, resolveTerm, linearNoBias, kernelGradient, PRIMITIVES } from './primitives.js';
export type { FeedbackTerm, PrimitiveName, TermContext, TermLike } from './primitives.js';
export { FEEDBACK_KEY, FEEDBACK_STREAM } from './feedback.js';
export type { FeedbackInit } from './feedback.js';
export {
  learnedFeedback,
  learnedFeedbackSpec,
  combinedGradient,
  normalTensor,
  DEFAULT_FEEDBACK_OPTIMIZER,
  FEEDBACK_OPTIMIZER_PREFIX,
  MIRROR_STREAM,
} from './learned-feedback.js';
export type { FeedbackInputs, FeedbackOptimizerLike, LearnedFeedbackOptions } from './learned-feedback.js';
export { symmetricAlignment, activationAlignment, weightMirror, informationAlignment } from './named.js';
export type {
  ActivationAlignmentOptions,
  InformationAlignmentOptions,
  NamedRuleOptions,
  SymmetricAlignmentOptions,
  WeightMirrorOptions,
} from './named.js';
export { kolenPollack, kolenPollackSpec } from './kolen-pollack.js';
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
export { angleDegrees, feedbackAngles, feedbackWeights } from './diagnostics.js';
