// Rules for the kit's own tests (not exported, not published): a local backprop, a seeded feedback
// alignment, and deliberately broken variants the kit must reject. The kit cannot depend on
// @bioprop/backprop (that package tests itself with the kit: turbo refuses the build cycle).
import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  SequentialNetwork,
  dense,
  sequential,
  deltaFromSignal,
  layerwise,
  type BoundRule,
  type Layer,
  type LayerStepContext,
  type LayerStepResult,
  type LayerwiseRuleSpec,
  type Network,
  type RandomSource,
  type Rule,
  type VariableMap,
} from '@bioprop/core';

/** Backprop's layer step: δ from the signal, `∇θ` from δ, `W_lᵀδ` (or `Bᵀδ` with `feedback`) sent below. */
function errorStep(ctx: LayerStepContext, feedback?: tf.Tensor): LayerStepResult {
  const delta = deltaFromSignal(ctx);
  const { layer, layerTrace } = ctx;
  return {
    delta,
    grads: layer.paramGrads(layerTrace.input, delta),
    below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, feedback ?? layer.params[layer.kernelName]) } : undefined,
  };
}

const bpSpec = (over: Partial<LayerwiseRuleSpec> = {}): LayerwiseRuleSpec => ({
  id: 'bp-local',
  name: 'backprop (kit-local)',
  options: {},
  usesSignal: true,
  stepLayer: (ctx) => errorStep(ctx),
  ...over,
});

/** Backprop written from core's `layerwise` + `deltaFromSignal`. */
export const localBackprop = (): Rule => layerwise(bpSpec());

/** Feedback weights in the kernel's layout, `U[±1/√fanIn]`, from `draw` (the seeded stream, or not). */
function feedbackInit(draw: (size: number, lim: number) => Float32Array) {
  return (layer: Layer, index: number): VariableMap => {
    if (index === 0) return {};
    const kernel = layer.params[layer.kernelName];
    const lim = 1 / Math.sqrt(layer.fan.fanIn);
    // the initial tensor must be freed: a variable shares its data but the tensor stays tracked
    return { B: tf.tidy(() => tf.variable(tf.tensor(draw(kernel.size, lim), kernel.shape), false, undefined, 'float32')) };
  };
}

const faSpec = (draw: (random: RandomSource) => (size: number, lim: number) => Float32Array): LayerwiseRuleSpec => ({
  id: 'fa-local',
  name: 'feedback alignment (kit-local)',
  options: {},
  usesSignal: true,
  init: (layer, index, _net, random) => feedbackInit(draw(random))(layer, index),
  stepLayer: (ctx) => errorStep(ctx, ctx.state.B),
});

/** Feedback alignment with fixed random B drawn from the run's `feedback` stream (a correct rule with state). */
export const localFeedbackAlignment = (): Rule =>
  layerwise(faSpec((random) => (size, lim) => random.stream('feedback').uniformArray(size, -lim, lim)));

/** Backprop that refuses sign units (for the unsupported-network check). */
export const backpropWithoutSign = (): Rule =>
  layerwise(
    bpSpec({
      id: 'bp-no-sign',
      checkLayer(layer: Layer, index: number) {
        if (layer.activation.name === 'sign') throw new RuleSupportError(`layer ${index} (${layer.name}): sign units are not supported by this rule`);
      },
    }),
  );

// ---- broken rules ----------------------------------------------------------------------------------

/** Keeps one tensor per step outside the trainer's tidy. */
export const leakyRule = (): Rule =>
  layerwise(
    bpSpec({
      id: 'leaky',
      stepLayer(ctx) {
        if (ctx.index === 0) tf.keep(tf.zeros([1]));
        return errorStep(ctx);
      },
    }),
  );

/** Its dispose forgets the feedback weights bind created. */
export const disposeForgetsStateRule = (): Rule => {
  const inner = localFeedbackAlignment();
  return { ...inner, id: 'forgets-dispose', bind: (net, random) => ({ ...wrap(inner.bind(net, random)), dispose: () => {} }) };
};

/** Returns the transposed kernel gradient at layer 1 (shape `[n_out, n_in]`). */
export const wrongShapeRule = (): Rule =>
  layerwise(
    bpSpec({
      id: 'wrong-shape',
      stepLayer(ctx) {
        const r = errorStep(ctx);
        if (ctx.index !== 1) return r;
        return { ...r, grads: { ...r.grads, kernel: tf.transpose(r.grads.kernel) } };
      },
    }),
  );

/** Its teaching signal is shaped like `h_{l-1}` instead of `a_l` (a transposition bug in a target rule). */
export const wrongSignalShapeRule = (): Rule =>
  layerwise(
    bpSpec({
      id: 'wrong-signal',
      stepLayer(ctx) {
        const r = errorStep(ctx);
        return ctx.index === 1 ? { ...r, delta: ctx.layerTrace.input } : r;
      },
    }),
  );

/** Feedback alignment with B drawn from Math.random: a seed does not fix the run. */
export const mathRandomRule = (): Rule =>
  layerwise({
    ...faSpec(() => (size, lim) => Float32Array.from({ length: size }, () => (2 * Math.random() - 1) * lim)),
    id: 'math-random',
  });

/** Feedback alignment whose `state()` omits B: a checkpoint loses the feedback weights. */
export const forgetfulRule = (): Rule => {
  const inner = localFeedbackAlignment();
  const rule: Rule = {
    ...inner,
    id: 'forgetful',
    layerwise: undefined,
    bind(net: Network, random: RandomSource): BoundRule {
      return { ...wrap(inner.bind(net, random)), rule, state: () => ({}), loadState: () => {} };
    },
  };
  return rule;
};

/** Gradient ascent: every update has the wrong sign, so the loss rises. */
export const ascentRule = (): Rule =>
  layerwise(
    bpSpec({
      id: 'ascent',
      stepLayer(ctx) {
        const r = errorStep(ctx);
        return { ...r, grads: Object.fromEntries(Object.entries(r.grads).map(([k, g]) => [k, tf.neg(g)])) };
      },
    }),
  );

/** Its check throws a plain Error, not a RuleSupportError. */
export const plainErrorRule = (): Rule => {
  const inner = backpropWithoutSign();
  return {
    ...inner,
    check(net: Network) {
      try {
        inner.check(net);
      } catch (e) {
        throw new Error((e as Error).message);
      }
    },
  };
};

/** A BoundRule's methods as a plain object (class methods do not survive a spread). */
function wrap(b: BoundRule): BoundRule {
  return {
    rule: b.rule,
    step: (ctx) => b.step(ctx),
    afterUpdate: b.afterUpdate ? (ctx) => b.afterUpdate!(ctx) : undefined,
    state: () => b.state(),
    loadState: (s) => b.loadState(s),
    getMeta: () => b.getMeta(),
    setMeta: (m) => b.setMeta(m),
    dispose: () => b.dispose(),
  };
}

/** The default test network whose first layer also bumps its own bias on every forward pass (a side effect). */
export function networkWithSideEffect(seed: number): Network {
  const net = sequential({
    inputShape: [20],
    layers: [dense({ units: 16, activation: 'tanh' }), dense({ units: 12, activation: 'tanh' }), dense({ units: 5 })],
    seed,
  });
  const first = net.layers[0];
  const bumping: Layer = Object.assign(Object.create(Object.getPrototypeOf(first) as object) as Layer, first, {
    linear(input: tf.Tensor, params?: Record<string, tf.Tensor>) {
      first.params.bias.assign(tf.add(first.params.bias, 1));
      return first.linear(input, params);
    },
  });
  return new SequentialNetwork([bumping, ...net.layers.slice(1)]);
}
