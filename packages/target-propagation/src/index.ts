import type { Rule } from '@bioprop/core';
import type { AuxiliaryOutputSdtpOptions, TargetPropagationOptions } from './options.js';
import { aoSdtpEntry, dtpEntry, sdtpEntry, tpEntry } from './rules.js';

/**
 * Target propagation (Lee et al. 2015, as in Bartunov et al. 2018): the penultimate target is a gradient step
 * `ĥ_{L-1} = h_{L-1} − α ∂ℓ/∂h_{L-1}`, lower targets go through learned inverses `ĥ_{l-1} = g_l(ĥ_l)`. Options left
 * out take their tuned defaults.
 */
export function targetPropagation(options: TargetPropagationOptions = {}): Rule {
  return tpEntry.create(options);
}

/** Difference target propagation: as TP, with the correction `ĥ_{l-1} = h_{l-1} + g_l(ĥ_l) − g_l(h_l)`. */
export function differenceTargetPropagation(options: TargetPropagationOptions = {}): Rule {
  return dtpEntry.create(options);
}

/**
 * Simplified DTP: no gradient below the top. `h_L = softmax(a_L)`, `ĥ_L = y` (the label distribution),
 * `ĥ_{L-1} = h_{L-1} + g_L(ĥ_L) − g_L(h_L)`, and difference-corrected targets further down.
 */
export function simplifiedDifferenceTargetPropagation(options: TargetPropagationOptions = {}): Rule {
  return sdtpEntry.create(options);
}

/**
 * SDTP with auxiliary outputs: the top's inverse reads `[h_L, z]`, z fixed random features of `h_{L-1}`
 * (never trained): `ĥ_{L-1} = h_{L-1} + g_L(ĥ_L, z) − g_L(h_L, z)`.
 */
export function auxiliaryOutputSimplifiedDifferenceTargetPropagation(options: AuxiliaryOutputSdtpOptions = {}): Rule {
  return aoSdtpEntry.create(options);
}

export { rules, tpEntry, dtpEntry, sdtpEntry, aoSdtpEntry } from './rules.js';
export {
  auxiliaryOutputSdtpOptions,
  differenceTargetPropagationOptions,
  inverseInitSchema,
  simplifiedDifferenceTargetPropagationOptions,
  targetPropagationDefaults,
  targetPropagationOptions,
} from './options.js';
export type {
  AuxiliaryOutputSdtpConfig,
  AuxiliaryOutputSdtpOptions,
  InverseInit,
  TargetPropagationConfig,
  TargetPropagationOptions,
} from './options.js';
export { TARGET_PROPAGATION_LAYER_KINDS, targetPropagationLayerRule } from './layer-rule.js';
export type { TargetPropagationVariant } from './layer-rule.js';
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
