import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  deltaFromSignal,
  resolveInitializer,
  glorotInit,
  isActivationModule,
  type LayerRule,
  type LayerStepContext,
  type LayerStepResult,
  type Module,
  type Network,
  type Tensor,
  type TensorMap,
  type VariableMap,
} from '@bioprop/core';
import {
  AUX_PROJECTION,
  INVERSE_AUX_KERNEL,
  INVERSE_BIAS,
  INVERSE_KERNEL,
  INVERSE_OPTIMIZER,
  auxFeatures,
  inverseForward,
  inverseGrads,
  outputSpace,
  type InverseMap,
} from './inverse.js';
import type { AuxiliaryOutputSdtpConfig, TargetPropagationConfig } from './options.js';

/** Layer kinds every TP-family rule trains (the inverse is the layer's own transposed map with its own weights). */
export const TARGET_PROPAGATION_LAYER_KINDS = ['dense', 'conv2d', 'locallyConnected2d'] as const;

export type TargetPropagationVariant = 'tp' | 'dtp' | 'sdtp' | 'ao-sdtp';

const VARIANTS: Record<TargetPropagationVariant, { name: string; top: 'gradient' | 'label'; difference: boolean; aux: boolean }> = {
  tp: { name: 'target propagation', top: 'gradient', difference: false, aux: false },
  dtp: { name: 'difference target propagation', top: 'gradient', difference: true, aux: false },
  sdtp: { name: 'simplified difference target propagation', top: 'label', difference: true, aux: false },
  'ao-sdtp': { name: 'auxiliary-output simplified difference target propagation', top: 'label', difference: true, aux: true },
};

/** A module as error messages name it: `dropout_1 (dropout)`, `activation_2 (activation bernoulli)`. */
function describeModule(m: Module): string {
  return `${m.name} (${m.kind}${isActivationModule(m) ? ` ${m.activation.name}` : ''})`;
}

/**
 * The per-layer rule of one TP-family variant, from a filled config (`layerwise` turns it into a `Rule`, `perLayer`
 * mixes it); the factories build it from options validated by the rule's schema.
 */
export function targetPropagationLayerRule(variant: 'tp' | 'dtp' | 'sdtp', o: TargetPropagationConfig): LayerRule;
export function targetPropagationLayerRule(variant: 'ao-sdtp', o: AuxiliaryOutputSdtpConfig): LayerRule;
export function targetPropagationLayerRule(variant: TargetPropagationVariant, o: TargetPropagationConfig | AuxiliaryOutputSdtpConfig): LayerRule {
  const v = VARIANTS[variant];
  // AO-SDTP's config alone has auxUnits (its own schema)
  const auxUnits = 'auxUnits' in o ? o.auxUnits : 0;
  // the output layer of TP/DTP sends a gradient step, so only SDTP/AO-SDTP give it an inverse; layer 0 sends nothing
  const hasInverse = (index: number, network: Network) => index > 0 && (index !== network.outputLayer || v.top === 'label');
  const phases = (epoch: number) => {
    if (o.schedule === 'parallel') return { forward: true, inverse: true };
    const forward = (epoch % 2 === 0) === (o.alternateStart === 'forward');
    return { forward, inverse: !forward };
  };

  /** The target `ĥ_l` a hidden layer trains toward: sent from above, or a gradient step on an error sent from above. */
  function targetOf(ctx: LayerStepContext): Tensor {
    const out = ctx.layerTrace.output;
    if (ctx.signal.target) return tf.reshape(ctx.signal.target, out.shape);
    if (ctx.signal.gradOutput) {
      // per-sample step: gradOutput carries the batch mean's 1/N
      return tf.sub(out, tf.mul(o.alpha * out.shape[0], tf.reshape(ctx.signal.gradOutput, out.shape)));
    }
    throw new RuleSupportError(`${variant}: layer ${ctx.index} (${ctx.layer.name}) received neither a target nor an error from above`);
  }

  function inverseOf(ctx: LayerStepContext): InverseMap {
    return { layer: ctx.layer, activation: ctx.network.layers[ctx.index - 1].activation, weights: ctx.state.tensors, trace: ctx.trace };
  }

  /** The layer's forward map `f_l(x)`: its kernel, then its block as in the trace (pooling, batch statistics). */
  function forwardMap(ctx: LayerStepContext, input: Tensor): Tensor {
    return ctx.layer.blockReplay(ctx.trace, ctx.layer.linear(input));
  }

  /** AO-SDTP's features z of the top layer's input. */
  function auxOf(ctx: LayerStepContext, input: Tensor): Tensor {
    return auxFeatures(input, ctx.state.tensors[AUX_PROJECTION], ctx.network.layers[ctx.index - 1].activation);
  }

  /** The signal for the layer below: `ĥ_{l-1} = h_{l-1} + (g(ĥ_l) − g(h_l))`, or TP's `g(ĥ_l)`. */
  function propagate(ctx: LayerStepContext, h: Tensor, hat: Tensor, z?: Tensor): Tensor {
    const inv = inverseOf(ctx);
    const gHat = inverseForward(inv, hat, z).out;
    if (!v.difference) return gHat;
    // parenthesised so ĥ_l = h_l gives exactly ĥ_{l-1} = h_{l-1}
    return tf.add(ctx.layerTrace.input, tf.sub(gHat, inverseForward(inv, h, z).out));
  }

  /** One step of the denoising inverse loss `½‖h_{l-1} − g_l(f_l(h_{l-1} + ε))‖²`. */
  function trainInverse(ctx: LayerStepContext, isTop: boolean): Tensor {
    const { state } = ctx;
    const optimizer = state.optimizers[INVERSE_OPTIMIZER];
    if (!optimizer) throw new RuleSupportError(`${variant}: layer ${ctx.index} has no inverse state (was the rule bound to this network?)`);
    const x = ctx.layerTrace.input;
    const noisy = tf.add(x, tf.tensor(ctx.random.normalArray(x.size, 0, o.noise), x.shape));
    let u = forwardMap(ctx, noisy);
    let z: Tensor | undefined;
    if (isTop) {
      u = outputSpace(ctx.loss, u);
      if (v.aux) z = auxOf(ctx, noisy);
    }
    const { grads, loss } = inverseGrads(inverseOf(ctx), x, u, z);
    const vars: VariableMap = {};
    for (const k of state.learned) vars[k] = state.tensors[k];
    optimizer.apply(vars, grads);
    return loss;
  }

  return {
    id: variant,
    name: v.name,
    options: o,
    usesSignal: true,
    graphs: 'chain',

    check({ layer, index }) {
      if (!(TARGET_PROPAGATION_LAYER_KINDS as readonly string[]).includes(layer.kind)) {
        throw new RuleSupportError(
          `${variant} cannot train layer ${index} (${layer.name}) of kind "${layer.kind}": supported kinds are ${TARGET_PROPAGATION_LAYER_KINDS.join(', ')}`,
        );
      }
      const sampling = layer.block.find((s) => s.module.stochastic);
      if (sampling) {
        throw new RuleSupportError(
          `${variant} cannot train layer ${index} (${layer.name}): module ${describeModule(sampling.module)} in its block samples, ` +
            'and a sampled output has no deterministic target to move toward (remove it, or train this network with an error rule)',
        );
      }
    },

    init({ layer, index, network, random }) {
      if (!hasInverse(index, network)) return {};
      const init = resolveInitializer(o.inverseInit, glorotInit());
      const tensors: TensorMap = {};
      const learned = [INVERSE_KERNEL, INVERSE_BIAS];
      try {
        tensors[INVERSE_KERNEL] = init.init(layer.params[layer.kernelName].shape, layer.fan, random);
        tensors[INVERSE_BIAS] = tf.zeros([...layer.inputShape]);
        if (v.aux && index === network.outputLayer) {
          const nIn = layer.inputShape.reduce((a, b) => a * b, 1);
          const fan = { fanIn: nIn, fanOut: auxUnits };
          // R is fixed: drawn once, never learned (update noise leaves it alone too)
          tensors[AUX_PROJECTION] = glorotInit().init([nIn, auxUnits], fan, random);
          tensors[INVERSE_AUX_KERNEL] = init.init([nIn, auxUnits], fan, random);
          learned.push(INVERSE_AUX_KERNEL);
        }
      } catch (e) {
        tf.dispose(Object.values(tensors));
        throw e;
      }
      return { tensors, learned, optimizers: { [INVERSE_OPTIMIZER]: { spec: o.inverseOptimizer, over: learned } } };
    },

    step(ctx): LayerStepResult {
      const { layer, layerTrace: t, index, network } = ctx;
      const isTop = index === network.outputLayer;
      const phase = phases(ctx.epoch);
      let delta: Tensor;
      let below: LayerStepResult['below'];
      if (isTop) {
        // the top layer learns from the task loss: δ_L = e, as in backprop
        delta = deltaFromSignal(ctx);
        if (ctx.needBelow) {
          if (v.top === 'gradient') {
            below = { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) };
          } else {
            // SDTP: h_L = softmax(a_L) (for cross-entropy), ĥ_L = y, the label distribution
            const h = outputSpace(ctx.loss, t.output);
            const hat = tf.reshape(ctx.target, h.shape);
            below = { target: propagate(ctx, h, hat, v.aux ? auxOf(ctx, t.input) : undefined) };
          }
        }
      } else {
        const hat = targetOf(ctx);
        delta = deltaFromSignal({ ...ctx, signal: { target: hat } });
        if (ctx.needBelow) below = { target: propagate(ctx, t.output, hat) };
      }
      const grads: TensorMap = phase.forward ? layer.paramGrads(t.input, delta) : {};
      const metrics: Record<string, Tensor> = {};
      if (phase.inverse && hasInverse(index, network)) metrics.inverseLoss = trainInverse(ctx, isTop);
      return { delta, grads, below, metrics };
    },

    feedbackWeights({ state, layer, index, network }) {
      // the inverse kernel stands where backprop has the kernel (Lᵀ(u; V) against Lᵀ(u; W)); TP/DTP's top sends W itself
      if (state.tensors[INVERSE_KERNEL]) return state.tensors[INVERSE_KERNEL];
      if (index === network.outputLayer && v.top === 'gradient' && index > 0) return layer.params[layer.kernelName];
      return null;
    },
  };
}
