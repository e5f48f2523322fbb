import { defineRule, type RuleEntry } from '@bioprop/core';
import { lraRule } from './lra.js';
import { lraDiffDefaults, lraDiffOptions, lraFdbkDefaults, lraFdbkOptions } from './options.js';

/** LRA-diff as applications list it (`bioprop rules`): options schema, tuned training defaults. */
export const lraDiffEntry = defineRule({
  id: 'lra-diff',
  name: 'local representation alignment (diff)',
  summary: 'Per-layer targets from chain-rule corrections through Wᵀ, Cauchy losses, norm-constrained updates (Ororbia et al. 2018).',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'chain',
  options: lraDiffOptions,
  defaults: lraDiffDefaults,
  build: (o) => lraRule({ correction: 'diff', ...o }),
});

/** LRA-fdbk as applications list it. */
export const lraFdbkEntry = defineRule({
  id: 'lra-fdbk',
  name: 'local representation alignment (fdbk)',
  summary: 'Per-layer targets from corrections through fixed random matrices E, Cauchy losses, norm-constrained updates; can train from zero forward weights (Ororbia et al. 2018), starts from Glorot by default.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'chain',
  options: lraFdbkOptions,
  defaults: lraFdbkDefaults,
  build: (o) => lraRule({ correction: 'fdbk', ...o }),
});

/** Every rule of this package. */
export const rules = [lraDiffEntry, lraFdbkEntry] as const satisfies readonly RuleEntry[];
