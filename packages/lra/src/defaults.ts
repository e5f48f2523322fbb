import type { RuleDefaults } from '@bioprop/core';
import type { LraDefaultOptions } from './options.js';

/** A rule's defaults with its options typed (they are JSON too). */
export type LraRuleDefaults = Omit<RuleDefaults, 'ruleOptions'> & { readonly ruleOptions: LraDefaultOptions };

const SOURCE =
  'scripts/sweep.ts: Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128, seeds 7–9, wasm; ' +
  'derivative and optimizer also checked on digits with LWTA, Bernoulli, softplus, relu6, sign (README)';

/**
 * LRA-fdbk, measured: momentum 0.05 with β 0.1, c₁ 0.3 (c₁ lifts zero-init runs from 0.76 to 0.81–0.82), `derivative:
 * 'above'` (equal on tanh, better with LWTA/Bernoulli/softplus), the task loss at the output (Cauchy there: −0.05).
 */
export const lraFdbkDefaults: LraRuleDefaults = {
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  ruleOptions: { k: 1, beta: 0.1, c1: 0.3, outputLoss: 'task', settleTop: true, updateFrom: 'forward', derivative: 'above', feedbackStd: 1 },
  source: SOURCE,
};

/** LRA-diff, measured: momentum 0.05 with β 0.3, c₁ 1 (c₁ off: the same; 0.3: −0.01). */
export const lraDiffDefaults: LraRuleDefaults = {
  optimizer: { name: 'momentum', lr: 0.05, momentum: 0.9 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  ruleOptions: { k: 1, beta: 0.3, c1: 1, outputLoss: 'task', settleTop: true, updateFrom: 'forward' },
  source: SOURCE,
};
