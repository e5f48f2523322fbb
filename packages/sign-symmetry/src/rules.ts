import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { batchwiseRandomSignFeedbackRule, fixedRandomSignFeedbackRule, uniformSignFeedbackRule } from './sign-symmetry.js';
import {
  batchwiseRandomSignFeedbackOptions,
  fixedRandomSignFeedbackOptions,
  brsfDefaults,
  frsfDefaults,
  uniformSignFeedbackOptions,
  usfDefaults,
} from './options.js';

const KERNELS = ['dense', 'conv2d', 'locallyConnected2d'];

/** uSF as applications list it (`bioprop rules`). */
export const usfEntry = defineRule({
  id: 'usf',
  name: 'uniform sign-concordant feedback',
  summary: 'Errors sent down through B = sign(W), from the current weights at every step (Liao, Leibo & Poggio 2016).',
  supports: KERNELS,
  graphs: 'any',
  options: uniformSignFeedbackOptions,
  defaults: usfDefaults,
  build: (o) => layerwise(uniformSignFeedbackRule(o)),
});

/** brSF as applications list it. */
export const brsfEntry = defineRule({
  id: 'brsf',
  name: 'batchwise random magnitude sign-concordant feedback',
  summary: 'Errors sent down through B = |M| ⊙ sign(W), M redrawn after every update (Liao, Leibo & Poggio 2016).',
  supports: KERNELS,
  graphs: 'any',
  options: batchwiseRandomSignFeedbackOptions,
  defaults: brsfDefaults,
  build: (o) => layerwise(batchwiseRandomSignFeedbackRule(o)),
});

/** frSF as applications list it. */
export const frsfEntry = defineRule({
  id: 'frsf',
  name: 'fixed random magnitude sign-concordant feedback',
  summary: 'Errors sent down through B = |M| ⊙ sign(W), M drawn once and kept (Liao, Leibo & Poggio 2016).',
  supports: KERNELS,
  graphs: 'any',
  options: fixedRandomSignFeedbackOptions,
  defaults: frsfDefaults,
  build: (o) => layerwise(fixedRandomSignFeedbackRule(o)),
});

/** Every rule of this package (what the CLI and `--plugin` read). */
export const rules = [usfEntry, brsfEntry, frsfEntry] as const satisfies readonly RuleEntry[];
