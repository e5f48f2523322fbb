import type { RuleEntry } from '@bioprop/core';
import { lraDiffDefaults, lraFdbkDefaults } from './defaults.js';
import { lraDiff, lraFdbk } from './rule.js';
import type { LraFdbkOptions, LraOptions } from './options.js';

/** LRA-diff as an application lists it (`bioprop rules`). */
export const lraDiffEntry: RuleEntry = {
  id: 'lra-diff',
  name: 'local representation alignment (diff)',
  summary: 'Per-layer targets from chain-rule corrections through Wᵀ, Cauchy losses, norm-constrained updates (Ororbia et al. 2018).',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'chain',
  defaults: lraDiffDefaults,
  create: (options = {}) => lraDiff({ ...lraDiffDefaults.ruleOptions, ...options } as LraOptions),
};

/** LRA-fdbk as an application lists it. */
export const lraFdbkEntry: RuleEntry = {
  id: 'lra-fdbk',
  name: 'local representation alignment (fdbk)',
  summary: 'Per-layer targets from corrections through fixed random matrices E, Cauchy losses, norm-constrained updates; trains from zero init (Ororbia et al. 2018).',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'chain',
  defaults: lraFdbkDefaults,
  create: (options = {}) => lraFdbk({ ...lraFdbkDefaults.ruleOptions, ...options } as LraFdbkOptions),
};

export const lraEntries: readonly RuleEntry[] = [lraDiffEntry, lraFdbkEntry];
