import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  checkNumber,
  deltaFromSignal,
  fanInUniformInit,
  layerwise,
  resolveInitializer,
  type JsonValue,
  type LayerRule,
  type LayerStateContext,
  type Network,
  type Rule,
  type RuleEntry,
  type Tensor,
} from '@bioprop/core';
import { dfaDefaults } from './defaults.js';

/**
 * How the fixed direct feedback matrices `D_l` are drawn. The map `e ↦ e·D_l` has fan-in `n_L` (output units) and
 * fan-out `prod(blockOutputShape_l)`: `'fanInUniform'` is `U[±1/√n_L]`, `'glorot'` uses both, `{ uniform: β }` is
 * `U[−β, β]`, `{ normal: σ }` is `N(0, σ²)`.
 */
export type DirectFeedbackInit = 'glorot' | 'fanInUniform' | { uniform: number } | { normal: number };

export interface DirectFeedbackAlignmentOptions {
  /** Distribution of every `D_l` (default: the tuned `dfaDefaults.ruleOptions.feedbackInit`). */
  feedbackInit?: DirectFeedbackInit;
}

export interface ResolvedDirectFeedbackAlignmentOptions {
  feedbackInit: DirectFeedbackInit;
}

/** State key of `D_l` (saved as `layer{l}/D`), stored `[n_L, prod(blockOutputShape_l)]`. */
export const DIRECT_FEEDBACK_KEY = 'D';

const KNOWN = ['feedbackInit'];

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

export function resolveDirectFeedbackAlignmentOptions(options: DirectFeedbackAlignmentOptions = {}): ResolvedDirectFeedbackAlignmentOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('directFeedbackAlignment: options must be an object');
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw new OptionError(`directFeedbackAlignment: unknown option "${k}" (known: ${KNOWN.join(', ')})`);
  }
  const d = dfaDefaults.ruleOptions as unknown as ResolvedDirectFeedbackAlignmentOptions;
  return { feedbackInit: checkFeedbackInit(options.feedbackInit ?? d.feedbackInit) };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** `n_L`: the size of the output layer's kernel output `a_L`, which `e` is the gradient at. */
const outputUnits = (network: Network) => size(network.layers[network.outputLayer].outputShape);

/** Flatten `e` to `[N, n_L]` (an output layer may be a convolution). */
function errorMatrix(e: Tensor): Tensor {
  return e.rank === 2 ? e : tf.reshape(e, [e.shape[0], size(e.shape.slice(1))]);
}

/**
 * The output kernel's effective feedback weights: a hidden layer m whose block output is exactly the dense output
 * kernel's input receives `e·D_m = backwardInput(e, D_mᵀ)`, so `D_mᵀ` (`[n_{L−1}, n_L]`) stands where backprop uses
 * that kernel. Null anywhere else, and when several layers' blocks end at that input (each has its own D).
 */
function outputFeedbackWeights({ network, index, layer, states }: LayerStateContext): Tensor | null {
  if (index !== network.outputLayer) return null;
  const kernel = layer.params[layer.kernelName];
  if (!kernel || kernel.rank !== 2) return null;
  const input = network.topology.layers[index].input;
  const below = network.topology.layers.flatMap((t, m) => (t.block.end === input ? [m] : []));
  if (below.length !== 1) return null;
  const d = states[below[0]]?.tensors[DIRECT_FEEDBACK_KEY];
  if (!d || d.rank !== 2 || d.shape[0] !== kernel.shape[1] || d.shape[1] !== kernel.shape[0]) return null;
  return tf.transpose(d);
}

/**
 * Direct feedback alignment at one layer. Hidden layers read only `ctx.outputError` (`usesSignal: false`, so no layer
 * waits for another): `δ_l = blockVjp(reshape(e·D_l, h_l's shape))`, the projection entering at the block output and
 * crossing the block's pooling, batch norm, activation… by their exact VJPs. The output layer uses `e`.
 */
export function directFeedbackAlignmentRule(options: DirectFeedbackAlignmentOptions = {}): LayerRule {
  const o = resolveDirectFeedbackAlignmentOptions(options);
  const feedbackInit = resolveInitializer(o.feedbackInit, fanInUniformInit());
  return {
    id: 'dfa',
    name: 'direct feedback alignment',
    options: o as unknown as JsonValue,
    usesSignal: false,
    graphs: 'any',
    check({ layer, index }) {
      // a kernel module must name its weights: the output layer's effective feedback is reported in their layout
      if (!layer.params[layer.kernelName]) {
        throw new RuleSupportError(`direct feedback alignment: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}"`);
      }
    },
    init({ layer, index, network, random }) {
      if (index === network.outputLayer) return {};
      const nOut = outputUnits(network);
      const nHere = size(layer.blockOutputShape);
      return { tensors: { [DIRECT_FEEDBACK_KEY]: feedbackInit.init([nOut, nHere], { fanIn: nOut, fanOut: nHere }, random) } };
    },
    step(ctx) {
      const { layer, layerTrace, index } = ctx;
      let delta: Tensor;
      if (index === ctx.network.outputLayer) {
        delta = deltaFromSignal(ctx);
      } else {
        const d = ctx.state.tensors[DIRECT_FEEDBACK_KEY];
        const projected = tf.matMul(errorMatrix(ctx.outputError), d);
        delta = ctx.blockVjp(tf.reshape(projected, layerTrace.output.shape));
      }
      return { delta, grads: layer.paramGrads(layerTrace.input, delta) };
    },
    feedbackWeights: outputFeedbackWeights,
  };
}

/**
 * Direct feedback alignment (Nøkland 2016), on any graph of modules: the output layer learns from `e`, every other
 * kernel layer from `δ_l = blockVjp(reshape(e·D_l))` with a fixed random `D_l` (`[n_L, prod(blockOutputShape_l)]`), so
 * no hidden update waits for another. With one hidden layer and `D_1 = B_2ᵀ` (storage layouts) it is feedback alignment.
 */
export function directFeedbackAlignment(options: DirectFeedbackAlignmentOptions = {}): Rule {
  return layerwise(directFeedbackAlignmentRule(options));
}

export { dfaDefaults };

/** Direct feedback alignment as the CLI lists it, with its tuned defaults. */
export const dfaEntry: RuleEntry = {
  id: 'dfa',
  name: 'direct feedback alignment',
  summary: 'Every hidden layer driven straight from the output error through its own fixed random matrix (Nøkland 2016); no sequential backward pass.',
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  defaults: dfaDefaults,
  create: (options = {}) =>
    directFeedbackAlignment({
      ...(dfaDefaults.ruleOptions as DirectFeedbackAlignmentOptions),
      ...(options as DirectFeedbackAlignmentOptions),
    }),
};
