import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { directFeedbackAlignmentRule } from './direct-feedback-alignment.js';
import { dfaDefaults, directFeedbackAlignmentOptions } from './options.js';

/** Direct feedback alignment as applications list it (`bioprop rules`): options schema, tuned training defaults. */
export const dfaEntry = defineRule({
  id: 'dfa',
  name: 'direct feedback alignment',
  summary: 'Every hidden layer driven straight from the output error through its own fixed random matrix (Nøkland 2016); no sequential backward pass.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  options: directFeedbackAlignmentOptions,
  defaults: dfaDefaults,
  build: (o) => layerwise(directFeedbackAlignmentRule(o)),
});

/** Every rule of this package. */
export const rules = [dfaEntry] as const satisfies readonly RuleEntry[];
