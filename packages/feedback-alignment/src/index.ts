import type { Rule } from '@bioprop/core';
import type { FeedbackAlignmentOptions } from './options.js';
import { faEntry } from './rules.js';

/**
 * Feedback alignment (Lillicrap et al. 2016): `δ_l = backwardInput(δ_{l+1}, B_{l+1})` through the block below, with
 * fixed random `B` (in the kernel's layout, so `B = kernel` is backprop); `∇W_l` from `δ_l` as in backprop. Supports
 * dense, conv2d and locally connected kernels on any graph. Options left out take their tuned defaults.
 */
export function feedbackAlignment(options: FeedbackAlignmentOptions = {}): Rule {
  return faEntry.create(options);
}

export { faEntry, rules } from './rules.js';
export { feedbackAlignmentRule, sparseMask, FEEDBACK_KEY, FORWARD_MASK_KEY } from './feedback-alignment.js';
export { faDefaults, feedbackAlignmentOptions, feedbackInitSchema } from './options.js';
export type { FeedbackAlignmentConfig, FeedbackAlignmentOptions, FeedbackInit } from './options.js';
