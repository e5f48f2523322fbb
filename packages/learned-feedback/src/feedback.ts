import {
  RuleSupportError,
  glorotInit,
  resolveInitializer,
  type LayerContext,
  type LayerInitContext,
  type Layer,
  type LayerStateContext,
  type Tensor,
} from '@bioprop/core';
import type { FeedbackInit } from './options.js';

/** State key of a layer's feedback weights (`layer<l>/B` in `BoundRule.state()`). */
export const FEEDBACK_KEY = 'B';

/** Layers above the first send a signal down: they need a kernel for B to stand in for. */
export function checkFeedbackLayer(id: string, { layer, index }: LayerContext): void {
  if (index > 0) requireKernel(id, layer, index);
}

function requireKernel(id: string, layer: Layer, index: number): Tensor {
  const kernel = layer.params[layer.kernelName];
  if (!kernel) {
    throw new RuleSupportError(`${id}: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}" for feedback weights to stand in for`);
  }
  return kernel;
}

/**
 * B for one layer, shaped like its kernel, drawn from the layer's own stream; null where nothing below needs a
 * signal (layer 0, unless a module with parameters such as batch norm precedes it). Core turns it into a variable.
 */
export function createFeedback(id: string, ctx: LayerInitContext, init: FeedbackInit): Tensor | null {
  if (!ctx.needBelow) return null;
  const { layer, index } = ctx;
  const kernel = requireKernel(id, layer, index);
  return init === 'kernel' ? kernel.clone() : resolveInitializer(init, glorotInit()).init(kernel.shape, layer.fan, ctx.random);
}

/** The capability every rule of this package declares: its B in the kernel's layout, or null. */
export function feedbackOf({ state }: LayerStateContext): Tensor | null {
  return state.tensors[FEEDBACK_KEY] ?? null;
}
