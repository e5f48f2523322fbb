import {
  OptionError,
  RuleSupportError,
  glorotInit,
  resolveInitializer,
  type InitializerLike,
  type JsonValue,
  type LayerContext,
  type LayerInitContext,
  type Layer,
  type LayerStateContext,
  type Tensor,
} from '@bioprop/core';

/**
 * How B starts: an initializer (drawn from the layer's own stream `rule/<id>/layer<l>`), or `'kernel'`: a copy of
 * the kernel (backprop).
 */
export type FeedbackInit = InitializerLike | 'kernel';

/** State key of a layer's feedback weights (`layer<l>/B` in `BoundRule.state()`). */
export const FEEDBACK_KEY = 'B';

export function validateFeedbackInit(like: FeedbackInit | undefined, where: string): FeedbackInit {
  if (like === undefined) return 'glorot';
  if (like === 'kernel') return like;
  try {
    resolveInitializer(like, glorotInit());
  } catch (e) {
    throw new OptionError(`${where}: ${(e as Error).message}`);
  }
  return like;
}

export function feedbackInitJson(like: FeedbackInit): JsonValue {
  if (typeof like === 'string') return like;
  if ('init' in like) return { name: like.name, config: like.config };
  return like as JsonValue;
}

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

/** Rule ids and names are validated once, here. */
export function checkIdentity(o: { id?: string; name?: string }, fallbackId: string, fallbackName: string) {
  const id = o.id ?? fallbackId;
  const name = o.name ?? fallbackName;
  if (typeof id !== 'string' || !id) throw new OptionError(`rule id must be a non-empty string, got ${JSON.stringify(id)}`);
  if (typeof name !== 'string' || !name) throw new OptionError(`rule name must be a non-empty string, got ${JSON.stringify(name)}`);
  return { id, name };
}
