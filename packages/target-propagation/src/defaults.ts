import type { RuleDefaults } from '@bioprop/core';
import type { ResolvedOptions, TargetPropagationVariant } from './layer-rule.js';

/**
 * Rule options used when a field is left out, measured by `scripts/sweep.ts` on the standard budget
 * (Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128, seed 7, wasm; README table).
 */
export const ruleOptionDefaults: Record<TargetPropagationVariant, ResolvedOptions> = {
  tp: { alpha: 0.2, noise: 0.01, inverseOptimizer: { name: 'adam', lr: 3e-4 }, inverseInit: 'glorot', schedule: 'parallel', alternateStart: 'forward' },
  dtp: { alpha: 0.05, noise: 0.3, inverseOptimizer: { name: 'adam', lr: 3e-4 }, inverseInit: 'glorot', schedule: 'parallel', alternateStart: 'forward' },
  // SDTP takes no gradient step; α only serves a layer that receives an error from a rule above it (perLayer)
  sdtp: { alpha: 0.05, noise: 0.01, inverseOptimizer: { name: 'adam', lr: 3e-4 }, inverseInit: 'glorot', schedule: 'parallel', alternateStart: 'forward' },
  'ao-sdtp': {
    alpha: 0.05,
    noise: 0.1,
    inverseOptimizer: { name: 'adam', lr: 3e-4 },
    inverseInit: 'glorot',
    schedule: 'parallel',
    alternateStart: 'forward',
    auxUnits: 256,
  },
};

const SOURCE =
  'scripts/sweep.ts: coordinate search (forward lr; σ × inverse lr; α or auxUnits) on Fashion-MNIST 784-256-256-10 tanh, 10000/2000, 3 epochs, batch 128, seed 7, wasm';

const base = (variant: TargetPropagationVariant, lr: number): RuleDefaults => ({
  optimizer: { name: 'adam', lr },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  ruleOptions: ruleOptionDefaults[variant] as unknown as RuleDefaults['ruleOptions'],
  source: SOURCE,
});

/** Tuned defaults per rule (forward optimizer, init, batch, activation, rule options). */
export const targetPropagationDefaults: Record<TargetPropagationVariant, RuleDefaults> = {
  tp: base('tp', 3e-4),
  dtp: base('dtp', 3e-3),
  sdtp: base('sdtp', 1e-3),
  'ao-sdtp': base('ao-sdtp', 1e-3),
};
