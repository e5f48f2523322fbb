import { OptionError, type Rule, type RuleEntry } from '@bioprop/core';
import { ruleDefaults } from './defaults.js';
import { kolenPollack } from './kolen-pollack.js';
import { activationAlignment, informationAlignment, symmetricAlignment, weightMirror } from './named.js';

// the terms use only the kernel's interface; each kind is exercised by the conformance suite
const SUPPORTS = ['dense', 'conv2d', 'locallyConnected2d'] as const;

function entry(
  id: keyof typeof ruleDefaults,
  name: string,
  summary: string,
  make: (options: Record<string, unknown>) => Rule,
): RuleEntry {
  const defaults = ruleDefaults[id];
  return {
    id,
    name,
    summary,
    supports: SUPPORTS,
    // error signals cross residual adds and every other module by exact VJPs
    graphs: 'any',
    defaults,
    create(options = {}) {
      if (options === null || typeof options !== 'object') throw new OptionError(`${id}: options must be an object`);
      return make({ ...(defaults.ruleOptions as Record<string, unknown>), ...options });
    },
  };
}

export const symmetricAlignmentEntry: RuleEntry = entry(
  'sa',
  'symmetric alignment',
  'Learned feedback B trained on α·Self + β·Decay, pulled toward the forward kernel (Kunin et al. 2020).',
  (o) => symmetricAlignment(o),
);

export const activationAlignmentEntry: RuleEntry = entry(
  'aa',
  'activation alignment',
  'Learned feedback B trained on α·Amp + β·Sparse from layer activations (Kunin et al. 2020).',
  (o) => activationAlignment(o),
);

export const weightMirrorEntry: RuleEntry = entry(
  'wm',
  'weight mirror',
  'Learned feedback B trained on α·Amp + β·Decay from white-noise inputs, mirroring W (Akrout et al. 2019).',
  (o) => weightMirror(o),
);

export const informationAlignmentEntry: RuleEntry = entry(
  'ia',
  'information alignment',
  'Learned feedback B trained on α·Amp + β·Null + γ·Decay, purely local (Kunin et al. 2020).',
  (o) => informationAlignment(o),
);

export const kolenPollackEntry: RuleEntry = entry(
  'kp',
  'Kolen–Pollack',
  "B receives W's applied step and the same decoupled decay, so W − B decays as (1−λ)^t (Akrout et al. 2019).",
  (o) => kolenPollack(o),
);

/** Every rule of this package, as the CLI lists them. */
export const learnedFeedbackEntries: readonly RuleEntry[] = [
  symmetricAlignmentEntry,
  activationAlignmentEntry,
  weightMirrorEntry,
  informationAlignmentEntry,
  kolenPollackEntry,
];
