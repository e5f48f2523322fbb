import type { Rule } from '@bioprop/core';
import type { BatchwiseRandomSignFeedbackOptions, FixedRandomSignFeedbackOptions, UniformSignFeedbackOptions } from './options.js';
import { brsfEntry, frsfEntry, usfEntry } from './rules.js';

/**
 * Uniform sign-concordant feedback, uSF (Liao, Leibo & Poggio 2016): layer l sends `backwardInput(δ_l, B_l)` down with
 * `B_l = sign(W_l)` (scaled per layer as `scale` says), computed from the current kernel at every step. Dense, conv2d
 * and locally connected kernels, any graph. Options left out take their tuned defaults.
 */
export function uniformSignFeedback(options: UniformSignFeedbackOptions = {}): Rule {
  return usfEntry.create(options);
}

/** Batchwise random magnitude sign-concordant feedback, brSF: `B_l = |M_l| ⊙ sign(W_l)`, `M_l` redrawn after every update. */
export function batchwiseRandomSignFeedback(options: BatchwiseRandomSignFeedbackOptions = {}): Rule {
  return brsfEntry.create(options);
}

/** Fixed random magnitude sign-concordant feedback, frSF: `B_l = |M_l| ⊙ sign(W_l)`, `M_l` drawn once and kept. */
export function fixedRandomSignFeedback(options: FixedRandomSignFeedbackOptions = {}): Rule {
  return frsfEntry.create(options);
}

export { brsfEntry, frsfEntry, rules, usfEntry } from './rules.js';
export {
  MAGNITUDE_KEY,
  batchwiseRandomSignFeedbackRule,
  drawMagnitudes,
  fixedRandomSignFeedbackRule,
  magnitudeSignFeedbackWeights,
  uniformSignFeedbackRule,
  uniformSignFeedbackWeights,
} from './sign-symmetry.js';
export {
  batchwiseRandomSignFeedbackOptions,
  fixedRandomSignFeedbackOptions,
  brsfDefaults,
  frsfDefaults,
  magnitudeInitSchema,
  signScaleSchema,
  uniformSignFeedbackOptions,
  usfDefaults,
} from './options.js';
export type {
  BatchwiseRandomSignFeedbackConfig,
  BatchwiseRandomSignFeedbackOptions,
  FixedRandomSignFeedbackConfig,
  FixedRandomSignFeedbackOptions,
  MagnitudeInit,
  SignScale,
  UniformSignFeedbackConfig,
  UniformSignFeedbackOptions,
} from './options.js';
