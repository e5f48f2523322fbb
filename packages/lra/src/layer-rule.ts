import * as tf from '@tensorflow/tfjs-core';
import { RuleSupportError, cauchyGrad, type LayerStepContext, type LayerStepResult, type LayerwiseRuleSpec, type Tensor, type TensorMap, type VariableMap } from '@bioprop/core';
import { cauchyValue, constrain, frobenius, smoothOutput } from './algorithm.js';
import { optionsJson, type ResolvedLraOptions } from './options.js';

/** The random stream LRA-fdbk draws its feedback matrices from (so the run's seed fixes them). */
export const FEEDBACK_STREAM = 'lra-feedback';

/**
 * LRA with K = 1 written per layer, so `perLayer` can mix it with other rules ("LRA below, backprop on top").
 * Layer l reads a target `y_l` from the layer above (or an error `gradOutput`, from an error rule or the trainer's
 * loss at the output) and sends `{ target: y_{l-1} }` down. Equal to the whole-network rule with K = 1.
 */
export function lraLayerwiseSpec(o: ResolvedLraOptions): LayerwiseRuleSpec {
  if (o.k !== 1) throw new RuleSupportError(`lra-${o.correction}: the layer-wise form has no K loop (k = ${o.k}); use the rule itself`);
  const id = `lra-${o.correction}`;
  return {
    id,
    name: `local representation alignment (${o.correction})`,
    options: optionsJson(o),
    usesSignal: true,
    checkLayer(layer, index) {
      if (!layer.params[layer.kernelName]) {
        throw new RuleSupportError(`${id}: layer ${index} (${layer.name}, ${layer.kind}) has no "${layer.kernelName}" parameter to train`);
      }
    },
    init(layer, index, _network, random): VariableMap {
      if (o.correction !== 'fdbk' || index === 0) return {};
      const shape = layer.params[layer.kernelName].shape;
      const size = shape.reduce((a, b) => a * b, 1);
      const values = random.stream(FEEDBACK_STREAM).normalArray(size, 0, o.feedbackStd);
      return { feedback: tf.tidy(() => tf.variable(tf.tensor(values, shape), false, undefined, 'float32')) };
    },
    stepLayer(ctx: LayerStepContext): LayerStepResult {
      const { layer, layerTrace, index, signal, network } = ctx;
      const n = layerTrace.pre.shape[0];
      const isTop = index === network.layers.length - 1;
      const act = layer.activation;
      const linear = act.name === 'linear';
      let e: Tensor;
      let d: Tensor;
      let localLoss: Tensor | undefined;
      let delta: Tensor | undefined;
      const useError = signal.gradOutput !== undefined && (!signal.target || (isTop && o.outputLoss === 'task'));
      if (useError) {
        // an error from above: the trainer's loss at the output, or an error rule's ∂ℒ/∂h_l
        e = tf.mul(signal.gradOutput!, n);
        const fromTrainer = isTop && signal.gradOutput === ctx.gradOutput;
        d = fromTrainer ? tf.mul(ctx.outputError, n) : linear ? e : tf.mul(e, act.derivative(layerTrace.pre, layerTrace.output));
        if (fromTrainer) delta = ctx.outputError;
        if (fromTrainer && o.metrics) localLoss = ctx.loss.value(layerTrace.output, ctx.target);
      } else if (signal.target) {
        const u = smoothOutput(layer, layerTrace.pre);
        e = cauchyGrad(u, signal.target);
        d = isTop && linear ? e : tf.mul(e, act.derivative(layerTrace.pre, layerTrace.output));
        if (o.metrics) localLoss = cauchyValue(u, signal.target);
      } else {
        throw new RuleSupportError(`${id}: layer ${index} (${layer.name}) received no teaching signal from the layer above`);
      }
      delta ??= tf.div(d, n);
      const raw = layer.paramGrads(layerTrace.input, delta);
      const kernelNorm = o.c1 !== null || o.metrics ? frobenius(raw[layer.kernelName]) : undefined;
      const grads: TensorMap = {};
      for (const [key, g] of Object.entries(raw)) grads[key] = constrain(g, o.c1, key === layer.kernelName ? kernelNorm : undefined);
      const metrics: Record<string, Tensor> | undefined = o.metrics ? { updateNorm: kernelNorm! } : undefined;
      if (metrics && localLoss) metrics.localLoss = localLoss;
      if (!ctx.needBelow) return { delta, grads, metrics };

      const below = network.layers[index - 1];
      const t = ctx.trace.layers[index - 1];
      const derivBelow = () => below.activation.derivative(t.pre, t.output);
      let corr: Tensor;
      if (o.correction === 'diff') {
        corr = tf.mul(tf.reshape(layer.backwardInput(d, layer.params[layer.kernelName]), t.pre.shape), derivBelow());
      } else if (o.derivative === 'above') {
        corr = tf.reshape(layer.backwardInput(d, ctx.state.feedback), t.pre.shape);
      } else {
        corr = tf.mul(tf.reshape(layer.backwardInput(e, ctx.state.feedback), t.pre.shape), derivBelow());
      }
      const target = smoothOutput(below, o.beta === 0 ? t.pre : tf.sub(t.pre, tf.mul(o.beta, corr)));
      return { delta, grads, metrics, below: { target } };
    },
  };
}
