import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { kolenPollackRule } from './kolen-pollack.js';
import { activationAlignmentRule, informationAlignmentRule, symmetricAlignmentRule, weightMirrorRule } from './named.js';
import {
  activationAlignmentOptions,
  informationAlignmentOptions,
  kolenPollackOptions,
  ruleDefaults,
  symmetricAlignmentOptions,
  weightMirrorOptions,
} from './options.js';

// the terms use only the kernel's interface; each kind is exercised by the conformance suite
const supports = ['dense', 'conv2d', 'locallyConnected2d'];
// error signals cross residual adds and every other module by exact VJPs
const graphs = 'any';

export const symmetricAlignmentEntry = defineRule({
  id: 'sa',
  name: 'symmetric alignment',
  summary: 'Learned feedback B trained on α·Self + β·Decay, pulled toward the forward kernel (Kunin et al. 2020).',
  supports,
  graphs,
  options: symmetricAlignmentOptions,
  defaults: ruleDefaults.sa,
  build: (o) => layerwise(symmetricAlignmentRule(o)),
});

export const activationAlignmentEntry = defineRule({
  id: 'aa',
  name: 'activation alignment',
  summary: 'Learned feedback B trained on α·Amp + β·Sparse from layer activations (Kunin et al. 2020).',
  supports,
  graphs,
  options: activationAlignmentOptions,
  defaults: ruleDefaults.aa,
  build: (o) => layerwise(activationAlignmentRule(o)),
});

export const weightMirrorEntry = defineRule({
  id: 'wm',
  name: 'weight mirror',
  summary: 'Learned feedback B trained on α·Amp + β·Decay from white-noise inputs, mirroring W (Akrout et al. 2019).',
  supports,
  graphs,
  options: weightMirrorOptions,
  defaults: ruleDefaults.wm,
  build: (o) => layerwise(weightMirrorRule(o)),
});

export const informationAlignmentEntry = defineRule({
  id: 'ia',
  name: 'information alignment',
  summary: 'Learned feedback B trained on α·Amp + β·Null + γ·Decay, purely local (Kunin et al. 2020).',
  supports,
  graphs,
  options: informationAlignmentOptions,
  defaults: ruleDefaults.ia,
  build: (o) => layerwise(informationAlignmentRule(o)),
});

export const kolenPollackEntry = defineRule({
  id: 'kp',
  name: 'Kolen–Pollack',
  summary: "B receives W's applied step and the same decoupled decay, so W − B decays as (1−λ)^t (Akrout et al. 2019).",
  supports,
  graphs,
  options: kolenPollackOptions,
  defaults: ruleDefaults.kp,
  build: (o) => layerwise(kolenPollackRule(o)),
});

/** Every rule of this package, as applications list them (`bioprop rules`). */
export const rules = [symmetricAlignmentEntry, activationAlignmentEntry, weightMirrorEntry, informationAlignmentEntry, kolenPollackEntry] as const satisfies readonly RuleEntry[];
