import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { TARGET_PROPAGATION_LAYER_KINDS, targetPropagationLayerRule } from './layer-rule.js';
import {
  auxiliaryOutputSdtpOptions,
  differenceTargetPropagationOptions,
  simplifiedDifferenceTargetPropagationOptions,
  targetPropagationDefaults,
  targetPropagationOptions,
} from './options.js';

const supports = [...TARGET_PROPAGATION_LAYER_KINDS];
// targets do not split between the branches of a residual add: chains of blocks only
const graphs = 'chain';

export const tpEntry = defineRule({
  id: 'tp',
  name: 'target propagation',
  summary: 'Targets through learned inverses ĥ_{l-1} = g(ĥ_l), gradient step at the penultimate layer (Lee et al. 2015).',
  supports,
  graphs,
  options: targetPropagationOptions,
  defaults: targetPropagationDefaults.tp,
  build: (o) => layerwise(targetPropagationLayerRule('tp', o)),
});

export const dtpEntry = defineRule({
  id: 'dtp',
  name: 'difference target propagation',
  summary: 'TP with the difference correction ĥ_{l-1} = h_{l-1} + g(ĥ_l) − g(h_l) (Bartunov et al. 2018).',
  supports,
  graphs,
  options: differenceTargetPropagationOptions,
  defaults: targetPropagationDefaults.dtp,
  build: (o) => layerwise(targetPropagationLayerRule('dtp', o)),
});

export const sdtpEntry = defineRule({
  id: 'sdtp',
  name: 'simplified difference target propagation',
  summary: 'DTP with no gradient below the top: the label distribution is the output target (Bartunov et al. 2018).',
  supports,
  graphs,
  options: simplifiedDifferenceTargetPropagationOptions,
  defaults: targetPropagationDefaults.sdtp,
  build: (o) => layerwise(targetPropagationLayerRule('sdtp', o)),
});

export const aoSdtpEntry = defineRule({
  id: 'ao-sdtp',
  name: 'auxiliary-output SDTP',
  summary: 'SDTP whose top inverse also reads fixed random features of h_{L-1} (Bartunov et al. 2018).',
  supports,
  graphs,
  options: auxiliaryOutputSdtpOptions,
  defaults: targetPropagationDefaults['ao-sdtp'],
  build: (o) => layerwise(targetPropagationLayerRule('ao-sdtp', o)),
});

/** Every rule of this package, as applications list them (`bioprop rules`). */
export const rules = [tpEntry, dtpEntry, sdtpEntry, aoSdtpEntry] as const satisfies readonly RuleEntry[];
