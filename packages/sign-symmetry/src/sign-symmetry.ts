import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  deltaFromSignal,
  glorotInit,
  resolveInitializer,
  type Initializer,
  type Layer,
  type LayerRule,
  type LayerState,
  type RandomStream,
  type Tensor,
} from '@bioprop/core';
import type {
  BatchwiseRandomSignFeedbackConfig,
  FixedRandomSignFeedbackConfig,
  MagnitudeInit,
  SignScale,
  UniformSignFeedbackConfig,
} from './options.js';

/** Layer state key of the magnitudes `|M|` (brSF, frSF), in the kernel's layout; core saves it as `layer{l}/M`. */
export const MAGNITUDE_KEY = 'M';

function kernelOf(layer: Layer, index: number, rule: string): Tensor {
  const kernel = layer.params[layer.kernelName];
  if (!kernel) throw new RuleSupportError(`${rule}: layer ${index} (${layer.name}, ${layer.kind}) has no kernel "${layer.kernelName}"`);
  return kernel;
}

/**
 * uSF's feedback for one kernel: `sign(W)` times the layer's scale (`'norm'`: `‖W‖_F / ‖sign(W)‖_F`, so
 * `‖B‖_F = ‖W‖_F`; `'glorot'`: `√(2/(fanIn+fanOut))`; `'none'`: 1). A zero kernel gives `B = 0`.
 */
export function uniformSignFeedbackWeights(kernel: Tensor, scale: SignScale, fan: { fanIn: number; fanOut: number }): Tensor {
  return tf.tidy(() => {
    const sign = tf.sign(kernel);
    if (scale === 'none') return sign;
    if (scale === 'glorot') return tf.mul(sign, Math.sqrt(2 / (fan.fanIn + fan.fanOut)));
    // ‖sign(W)‖_F = √(nonzero entries) ≥ 1 unless W = 0, where the numerator is 0 too
    return tf.mul(sign, tf.div(tf.norm(kernel), tf.maximum(tf.norm(sign), 1)));
  });
}

/** brSF's and frSF's feedback for one kernel: `|M| ⊙ sign(W)`, with `magnitudes` = `|M|` (non-negative). */
export function magnitudeSignFeedbackWeights(kernel: Tensor, magnitudes: Tensor): Tensor {
  return tf.tidy(() => tf.mul(magnitudes, tf.sign(kernel)));
}

/** `|M|` for one layer, drawn from `stream` (the layer's own). */
export function drawMagnitudes(init: Initializer, layer: Layer, kernel: Tensor, stream: RandomStream): Tensor {
  return tf.tidy(() => tf.abs(init.init(kernel.shape, layer.fan, stream)));
}

/** What distinguishes the three rules: their feedback from the kernel and state, and what they keep. */
interface Variant {
  id: string;
  name: string;
  options: UniformSignFeedbackConfig | BatchwiseRandomSignFeedbackConfig | FixedRandomSignFeedbackConfig;
  /** `|M|` for layers that send a signal down (none for uSF). */
  magnitudes?: Initializer;
  /** Redraw `|M|` after every update (brSF). */
  redraw: boolean;
  feedback(layer: Layer, kernel: Tensor, state: LayerState): Tensor;
}

/**
 * The rule every variant shares: `δ_l` through the block's exact VJP, the kernel's gradients from `δ_l` as backprop's,
 * and `backwardInput(δ_l, B_l)` sent down with `B_l` computed from the kernel's CURRENT signs at every step.
 */
function signFeedbackRule(v: Variant): LayerRule {
  // whether a layer sends a signal down (and so has feedback) is fixed at bind: uSF keeps it in meta, the others
  // have `|M|` exactly there
  const hasFeedback = (state: LayerState) => (v.magnitudes ? MAGNITUDE_KEY in state.tensors : (state.meta as { feedback?: boolean } | null)?.feedback === true);
  return {
    id: v.id,
    name: v.name,
    options: v.options,
    usesSignal: true,
    graphs: 'any',
    check({ layer, index }) {
      kernelOf(layer, index, v.id);
    },
    init({ layer, index, random, needBelow }) {
      if (!v.magnitudes) return { meta: { feedback: needBelow } };
      // |M| is drawn, not learned: update noise on the backward pass leaves it alone
      if (!needBelow) return {};
      return { tensors: { [MAGNITUDE_KEY]: drawMagnitudes(v.magnitudes, layer, kernelOf(layer, index, v.id), random) } };
    },
    step(ctx) {
      const { layer, layerTrace, state, index } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      if (!ctx.needBelow) return { delta, grads };
      if (!hasFeedback(state)) {
        throw new RuleSupportError(`${v.id}: layer ${index} (${layer.name}) must send a signal down but was bound without feedback`);
      }
      const B = v.feedback(layer, kernelOf(layer, index, v.id), state);
      return { delta, grads, below: { gradOutput: layer.backwardInput(delta, B) } };
    },
    afterUpdate: v.redraw
      ? (ctx) => {
          const M = ctx.state.tensors[MAGNITUDE_KEY];
          if (!M) return;
          const fresh = drawMagnitudes(v.magnitudes!, ctx.layer, M, ctx.random);
          M.assign(fresh);
          fresh.dispose();
        }
      : undefined,
    // capability: the B the next step uses, computed from the current kernel (a new tensor: read it inside tf.tidy)
    feedbackWeights({ layer, index, state }) {
      return hasFeedback(state) ? v.feedback(layer, kernelOf(layer, index, v.id), state) : null;
    },
  };
}

/** uSF at one layer: `B = sign(W)`, scaled per layer as `o.scale` says, from the current kernel at every step. */
export function uniformSignFeedbackRule(o: UniformSignFeedbackConfig): LayerRule {
  return signFeedbackRule({
    id: 'usf',
    name: 'uniform sign-concordant feedback',
    options: o,
    redraw: false,
    feedback: (layer, kernel) => uniformSignFeedbackWeights(kernel, o.scale, layer.fan),
  });
}

const magnitudeInit = (init: MagnitudeInit) => resolveInitializer(init, glorotInit());
const magnitudeFeedback = (_: Layer, kernel: Tensor, state: LayerState) => magnitudeSignFeedbackWeights(kernel, state.tensors[MAGNITUDE_KEY]);

/** brSF at one layer: `B = |M| ⊙ sign(W)`, `M` redrawn after every update from the layer's stream `rule/brsf/layer{l}`. */
export function batchwiseRandomSignFeedbackRule(o: BatchwiseRandomSignFeedbackConfig): LayerRule {
  return signFeedbackRule({
    id: 'brsf',
    name: 'batchwise random magnitude sign-concordant feedback',
    options: o,
    magnitudes: magnitudeInit(o.magnitudeInit),
    redraw: true,
    feedback: magnitudeFeedback,
  });
}

/** frSF at one layer: `B = |M| ⊙ sign(W)`, `M` drawn once from the layer's stream `rule/frsf/layer{l}` and kept. */
export function fixedRandomSignFeedbackRule(o: FixedRandomSignFeedbackConfig): LayerRule {
  return signFeedbackRule({
    id: 'frsf',
    name: 'fixed random magnitude sign-concordant feedback',
    options: o,
    magnitudes: magnitudeInit(o.magnitudeInit),
    redraw: false,
    feedback: magnitudeFeedback,
  });
}
