import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  deltaFromSignal,
  fanInUniformInit,
  resolveInitializer,
  type LayerRule,
  type LayerStateContext,
  type Network,
  type Tensor,
} from '@bioprop/core';
import type { DirectFeedbackAlignmentConfig } from './options.js';

/** State key of `D_l` (saved as `layer{l}/D`), stored `[n_L, prod(blockOutputShape_l)]`. */
export const DIRECT_FEEDBACK_KEY = 'D';

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
export function directFeedbackAlignmentRule(o: DirectFeedbackAlignmentConfig): LayerRule {
  const feedbackInit = resolveInitializer(o.feedbackInit, fanInUniformInit());
  return {
    id: 'dfa',
    name: 'direct feedback alignment',
    options: o,
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
