import type { Rule } from '@bioprop/core';
import type { LraDiffOptions, LraFdbkOptions } from './options.js';
import { lraDiffEntry, lraFdbkEntry } from './rules.js';

/**
 * LRA-diff (Ororbia et al. 2018): per-layer targets `y_{l-1} = φ(ā_{l-1} − β Δa_{l-1})` with the chain-rule
 * correction `Δa_{l-1} = (W_lᵀ (e_l ⊙ φ'(a_l))) ⊙ φ'(a_{l-1})`, Cauchy losses at every layer, updates of norm ≤ c₁.
 * Chains of blocks only. Options left out take their tuned defaults.
 */
export function lraDiff(options: LraDiffOptions = {}): Rule {
  return lraDiffEntry.create(options);
}

/**
 * LRA-fdbk: LRA with `W_lᵀ` replaced by a fixed random Gaussian `E_l` (rule state, drawn from the layer's stream
 * `rule/lra-fdbk/layer<l>`) and one derivative kept (`derivative: 'above' | 'below'`). Chains of blocks only. Options
 * left out take their tuned defaults.
 */
export function lraFdbk(options: LraFdbkOptions = {}): Rule {
  return lraFdbkEntry.create(options);
}

export { lraDiffEntry, lraFdbkEntry, rules } from './rules.js';
export { lraRule, lraLoopRule, feedbackKey } from './lra.js';
export { lraLayerRule } from './layer-rule.js';
export { computeLra, type LraComputation } from './algorithm.js';
export { lraDiffDefaults, lraDiffOptions, lraFdbkDefaults, lraFdbkOptions } from './options.js';
export type {
  LraConfig,
  LraCorrection,
  LraDiffConfig,
  LraDiffOptions,
  LraFdbkConfig,
  LraFdbkDerivative,
  LraFdbkOptions,
  LraOptions,
  LraOutputLoss,
  LraUpdateFrom,
} from './options.js';
