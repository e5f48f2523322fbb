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
  type LayerwiseRuleSpec,
  type RandomStream,
  type Rule,
  type RuleEntry,
  type Tensor,
  type VariableMap,
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

/** State keys (under core's `layer{l}/`): `B_l` in the kernel's layout, and the forward kernel's 0/1 mask. */
export const FEEDBACK_KEY = 'feedback';
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

export function resolveFeedbackAlignmentOptions(options: FeedbackAlignmentOptions = {}): ResolvedFeedbackAlignmentOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('feedbackAlignment: options must be an object');
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw new OptionError(`feedbackAlignment: unknown option "${k}" (known: ${KNOWN.join(', ')})`);
  }
  const d = faDefaults.ruleOptions as unknown as ResolvedFeedbackAlignmentOptions;
  return {
    feedbackInit: checkFeedbackInit(options.feedbackInit ?? d.feedbackInit),
    feedbackSparsity: checkNumber('feedbackSparsity', options.feedbackSparsity ?? 0, { min: 0, max: 1 }),
    forwardSparsity: checkNumber('forwardSparsity', options.forwardSparsity ?? 0, { min: 0, max: 1 }),
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
 * The layer-wise spec of feedback alignment: layer l sends `backwardInput(δ_l, B_l)` down instead of
 * `backwardInput(δ_l, kernel_l)`, with `B_l` fixed and random in the kernel's layout.
 */
export function feedbackAlignmentSpec(options: FeedbackAlignmentOptions = {}): LayerwiseRuleSpec {
  const o = resolveFeedbackAlignmentOptions(options);
  const feedbackInit = resolveInitializer(o.feedbackInit, glorotInit());
  return {
    id: 'fa',
    name: 'feedback alignment',
    options: o as unknown as JsonValue,
    usesSignal: true,
    checkLayer(layer, index) {
      kernelOf(layer, index);
    },
    init(layer, index, _network, random) {
      const kernel = kernelOf(layer, index);
      const state: VariableMap = {};
      // layer 0 sends nothing down, so it needs no feedback weights
      if (index > 0) {
        const stream = random.stream(`fa/feedback/${index}`);
        const b = tf.tidy(() => {
          const drawn = feedbackInit.init(kernel.shape, layer.fan, stream);
          return o.feedbackSparsity > 0 ? tf.mul(drawn, sparseMask(kernel.shape, o.feedbackSparsity, stream)) : drawn;
        });
        state[FEEDBACK_KEY] = tf.variable(b, false, undefined, 'float32');
        b.dispose();
      }
      if (o.forwardSparsity > 0) {
        const mask = sparseMask(kernel.shape, o.forwardSparsity, random.stream(`fa/forwardMask/${index}`));
        state[FORWARD_MASK_KEY] = tf.variable(mask, false, undefined, 'float32');
        mask.dispose();
        tf.tidy(() => kernel.assign(tf.mul(kernel, state[FORWARD_MASK_KEY])));
      }
      return state;
    },
    stepLayer(ctx) {
      const { layer, layerTrace, state } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      const mask = state[FORWARD_MASK_KEY];
      if (mask) grads[layer.kernelName] = tf.mul(grads[layer.kernelName], mask);
      return {
        delta,
        grads,
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, state[FEEDBACK_KEY]) } : undefined,
      };
    },
    afterUpdateLayer(ctx) {
      const mask = ctx.state[FORWARD_MASK_KEY];
      if (!mask) return;
      const kernel = ctx.layer.params[ctx.layer.kernelName];
      // decay and adaptive optimizers can move masked entries even with a zero gradient
      kernel.assign(tf.mul(kernel, mask));
    },
  };
}

/**
 * Feedback alignment (Lillicrap et al. 2016): `δ_l = backwardInput(δ_{l+1}, B_{l+1}) ⊙ f'(a_l)` with fixed random
 * `B` (in the kernel's layout, so `B = kernel` is backprop); `∇W_l` from `δ_l` as in backprop. Supports any layer
 * whose `backwardInput` accepts a tensor of its kernel's shape (dense, conv2d, locally connected).
 */
export function feedbackAlignment(options: FeedbackAlignmentOptions = {}): Rule {
  return layerwise(feedbackAlignmentSpec(options));
}

export { faDefaults };

/** Feedback alignment as the CLI lists it (`bioprop rules`), with its tuned defaults. */
export const faEntry: RuleEntry = {
  id: 'fa',
  name: 'feedback alignment',
  summary: 'Errors sent down through fixed random feedback matrices B instead of Wᵀ (Lillicrap et al. 2016); optional sparse B and W.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  defaults: faDefaults,
  create: (options = {}) =>
    feedbackAlignment({ ...(faDefaults.ruleOptions as FeedbackAlignmentOptions), ...(options as FeedbackAlignmentOptions) }),
};
