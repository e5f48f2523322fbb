import { deltaFromSignal, layerwise, type LayerwiseRuleSpec, type Rule, type RuleEntry } from '@bioprop/core';
import { backpropDefaults } from './defaults.js';

export interface BackpropOptions {
  /** No options yet; kept so every rule factory takes an options object. */
  readonly [key: string]: never;
}

/** The layer-wise spec of backprop, for `perLayer` compositions and for rules that extend it. */
export const backpropSpec: LayerwiseRuleSpec = {
  id: 'bp',
  name: 'backprop',
  options: {},
  usesSignal: true,
  stepLayer(ctx) {
    const delta = deltaFromSignal(ctx);
    const { layer, layerTrace } = ctx;
    return {
      delta,
      grads: layer.paramGrads(layerTrace.input, delta),
      below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined,
    };
  },
};

/**
 * Backpropagation: `δ_L = e`, `δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(a_l)`, `∇W_l = δ_l h_{l-1}ᵀ`. The reference every other
 * rule is measured against; equals TensorFlow.js autodiff of the same loss.
 */
export function backprop(_options: BackpropOptions = {}): Rule {
  return layerwise(backpropSpec);
}

/** Backprop's tuned defaults (optimizer, init), measured by a sweep; see the README. */
export { backpropDefaults };

/** Backprop as an application lists it (`bioprop rules`): id `bp`, every layer kind core has. */
export const backpropEntry: RuleEntry = {
  id: 'bp',
  name: 'backprop',
  summary: 'Backpropagation: exact gradients, the reference every other rule is measured against.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  defaults: backpropDefaults,
  create: () => backprop(),
};
