import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { backpropRule } from './backprop.js';
import { backpropDefaults, backpropOptions } from './options.js';

/** Backprop as applications list it (`bioprop rules`): id `bp`, every kernel kind core has, any graph. */
export const backpropEntry = defineRule({
  id: 'bp',
  name: 'backprop',
  summary: 'Backpropagation: exact gradients, the reference every other rule is measured against.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  options: backpropOptions,
  defaults: backpropDefaults,
  build: () => layerwise(backpropRule),
});

/** Every rule of this package. */
export const rules = [backpropEntry] as const satisfies readonly RuleEntry[];
