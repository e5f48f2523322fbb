import { deltaFromSignal, layerwise, type LayerRule, type Rule, type RuleEntry } from '@bioprop/core';
import { backpropDefaults } from './defaults.js';

export interface BackpropOptions {
  /** No options yet; kept so every rule factory takes an options object. */
  readonly [key: string]: never;
}

/**
 * Backprop at one layer: `δ_l` from the signal at the block output through the block's exact VJP, the kernel's
 * gradients from `δ_l`, and `backwardInput(δ_l, kernel_l)` sent to the kernel input. For `perLayer` compositions and
 * for rules that extend it.
 */
export const backpropRule: LayerRule = {
  id: 'bp',
  name: 'backprop',
  options: {},
  usesSignal: true,
  graphs: 'any',
  step(ctx) {
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
 * Backpropagation: `δ_L = e`, `δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(a_l)`, `∇W_l = δ_l h_{l-1}ᵀ`, on any graph of modules
 * (pooling, batch norm, dropout, residual blocks). The reference every other rule is measured against; equals
 * TensorFlow.js autodiff of the same loss.
 */
export function backprop(_options: BackpropOptions = {}): Rule {
  return layerwise(backpropRule);
}

/** Backprop's tuned defaults (optimizer, init), measured by a sweep; see the README. */
export { backpropDefaults };

/** Backprop as an application lists it (`bioprop rules`): id `bp`, every layer kind core has, any graph. */
export const backpropEntry: RuleEntry = {
  id: 'bp',
  name: 'backprop',
  summary: 'Backpropagation: exact gradients, the reference every other rule is measured against.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  defaults: backpropDefaults,
  create: () => backprop(),
};
