// Rules for the kit's own tests (not exported, not published): a local backprop, a seeded feedback
// alignment, and deliberately broken variants the kit must reject. The kit cannot depend on
// @bioprop/backprop (that package tests itself with the kit: turbo refuses the build cycle).
import * as tf from '@tensorflow/tfjs-core';
import {
  DenseLayer,
  activation,
  RuleSupportError,
  dense,
  sequential,
  deltaFromSignal,
  layerwise,
  type BoundRule,
  type LayerContext,
  type LayerInitContext,
  type LayerRule,
  type LayerSpec,
  type LayerStateInit,
  type LayerStepContext,
  type LayerStepResult,
  type Network,
  type RandomSource,
  type RandomStream,
  type Rule,
  type Tensor,
  type TensorMap,
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

const bpSpec = (over: Partial<LayerRule> = {}): LayerRule => ({
  id: 'bp-local',
  name: 'backprop (kit-local)',
  options: {},
  usesSignal: true,
  step: (ctx) => errorStep(ctx),
  ...over,
});

/** Backprop written from core's `layerwise` + `deltaFromSignal`. */
export const localBackprop = (): Rule => layerwise(bpSpec());

/** Feedback weights in the kernel's layout, `U[±1/√fanIn]`, from `draw` (the layer's seeded stream, or not). */
function feedbackInit(draw: (size: number, lim: number) => Float32Array, { layer, index }: LayerContext): LayerStateInit {
  if (index === 0) return {};
  const kernel = layer.params[layer.kernelName];
  const lim = 1 / Math.sqrt(layer.fan.fanIn);
  return { tensors: { B: tf.tensor(draw(kernel.size, lim), kernel.shape) } };
}

const faSpec = (draw: (random: RandomStream) => (size: number, lim: number) => Float32Array): LayerRule => ({
  id: 'fa-local',
  name: 'feedback alignment (kit-local)',
  options: {},
  usesSignal: true,
  init: (ctx: LayerInitContext) => feedbackInit(draw(ctx.random), ctx),
  step: (ctx) => errorStep(ctx, ctx.state.tensors.B),
  feedbackWeights: ({ state }) => state.tensors.B ?? null,
});

/** Feedback alignment with fixed random B drawn from each layer's own stream (a correct rule with state). */
export const localFeedbackAlignment = (): Rule => layerwise(faSpec((random) => (size, lim) => random.uniformArray(size, -lim, lim)));

/** Backprop that refuses sign units (for the unsupported-network check). */
export const backpropWithoutSign = (): Rule =>
  layerwise(
    bpSpec({
      id: 'bp-no-sign',
      check({ layer, index }) {
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
      step(ctx) {
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

/** Its `feedbackWeights` keeps a copy of B outside any tidy: an angle probe leaks one tensor per layer with B. */
export const leakyFeedbackRule = (): Rule => {
  const inner = localFeedbackAlignment();
  const rule: Rule = {
    ...inner,
    id: 'leaky-feedback',
    layerRule: undefined,
    bind(net: Network, random: RandomSource): BoundRule {
      const b = wrap(inner.bind(net, random));
      return {
        ...b,
        rule,
        feedbackWeights: (l) => {
          const B = b.feedbackWeights(l);
          return B && tf.keep(tf.clone(B));
        },
      };
    },
  };
  return rule;
};

/** Its `loadState` keeps a copy of every tensor it loads (the optimizer bug: a clone never disposed). */
export const leakyRestoreRule = (): Rule => {
  const inner = localFeedbackAlignment();
  const rule: Rule = {
    ...inner,
    id: 'leaky-restore',
    layerRule: undefined,
    bind(net: Network, random: RandomSource): BoundRule {
      const b = wrap(inner.bind(net, random));
      return { ...b, rule, loadState: (s) => b.loadState(Object.fromEntries(Object.entries(s).map(([k, t]) => [k, tf.keep(t.clone())]))) };
    },
  };
  return rule;
};

/** Returns the transposed kernel gradient at layer 1 (shape `[n_out, n_in]`). */
export const wrongShapeRule = (): Rule =>
  layerwise(
    bpSpec({
      id: 'wrong-shape',
      step(ctx) {
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
      step(ctx) {
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
    layerRule: undefined,
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
      step(ctx) {
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
    learned: () => b.learned(),
    feedbackWeights: (l) => b.feedbackWeights(l),
    loadState: (s) => b.loadState(s),
    getMeta: () => b.getMeta(),
    setMeta: (m) => b.setMeta(m),
    dispose: () => b.dispose(),
  };
}

/** A dense kernel module that also bumps its own bias on every forward pass (a side effect a rule must not rely on). */
class BumpingDense extends DenseLayer {
  override linear(input: Tensor, params?: TensorMap): Tensor {
    this.params.bias.assign(tf.add(this.params.bias, 1));
    return super.linear(input, params);
  }
}

/** The default test network whose first layer also bumps its own bias on every forward pass (a side effect). */
export function networkWithSideEffect(seed: number): Network {
  const bumping: LayerSpec = {
    kind: 'dense',
    build(builder, input) {
      const inner = sequential({ inputShape: builder.shape(input), layers: [dense({ units: 16 })], seed });
      const params = inner.layers[0].params;
      return builder.add('dense', [input], (ctx) => new BumpingDense(ctx.name, [...ctx.inputShapes[0]], 16, params));
    },
    config: () => ({ kind: 'dense', units: 16 }),
  };
  return sequential({
    inputShape: [20],
    layers: [bumping, activation('tanh'), dense({ units: 12, activation: 'tanh' }), dense({ units: 5 })],
    seed,
  });
}
