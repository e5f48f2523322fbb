import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  checkNumber,
  fanInUniformInit,
  layerwise,
  resolveInitializer,
  type JsonValue,
  type LayerStepContext,
  type LayerwiseRuleSpec,
  type Network,
  type Rule,
  type RuleEntry,
  type Tensor,
  type Variable,
  type VariableMap,
} from '@bioprop/core';
import { dfaDefaults } from './defaults.js';

/**
 * How the fixed direct feedback matrices `D_l` are drawn. The map `e ↦ e·D_l` has fan-in `n_L` (outputs) and
 * fan-out `prod(outputShape_l)`: `'fanInUniform'` is `U[±1/√n_L]`, `'glorot'` uses both, `{ uniform: β }` is
 * `U[−β, β]`, `{ normal: σ }` is `N(0, σ²)`.
 */
export type DirectFeedbackInit = 'glorot' | 'fanInUniform' | { uniform: number } | { normal: number };

export interface DirectFeedbackAlignmentOptions {
  /** Distribution of every `D_l` (default: the tuned `dfaDefaults.ruleOptions.feedbackInit`). */
  feedbackInit?: DirectFeedbackInit;
  /**
   * Compute every hidden layer's `e·D_l` with one matmul against the concatenated `D`, then split the columns
   * (same numbers). Default false: on wasm and cpu, splitting columns costs far more than the small per-layer matmuls
   * it replaces (README, "profile"); it can pay where each kernel launch is expensive (GPU backends).
   */
  fused?: boolean;
}

/** State key (under core's `layer{l}/`): `D_l`, stored `[n_L, prod(outputShape_l)]`. */
export const DIRECT_FEEDBACK_KEY = 'directFeedback';

const KNOWN = ['feedbackInit', 'fused'];

function checkFeedbackInit(init: unknown): DirectFeedbackInit {
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

export interface ResolvedDirectFeedbackAlignmentOptions {
  feedbackInit: DirectFeedbackInit;
  fused: boolean;
}

export function resolveDirectFeedbackAlignmentOptions(options: DirectFeedbackAlignmentOptions = {}): ResolvedDirectFeedbackAlignmentOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('directFeedbackAlignment: options must be an object');
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw new OptionError(`directFeedbackAlignment: unknown option "${k}" (known: ${KNOWN.join(', ')})`);
  }
  if (options.fused !== undefined && typeof options.fused !== 'boolean') {
    throw new OptionError(`directFeedbackAlignment: fused must be a boolean, got ${JSON.stringify(options.fused)}`);
  }
  const d = dfaDefaults.ruleOptions as unknown as ResolvedDirectFeedbackAlignmentOptions;
  return { feedbackInit: checkFeedbackInit(options.feedbackInit ?? d.feedbackInit), fused: options.fused ?? false };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The hidden layers of one binding, so the first of them visited in a step can project `e` for all at once. */
interface Group {
  readonly network: Network;
  /** Layer indices and their `D`, in increasing index order. */
  readonly indices: number[];
  readonly feedback: Variable[];
  /** `e·D_l` of the current step, keyed by the output error it was computed from. */
  cache: { error: Tensor; projected: Map<number, Tensor> } | null;
}

/** Flatten `e` to `[N, n_L]`. */
function errorMatrix(ctx: LayerStepContext): Tensor {
  const e = ctx.outputError;
  return e.rank === 2 ? e : tf.reshape(e, [e.shape[0], size(e.shape.slice(1))]);
}

/**
 * The layer-wise spec of direct feedback alignment. Hidden layers read only `ctx.outputError` (`usesSignal: false`,
 * so no layer waits for the one above); the top layer uses `e` itself.
 */
export function directFeedbackAlignmentSpec(options: DirectFeedbackAlignmentOptions = {}): LayerwiseRuleSpec {
  const o = resolveDirectFeedbackAlignmentOptions(options);
  const feedbackInit = resolveInitializer(o.feedbackInit, fanInUniformInit());
  // `init` runs for layers in increasing order within one `bind`; a repeated or lower index starts a new binding
  let building: { network: Network; last: number; group: Group } | null = null;
  const groupOf = new WeakMap<VariableMap, Group>();

  const project = (ctx: LayerStepContext, group: Group | undefined): Tensor => {
    const own = ctx.state[DIRECT_FEEDBACK_KEY];
    if (!o.fused || !group || group.feedback.length < 2) return tf.matMul(errorMatrix(ctx), own);
    // the topmost hidden layer is visited first in a step: it recomputes, so state loaded between steps is seen
    const top = group.indices[group.indices.length - 1];
    if (ctx.index === top || group.cache?.error !== ctx.outputError || !group.cache.projected.has(ctx.index)) {
      const all = tf.matMul(errorMatrix(ctx), tf.concat(group.feedback, 1));
      const parts = tf.split(all, group.feedback.map((d) => d.shape[1] as number), 1);
      group.cache = { error: ctx.outputError, projected: new Map(group.indices.map((l, i) => [l, parts[i]])) };
    }
    return group.cache.projected.get(ctx.index)!;
  };

  return {
    id: 'dfa',
    name: 'direct feedback alignment',
    options: o as unknown as JsonValue,
    usesSignal: false,
    checkLayer(layer, index) {
      if (!layer.params[layer.kernelName]) {
        throw new RuleSupportError(`direct feedback alignment: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}"`);
      }
    },
    init(layer, index, network, random) {
      if (index === network.layers.length - 1) return {};
      const nOut = size(network.outputShape);
      const nHere = size(layer.outputShape);
      const d = feedbackInit.init([nOut, nHere], { fanIn: nOut, fanOut: nHere }, random.stream(`dfa/feedback/${index}`));
      const v = tf.variable(d, false, undefined, 'float32');
      d.dispose();
      if (!building || building.network !== network || index <= building.last) {
        building = { network, last: index, group: { network, indices: [], feedback: [], cache: null } };
      }
      building.last = index;
      building.group.indices.push(index);
      building.group.feedback.push(v);
      const state: VariableMap = { [DIRECT_FEEDBACK_KEY]: v };
      groupOf.set(state, building.group);
      return state;
    },
    stepLayer(ctx) {
      const { layer, layerTrace, index } = ctx;
      let delta: Tensor;
      if (index === ctx.network.layers.length - 1) {
        delta = ctx.outputError;
      } else {
        const projected = project(ctx, groupOf.get(ctx.state));
        const f = layer.activation.derivative(layerTrace.pre, layerTrace.output);
        delta = tf.mul(projected.rank === layerTrace.pre.rank ? projected : tf.reshape(projected, layerTrace.pre.shape), f);
      }
      return { delta, grads: layer.paramGrads(layerTrace.input, delta) };
    },
  };
}

/**
 * Direct feedback alignment (Nøkland 2016): the top layer learns from `e`, every hidden layer from
 * `δ_l = reshape(e·D_l) ⊙ f'(a_l)` with a fixed random `D_l` (`[n_L, prod(outputShape_l)]`), so no hidden update waits
 * for another. With one hidden layer and `D_1 = B_2ᵀ` (storage layouts) it is feedback alignment.
 */
export function directFeedbackAlignment(options: DirectFeedbackAlignmentOptions = {}): Rule {
  return layerwise(directFeedbackAlignmentSpec(options));
}

export { dfaDefaults };

/** Direct feedback alignment as the CLI lists it, with its tuned defaults. */
export const dfaEntry: RuleEntry = {
  id: 'dfa',
  name: 'direct feedback alignment',
  summary: 'Every hidden layer driven straight from the output error through its own fixed random matrix (Nøkland 2016); no sequential backward pass.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  defaults: dfaDefaults,
  create: (options = {}) =>
    directFeedbackAlignment({
      ...(dfaDefaults.ruleOptions as DirectFeedbackAlignmentOptions),
      ...(options as DirectFeedbackAlignmentOptions),
    }),
};
