import { layerwise, type Rule, type RuleEntry } from '@bioprop/core';
import { ruleOptionDefaults, targetPropagationDefaults } from './defaults.js';
import {
  TARGET_PROPAGATION_LAYER_KINDS,
  resolveOptions,
  targetPropagationLayerRule,
  type TargetPropagationOptions,
  type TargetPropagationVariant,
} from './layer-rule.js';

export { TARGET_PROPAGATION_LAYER_KINDS, targetPropagationLayerRule, resolveOptions } from './layer-rule.js';
export type { TargetPropagationOptions, TargetPropagationVariant, ResolvedOptions } from './layer-rule.js';
export {
  outputSpace,
  blockAdjoint,
  inverseForward,
  inverseGrads,
  auxFeatures,
  INVERSE_KERNEL,
  INVERSE_BIAS,
  INVERSE_AUX_KERNEL,
  AUX_PROJECTION,
  INVERSE_OPTIMIZER,
  type InverseMap,
} from './inverse.js';
export { targetPropagationDefaults, ruleOptionDefaults } from './defaults.js';

function make(variant: TargetPropagationVariant, options: TargetPropagationOptions): Rule {
  return layerwise(targetPropagationLayerRule(variant, resolveOptions(variant, options, ruleOptionDefaults[variant])));
}

/**
 * Target propagation (Lee et al. 2015, as in Bartunov et al. 2018): the penultimate target is a gradient step
 * `ĥ_{L-1} = h_{L-1} − α ∂ℓ/∂h_{L-1}`, lower targets go through learned inverses `ĥ_{l-1} = g_l(ĥ_l)`.
 */
export function targetPropagation(options: TargetPropagationOptions = {}): Rule {
  return make('tp', options);
}

/** Difference target propagation: as TP, with the correction `ĥ_{l-1} = h_{l-1} + g_l(ĥ_l) − g_l(h_l)`. */
export function differenceTargetPropagation(options: TargetPropagationOptions = {}): Rule {
  return make('dtp', options);
}

/**
 * Simplified DTP: no gradient below the top. `h_L = softmax(a_L)`, `ĥ_L = y` (the label distribution),
 * `ĥ_{L-1} = h_{L-1} + g_L(ĥ_L) − g_L(h_L)`, and difference-corrected targets further down.
 */
export function simplifiedDifferenceTargetPropagation(options: TargetPropagationOptions = {}): Rule {
  return make('sdtp', options);
}

/**
 * SDTP with auxiliary outputs: the top's inverse reads `[h_L, z]`, z fixed random features of `h_{L-1}`
 * (never trained): `ĥ_{L-1} = h_{L-1} + g_L(ĥ_L, z) − g_L(h_L, z)`.
 */
export function auxiliaryOutputSimplifiedDifferenceTargetPropagation(options: TargetPropagationOptions = {}): Rule {
  return make('ao-sdtp', options);
}

const supports = [...TARGET_PROPAGATION_LAYER_KINDS];
// targets do not split between the branches of a residual add: chains of blocks only
const graphs = 'chain' as const;

export const tpEntry: RuleEntry = {
  id: 'tp',
  name: 'target propagation',
  summary: 'Targets through learned inverses ĥ_{l-1} = g(ĥ_l), gradient step at the penultimate layer (Lee et al. 2015).',
  supports,
  graphs,
  defaults: targetPropagationDefaults.tp,
  create: (options) => targetPropagation(options as TargetPropagationOptions),
};

export const dtpEntry: RuleEntry = {
  id: 'dtp',
  name: 'difference target propagation',
  summary: 'TP with the difference correction ĥ_{l-1} = h_{l-1} + g(ĥ_l) − g(h_l) (Bartunov et al. 2018).',
  supports,
  graphs,
  defaults: targetPropagationDefaults.dtp,
  create: (options) => differenceTargetPropagation(options as TargetPropagationOptions),
};

export const sdtpEntry: RuleEntry = {
  id: 'sdtp',
  name: 'simplified difference target propagation',
  summary: 'DTP with no gradient below the top: the label distribution is the output target (Bartunov et al. 2018).',
  supports,
  graphs,
  defaults: targetPropagationDefaults.sdtp,
  create: (options) => simplifiedDifferenceTargetPropagation(options as TargetPropagationOptions),
};

export const aoSdtpEntry: RuleEntry = {
  id: 'ao-sdtp',
  name: 'auxiliary-output SDTP',
  summary: 'SDTP whose top inverse also reads fixed random features of h_{L-1} (Bartunov et al. 2018).',
  supports,
  graphs,
  defaults: targetPropagationDefaults['ao-sdtp'],
  create: (options) => auxiliaryOutputSimplifiedDifferenceTargetPropagation(options as TargetPropagationOptions),
};

/** The four rules as an application lists them. */
export const targetPropagationEntries: readonly RuleEntry[] = [tpEntry, dtpEntry, sdtpEntry, aoSdtpEntry];
