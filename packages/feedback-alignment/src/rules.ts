import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { feedbackAlignmentRule } from './feedback-alignment.js';
import { faDefaults, feedbackAlignmentOptions } from './options.js';

/** Feedback alignment as applications list it (`bioprop rules`): options schema, tuned training defaults. */
export const faEntry = defineRule({
  id: 'fa',
  name: 'feedback alignment',
  summary: 'Errors sent down through fixed random feedback matrices B instead of Wᵀ (Lillicrap et al. 2016); optional sparse B and W.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  options: feedbackAlignmentOptions,
  defaults: faDefaults,
  build: (o) => layerwise(feedbackAlignmentRule(o)),
});

/** Every rule of this package. */
export const rules = [faEntry] as const satisfies readonly RuleEntry[];
