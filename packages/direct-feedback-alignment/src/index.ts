import type { Rule } from '@bioprop/core';
import type { DirectFeedbackAlignmentOptions } from './options.js';
import { dfaEntry } from './rules.js';

/**
 * Direct feedback alignment (Nøkland 2016), on any graph of modules: the output layer learns from `e`, every other
 * kernel layer from `δ_l = blockVjp(reshape(e·D_l))` with a fixed random `D_l` (`[n_L, prod(blockOutputShape_l)]`), so
 * no hidden update waits for another. With one hidden layer and `D_1 = B_2ᵀ` (storage layouts) it is feedback alignment.
 * Options left out take their tuned defaults.
 */
export function directFeedbackAlignment(options: DirectFeedbackAlignmentOptions = {}): Rule {
  return dfaEntry.create(options);
}

export { dfaEntry, rules } from './rules.js';
export { directFeedbackAlignmentRule, DIRECT_FEEDBACK_KEY } from './direct-feedback-alignment.js';
export { dfaDefaults, directFeedbackAlignmentOptions, directFeedbackInitSchema } from './options.js';
export type { DirectFeedbackAlignmentConfig, DirectFeedbackAlignmentOptions, DirectFeedbackInit } from './options.js';
