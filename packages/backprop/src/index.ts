import type { Rule } from '@bioprop/core';
import type { BackpropOptions } from './options.js';
import { backpropEntry } from './rules.js';

/**
 * Backpropagation: `δ_L = e`, `δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(a_l)`, `∇W_l = δ_l h_{l-1}ᵀ`, on any graph of modules
 * (pooling, batch norm, dropout, residual blocks). The reference every other rule is measured against; equals
 * TensorFlow.js autodiff of the same loss. It takes no options (any key is an `OptionError`).
 */
export function backprop(options: BackpropOptions = {}): Rule {
  return backpropEntry.create(options);
}

export { backpropEntry, rules } from './rules.js';
export { backpropRule } from './backprop.js';
export { backpropDefaults, backpropOptions } from './options.js';
export type { BackpropConfig, BackpropOptions } from './options.js';
