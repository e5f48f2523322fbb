import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  checkNumber,
  deltaFromSignal,
  resolveInitializer,
  resolveOptimizer,
  glorotInit,
  type InitializerLike,
  type JsonValue,
  type LayerStepContext,
  type LayerStepResult,
  type LayerwiseRuleSpec,
  type Optimizer,
  type OptimizerConfig,
  type Tensor,
  type TensorMap,
  type VariableMap,
} from '@bioprop/core';
import {
  AUX_PROJECTION,
  INVERSE_AUX_KERNEL,
  INVERSE_BIAS,
  INVERSE_KERNEL,
  applyInverseStep,
  auxFeatures,
  inverseForward,
  inverseGrads,
  inverseVariables,
  materializeSlots,
  outputSpace,
  type InverseMap,
} from './inverse.js';

/** Layer kinds every TP-family rule trains (the inverse is the layer's own transposed map with its own weights). */
export const TARGET_PROPAGATION_LAYER_KINDS = ['dense', 'conv2d', 'locallyConnected2d'] as const;

export type TargetPropagationVariant = 'tp' | 'dtp' | 'sdtp' | 'ao-sdtp';

/** Options shared by the four rules; every field left out takes the rule's tuned default (see `defaults.ts`). */
export interface TargetPropagationOptions {
  /**
   * Step size α of the gradient step that makes the penultimate target (TP, DTP), per sample:
   * `ĥ_{L-1} = h_{L-1} − α ∂ℓ_n/∂h_{L-1}`. Any TP-family layer that receives an error instead of a target
   * (e.g. with backprop above it in a `perLayer` composition) forms its target this way.
   */
  alpha?: number;
  /** Standard deviation σ of the noise `h̃ = h + ε` in the denoising inverse loss. */
  noise?: number;
  /** The inverse weights' own optimizer (the trainer's optimizer updates the forward weights). */
  inverseOptimizer?: OptimizerConfig;
  /** Initializer of the inverse weights V (default Glorot uniform; the biases c start at zero). */
  inverseInit?: 'glorot' | 'zero' | 'fanInUniform' | { uniform: number } | { normal: number };
  /** `parallel`: forward and inverse updates every step; `alternating`: an epoch of each in turn. */
  schedule?: 'parallel' | 'alternating';
  /** With `alternating`, what epoch 0 trains (default `forward`). */
  alternateStart?: 'forward' | 'inverse';
  /** AO-SDTP: number of fixed random auxiliary output features z of `h_{L-1}`. */
  auxUnits?: number;
}

export interface ResolvedOptions {
  alpha: number;
  noise: number;
  inverseOptimizer: OptimizerConfig;
  inverseInit: NonNullable<TargetPropagationOptions['inverseInit']>;
  schedule: 'parallel' | 'alternating';
  alternateStart: 'forward' | 'inverse';
  auxUnits?: number;
}

const KNOWN = ['alpha', 'noise', 'inverseOptimizer', 'inverseInit', 'schedule', 'alternateStart', 'auxUnits'];

const VARIANTS: Record<TargetPropagationVariant, { name: string; top: 'gradient' | 'label'; difference: boolean; aux: boolean }> = {
  tp: { name: 'target propagation', top: 'gradient', difference: false, aux: false },
  dtp: { name: 'difference target propagation', top: 'gradient', difference: true, aux: false },
  sdtp: { name: 'simplified difference target propagation', top: 'label', difference: true, aux: false },
  'ao-sdtp': { name: 'auxiliary-output simplified difference target propagation', top: 'label', difference: true, aux: true },
};

/** Validate options at the boundary (a clear error now, never NaN later) and fill in defaults. */
export function resolveOptions(variant: TargetPropagationVariant, options: TargetPropagationOptions, defaults: ResolvedOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new OptionError(`${variant}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) throw new OptionError(`${variant}: unknown option "${key}" (known: ${KNOWN.join(', ')})`);
  }
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ResolvedOptions;
  checkNumber(`${variant} alpha`, o.alpha, { min: 0 });
  checkNumber(`${variant} noise`, o.noise, { min: 0 });
  if (o.schedule !== 'parallel' && o.schedule !== 'alternating') {
    throw new OptionError(`${variant}: schedule must be 'parallel' or 'alternating', got ${JSON.stringify(o.schedule)}`);
  }
  if (o.alternateStart !== 'forward' && o.alternateStart !== 'inverse') {
    throw new OptionError(`${variant}: alternateStart must be 'forward' or 'inverse', got ${JSON.stringify(o.alternateStart)}`);
  }
  // build once here so a bad optimizer config or initializer fails at construction
  resolveOptimizer(o.inverseOptimizer as Parameters<typeof resolveOptimizer>[0]);
  resolveInitializer(o.inverseInit as InitializerLike, glorotInit());
  if (variant === 'ao-sdtp') checkNumber(`${variant} auxUnits`, o.auxUnits, { min: 1, integer: true });
  else if (options.auxUnits !== undefined) throw new OptionError(`${variant}: auxUnits applies to ao-sdtp only`);
  else delete o.auxUnits;
  return o;
}

/** What a bound layer keeps besides its state tensors. */
interface LayerRuntime {
  optimizer: Optimizer;
}

/** The layer-wise spec of one TP-family rule. */
export function targetPropagationSpec(variant: TargetPropagationVariant, o: ResolvedOptions): LayerwiseRuleSpec {
  const v = VARIANTS[variant];
  const runtimes = new WeakMap<VariableMap, LayerRuntime>();
  const hasInverse = (index: number, layers: number) => index > 0 && (index < layers - 1 || v.top === 'label');
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
    return { layer: ctx.layer, activation: ctx.network.layers[ctx.index - 1].activation, state: ctx.state };
  }

  /** The top's forward map as the inverse sees it: `h_L = out(f_L(h))` and, for AO-SDTP, the features z. */
  function topCode(ctx: LayerStepContext, input: Tensor): { u: Tensor; z?: Tensor } {
    const { layer } = ctx;
    const u = outputSpace(ctx.loss, layer.activation.apply(layer.linear(input), { training: false }));
    return v.aux ? { u, z: auxFeatures(input, ctx.state[AUX_PROJECTION], ctx.network.layers[ctx.index - 1].activation) } : { u };
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
    const runtime = runtimes.get(ctx.state);
    if (!runtime) throw new RuleSupportError(`${variant}: layer ${ctx.index} has no inverse state (was the rule bound to this network?)`);
    const x = ctx.layerTrace.input;
    const noise = ctx.random.stream('target-propagation/noise').normalArray(x.size, 0, o.noise);
    const noisy = tf.add(x, tf.tensor(noise, x.shape));
    let u: Tensor;
    let z: Tensor | undefined;
    if (isTop) ({ u, z } = topCode(ctx, noisy));
    else u = ctx.layer.activation.apply(ctx.layer.linear(noisy), { training: false });
    const { grads, loss } = inverseGrads(inverseOf(ctx), x, u, z);
    applyInverseStep(runtime.optimizer, ctx.state, grads);
    return loss;
  }

  const spec: LayerwiseRuleSpec = {
    id: variant,
    name: v.name,
    options: o as unknown as JsonValue,
    usesSignal: true,

    checkLayer(layer, index) {
      if (!(TARGET_PROPAGATION_LAYER_KINDS as readonly string[]).includes(layer.kind)) {
        throw new RuleSupportError(
          `${variant} cannot train layer ${index} (${layer.name}) of kind "${layer.kind}": supported kinds are ${TARGET_PROPAGATION_LAYER_KINDS.join(', ')}`,
        );
      }
      if (layer.activation.stochastic) {
        throw new RuleSupportError(`${variant} cannot train layer ${index} (${layer.name}): stochastic activation "${layer.activation.name}" has no deterministic inverse target`);
      }
    },

    init(layer, index, network, random) {
      const L = network.layers.length;
      if (!hasInverse(index, L)) return {};
      const stream = random.stream('target-propagation/init');
      const init = resolveInitializer(o.inverseInit as InitializerLike, glorotInit());
      const state: VariableMap = {};
      const add = (key: string, t: Tensor, trainable: boolean) => {
        state[key] = tf.variable(t, trainable, undefined, 'float32');
        t.dispose();
      };
      add(INVERSE_KERNEL, init.init(layer.params[layer.kernelName].shape, layer.fan, stream), true);
      add(INVERSE_BIAS, tf.zeros([...layer.inputShape]), true);
      if (v.aux && index === L - 1) {
        const nIn = layer.inputShape.reduce((a, b) => a * b, 1);
        const fan = { fanIn: nIn, fanOut: o.auxUnits! };
        add(AUX_PROJECTION, glorotInit().init([nIn, o.auxUnits!], fan, stream), false);
        add(INVERSE_AUX_KERNEL, init.init([nIn, o.auxUnits!], fan, stream), true);
      }
      const optimizer = resolveOptimizer(o.inverseOptimizer as Parameters<typeof resolveOptimizer>[0]).create();
      Object.assign(state, materializeSlots(optimizer, inverseVariables(state)));
      runtimes.set(state, { optimizer });
      return state;
    },

    stepLayer(ctx): LayerStepResult {
      const { layer, layerTrace: t, index } = ctx;
      const L = ctx.network.layers.length;
      const isTop = index === L - 1;
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
            const z = v.aux ? auxFeatures(t.input, ctx.state[AUX_PROJECTION], ctx.network.layers[index - 1].activation) : undefined;
            below = { target: propagate(ctx, h, hat, z) };
          }
        }
      } else {
        const hat = targetOf(ctx);
        delta = deltaFromSignal({ ...ctx, signal: { target: hat } });
        if (ctx.needBelow) below = { target: propagate(ctx, t.output, hat) };
      }
      const grads: TensorMap = phase.forward ? layer.paramGrads(t.input, delta) : {};
      const metrics: Record<string, Tensor> = {};
      if (phase.inverse && hasInverse(index, L)) metrics.inverseLoss = trainInverse(ctx, isTop);
      return { delta, grads, below, metrics };
    },
  };
  return spec;
}
