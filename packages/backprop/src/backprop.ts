import { deltaFromSignal, type LayerRule } from '@bioprop/core';

/**
 * Backprop at one layer: `δ_l` from the signal at the block output through the block's exact VJP, the kernel's
 * gradients from `δ_l`, and `backwardInput(δ_l, kernel_l)` sent to the kernel input. It has no options, so it is a
 * value rather than a factory; for `perLayer` compositions and for rules that extend it.
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
