import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  checkNumber,
  deltaFromSignal,
  layerwise,
  permutation,
  resolveInitializer,
  glorotInit,
  type JsonValue,
  type Layer,
  type LayerRule,
  type Network,
  type RandomStream,
  type Rule,
  type RuleEntry,
  type Tensor,
  type TensorMap,
} from '@bioprop/core';
import { faDefaults } from './defaults.js';

/**
 * How the fixed feedback weights are drawn: `{ uniform: β }` is `U[−β, β]`, `{ normal: σ }` is `N(0, σ²)`,
 * `'glorot'` scales them like a Glorot forward init of the same layer, `'fanInUniform'` is `U[±1/√fanIn]`.
 */
export type FeedbackInit = 'glorot' | 'fanInUniform' | { uniform: number } | { normal: number };

export interface FeedbackAlignmentOptions {
  /** Distribution of `B` (default: the tuned `faDefaults.ruleOptions.feedbackInit`). */
  feedbackInit?: FeedbackInit;
  /** Fraction of `B`'s entries set to zero (and, `B` being fixed, kept zero). Default 0. */
  feedbackSparsity?: number;
  /**
   * Fraction of every forward kernel's entries zeroed at bind time and kept zero: their gradient is masked and the
   * mask is re-applied after every optimizer step (so weight decay or momentum cannot revive them). Default 0.
   */
  forwardSparsity?: number;
}

/** Layer state keys (core saves them as `layer{l}/B`, `layer{l}/forwardMask`): `B_l` in the kernel's layout, and the forward kernel's 0/1 mask. */
export const FEEDBACK_KEY = 'B';
export const FORWARD_MASK_KEY = 'forwardMask';

const KNOWN = ['feedbackInit', 'feedbackSparsity', 'forwardSparsity'];

function checkFeedbackInit(init: unknown): FeedbackInit {
  if (init === 'glorot' || init === 'fanInUniform') return init;
  if (init && typeof init === 'object') {
    const o = init as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'uniform') return { uniform: checkNumber('feedbackInit.uniform', o.uniform, { min: 0 }) };
    if (keys.length === 1 && keys[0] === 'normal') return { normal: checkNumber('feedbackInit.normal', o.normal, { min: 0 }) };
  }
  throw new OptionError(
    `feedbackInit must be 'glorot', 'fanInUniform', { uniform: β } or { normal: σ }, got ${JSON.stringify(init)}`,
  );
}

/** Validated options with every field filled. */
export interface ResolvedFeedbackAlignmentOptions {
  feedbackInit: FeedbackInit;
  feedbackSparsity: number;
  forwardSparsity: number;
}

/**
 * Validate options and fill every field left out from the tuned defaults (`faDefaults.ruleOptions`), then from the
 * built-in ones: the one place defaults are merged (`feedbackAlignment()` and `faEntry.create()` both come here).
 */
export function resolveFeedbackAlignmentOptions(options: FeedbackAlignmentOptions = {}): ResolvedFeedbackAlignmentOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('feedbackAlignment: options must be an object');
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw new OptionError(`feedbackAlignment: unknown option "${k}" (known: ${KNOWN.join(', ')})`);
  }
  const d = faDefaults.ruleOptions as FeedbackAlignmentOptions;
  return {
    feedbackInit: checkFeedbackInit(options.feedbackInit ?? d.feedbackInit),
    feedbackSparsity: checkNumber('feedbackSparsity', options.feedbackSparsity ?? d.feedbackSparsity ?? 0, { min: 0, max: 1 }),
    forwardSparsity: checkNumber('forwardSparsity', options.forwardSparsity ?? d.forwardSparsity ?? 0, { min: 0, max: 1 }),
  };
}

/** A 0/1 mask of `shape` with exactly `round(fraction · size)` zeros, at positions drawn from `stream`. */
export function sparseMask(shape: readonly number[], fraction: number, stream: RandomStream): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const mask = new Float32Array(size).fill(1);
  const zeros = Math.round(fraction * size);
  const order = permutation(size, stream);
  for (let i = 0; i < zeros; i++) mask[order[i]] = 0;
  return tf.tensor(mask, [...shape]);
}

function kernelOf(layer: Layer, index: number): tf.Variable {
  const k = layer.params[layer.kernelName];
  if (!k) throw new RuleSupportError(`feedback alignment: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}"`);
  return k;
}

/**
 * Feedback alignment at one layer: layer l sends `backwardInput(δ_l, B_l)` down instead of
 * `backwardInput(δ_l, kernel_l)`, with `B_l` fixed and random in the kernel's layout, drawn in `init` from the
 * layer's own stream. On any graph: signals cross pooling, batch norm and residual adds by their exact VJPs.
 */
export function feedbackAlignmentRule(options: FeedbackAlignmentOptions = {}): LayerRule {
  const o = resolveFeedbackAlignmentOptions(options);
  const feedbackInit = resolveInitializer(o.feedbackInit, glorotInit());
  return {
    id: 'fa',
    name: 'feedback alignment',
    options: o as unknown as JsonValue,
    usesSignal: true,
    graphs: 'any',
    check({ layer, index }) {
      kernelOf(layer, index);
    },
    init({ layer, index, random, needBelow }) {
      const kernel = kernelOf(layer, index);
      // B and the mask are fixed: nothing is learned (update noise on the backward pass leaves them alone)
      const tensors: TensorMap = {};
      // B stands in for the kernel in the signal sent down: layers that send none (layer 0) need none
      if (needBelow) {
        tensors[FEEDBACK_KEY] = tf.tidy(() => {
          const drawn = feedbackInit.init(kernel.shape, layer.fan, random);
          return o.feedbackSparsity > 0 ? tf.mul(drawn, sparseMask(kernel.shape, o.feedbackSparsity, random)) : drawn;
        });
      }
      if (o.forwardSparsity > 0) {
        const mask = sparseMask(kernel.shape, o.forwardSparsity, random);
        tensors[FORWARD_MASK_KEY] = mask;
        tf.tidy(() => kernel.assign(tf.mul(kernel, mask)));
      }
      return { tensors };
    },
    step(ctx) {
      const { layer, layerTrace, state } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      const mask = state.tensors[FORWARD_MASK_KEY];
      if (mask) grads[layer.kernelName] = tf.mul(grads[layer.kernelName], mask);
      const B = state.tensors[FEEDBACK_KEY];
      if (ctx.needBelow && !B) {
        throw new RuleSupportError(`feedback alignment: layer ${ctx.index} (${ctx.layer.name}) must send a signal down but has no feedback weights`);
      }
      return {
        delta,
        grads,
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, B) } : undefined,
      };
    },
    afterUpdate(ctx) {
      const mask = ctx.state.tensors[FORWARD_MASK_KEY];
      if (!mask) return;
      const kernel = ctx.layer.params[ctx.layer.kernelName];
      // decay and adaptive optimizers can move masked entries even with a zero gradient
      kernel.assign(tf.mul(kernel, mask));
    },
    feedbackWeights({ state }) {
      return state.tensors[FEEDBACK_KEY] ?? null;
    },
  };
}

/**
 * Feedback alignment (Lillicrap et al. 2016): `δ_l = backwardInput(δ_{l+1}, B_{l+1}) ⊙ f'(a_l)` with fixed random
 * `B` (in the kernel's layout, so `B = kernel` is backprop); `∇W_l` from `δ_l` as in backprop. Supports any layer
 * whose `backwardInput` accepts a tensor of its kernel's shape (dense, conv2d, locally connected), on any graph.
 */
export function feedbackAlignment(options: FeedbackAlignmentOptions = {}): Rule {
  return layerwise(feedbackAlignmentRule(options));
}

export { faDefaults };

/** Feedback alignment as the CLI lists it (`bioprop rules`), with its tuned defaults. */
export const faEntry: RuleEntry = {
  id: 'fa',
  name: 'feedback alignment',
  summary: 'Errors sent down through fixed random feedback matrices B instead of Wᵀ (Lillicrap et al. 2016); optional sparse B and W.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  defaults: faDefaults,
  // the factory fills what `options` leaves out from faDefaults.ruleOptions
  create: (options = {}) => feedbackAlignment(options as FeedbackAlignmentOptions),
};
