import type { OptimizerConfig, RuleDefaults } from '@bioprop/core';

/**
 * Coefficients are the official code's, in methods.md's convention (quadratic terms carry ½). B's learning rates
 * are set so that `η_B · (decay coefficient)` moves B within the first epoch of a short run. Measured by
 * `scripts/sweep.ts` (see the README).
 */
export const namedDefaults = {
  // η_B·β = 250·2e-3 = 0.5: B closes half its gap to the kernel every step
  sa: { self: 2e-3, decay: 2e-3, feedbackOptimizer: { name: 'sgd', lr: 250 } as OptimizerConfig },
  // SGD on Sparse diverges once η_B·β·λmax(Σ) > 2 (Σ of tanh activations is far from white): Adam is stable
  // B's products on 32 of the 128 samples: a quarter of the cost, same accuracy (sweep stage `samples`)
  aa: { amp: 2e-3, sparse: 2e-3, feedbackSamples: 32, feedbackOptimizer: { name: 'adam', lr: 1e-2 } as OptimizerConfig },
  // η_B·β = 0.02; a 64-sample noise batch aligns B about as well as 128 at half the cost
  wm: {
    amp: 1e-3,
    decay: 2e-3,
    // the mirror noise's batch (σ follows from amp and decay, see weightMirror)
    mirror: { batchSize: 64 } as { readonly batchSize?: number },
    feedbackOptimizer: { name: 'sgd', lr: 10 } as OptimizerConfig,
  },
  // Null's curvature (β·λmax(RᵀR/N) ≫ decay's) makes SGD diverge at any η_B that moves B in an epoch: Adam;
  // Amp 5× the official value keeps ‖B‖ near ‖W‖ (IA's fixed point scales with α)
  ia: { amp: 1e-2, null: 2e-3, decay: 2e-3, feedbackSamples: 32, feedbackOptimizer: { name: 'adam', lr: 3e-3 } as OptimizerConfig },
} as const;

const SOURCE = 'scripts/sweep.ts: Fashion-MNIST 784-256-256-10 tanh, 10k train / 2k test, 3 epochs, seed 7, batch 128';

const forward = (lr: number, extra: Partial<OptimizerConfig> = {}): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9, ...extra });

/** Tuned defaults of each named rule (forward optimizer, init, batch, and the options passed to the factory). */
export const ruleDefaults: Record<'sa' | 'aa' | 'wm' | 'ia' | 'kp', RuleDefaults> = {
  sa: {
    optimizer: forward(0.05),
    kernelInit: 'glorot',
    batchSize: 128,
    activation: 'tanh',
    ruleOptions: { self: namedDefaults.sa.self, decay: namedDefaults.sa.decay, feedbackOptimizer: { ...namedDefaults.sa.feedbackOptimizer } },
    source: SOURCE,
  },
  aa: {
    optimizer: forward(0.05),
    kernelInit: 'glorot',
    batchSize: 128,
    activation: 'tanh',
    ruleOptions: {
      amp: namedDefaults.aa.amp,
      sparse: namedDefaults.aa.sparse,
      feedbackSamples: namedDefaults.aa.feedbackSamples,
      feedbackOptimizer: { ...namedDefaults.aa.feedbackOptimizer },
    },
    source: SOURCE,
  },
  wm: {
    optimizer: forward(0.05),
    kernelInit: 'glorot',
    batchSize: 128,
    activation: 'tanh',
    ruleOptions: {
      amp: namedDefaults.wm.amp,
      decay: namedDefaults.wm.decay,
      // σ is left to weightMirror (√(decay/amp) of the options in force), so overriding amp or decay keeps B → kernel
      mirror: { ...namedDefaults.wm.mirror },
      feedbackOptimizer: { ...namedDefaults.wm.feedbackOptimizer },
    },
    source: SOURCE,
  },
  ia: {
    optimizer: forward(0.02),
    kernelInit: 'glorot',
    batchSize: 128,
    activation: 'tanh',
    ruleOptions: {
      amp: namedDefaults.ia.amp,
      null: namedDefaults.ia.null,
      decay: namedDefaults.ia.decay,
      feedbackSamples: namedDefaults.ia.feedbackSamples,
      feedbackOptimizer: { ...namedDefaults.ia.feedbackOptimizer },
    },
    source: SOURCE,
  },
  kp: {
    optimizer: forward(0.05, { decoupledDecay: 5e-3 }),
    kernelInit: 'glorot',
    batchSize: 128,
    activation: 'tanh',
    ruleOptions: {},
    source: SOURCE,
  },
};
