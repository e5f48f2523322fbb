import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  glorotInit,
  resolveInitializer,
  type InitializerLike,
  type JsonValue,
  type Layer,
  type RandomSource,
  type Variable,
} from '@bioprop/core';

/** How B starts: an initializer (drawn from the run's `feedback` stream), or `'kernel'`: a copy of the kernel (backprop). */
export type FeedbackInit = InitializerLike | 'kernel';

export const FEEDBACK_STREAM = 'feedback';
/** State key of a layer's feedback weights (under core's `layer<l>/` prefix). */
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

/** Layers above the first need a kernel for B to stand in for. */
export function checkFeedbackLayer(id: string, layer: Layer, index: number): void {
  if (index > 0 && !layer.params[layer.kernelName]) {
    throw new RuleSupportError(`${id}: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}" for feedback weights to stand in for`);
  }
}

/** B for layer `index`, shaped like its kernel; layer 0 gets none (no layer below needs a signal). */
export function createFeedback(layer: Layer, index: number, random: RandomSource, init: FeedbackInit): Variable | null {
  if (index === 0) return null;
  const kernel = layer.params[layer.kernelName];
  const value =
    init === 'kernel' ? kernel.clone() : resolveInitializer(init, glorotInit()).init(kernel.shape, layer.fan, random.stream(FEEDBACK_STREAM));
  const v = tf.variable(value, false, undefined, 'float32');
  value.dispose();
  return v;
}

/** Rule ids and names are validated once, here. */
export function checkIdentity(o: { id?: string; name?: string }, fallbackId: string, fallbackName: string) {
  const id = o.id ?? fallbackId;
  const name = o.name ?? fallbackName;
  if (typeof id !== 'string' || !id) throw new OptionError(`rule id must be a non-empty string, got ${JSON.stringify(id)}`);
  if (typeof name !== 'string' || !name) throw new OptionError(`rule name must be a non-empty string, got ${JSON.stringify(name)}`);
  return { id, name };
}
