import * as tf from '@tensorflow/tfjs-core';
import {
  RuleSupportError,
  deltaFromSignal,
  resolveOptimizer,
  type JsonValue,
  type Layer,
  type LayerRule,
  type LayerStepContext,
  type Optimizer,
  type OptimizerSpec,
  type RandomStream,
  type Tensor,
  type Variable,
} from '@bioprop/core';
import { FEEDBACK_KEY, checkFeedbackLayer, createFeedback, feedbackOf } from './feedback.js';
import { isOptimizerSpec, type FeedbackOptimizerLike, type LearnedFeedbackConfig } from './options.js';
import { kernelGradient, linearNoBias, linearOutput, resolveTerm, weightUses, type FeedbackTerm, type TermContext } from './primitives.js';

/** B's optimizer as a spec (a JSON config, already validated by the schema, becomes core's spec). */
export function feedbackOptimizerSpec(like: FeedbackOptimizerLike): OptimizerSpec {
  return isOptimizerSpec(like) ? like : resolveOptimizer(like);
}

/**
 * A filled config as the JSON a rule's `options` carry: terms by their `toJSON`, optimizer specs as `{ name, …config }`,
 * functions (coefficients given as functions) as `'<function>'`.
 */
export function optionsJson(config: object): JsonValue {
  return JSON.parse(
    JSON.stringify(config, (_key, v: unknown) => {
      if (typeof v === 'function') return '<function>';
      if (isOptimizerSpec(v)) return { name: v.name, ...(v.config as Record<string, JsonValue>) };
      return v;
    }),
  ) as JsonValue;
}

/** Term context whose x, r are computed only when a term reads them. */
class LazyTermContext implements TermContext {
  private x?: Tensor;
  private r?: Tensor;
  constructor(
    readonly layer: Layer,
    readonly B: Tensor,
    readonly samples: number,
    private readonly makeInput: () => Tensor,
    private readonly makeLinearOutput: (input: Tensor) => Tensor,
  ) {}
  get kernel(): Tensor {
    return this.layer.params[this.layer.kernelName];
  }
  get input(): Tensor {
    return (this.x ??= this.makeInput());
  }
  get linearOutput(): Tensor {
    return (this.r ??= this.makeLinearOutput(this.input));
  }
}

/**
 * `N(0, σ²)` tensor from a seeded stream, so a resumed run draws the same noise. (Drawing in JS beats a Box–Muller
 * transform on wasm here: 0.42 vs 0.82 ms for 64 × 256 values.)
 */
export function normalTensor(stream: RandomStream, shape: readonly number[], std: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(stream.normalArray(size, 0, std), [...shape]);
}

/**
 * `Σ c_i ∇R_i` at one layer. Terms of the form `Σ x ⊗ m` (Sparse) share one product with X, terms of the form
 * `Σ p ⊗ r` (Null) share one with R, and Amp (both forms) joins whichever group exists: AA and IA then cost two
 * matrix products per layer instead of three or four.
 */
export function combinedGradient(terms: readonly FeedbackTerm[], coefs: readonly number[], ctx: TermContext): Tensor | null {
  const active = terms.map((t, i) => ({ t, c: coefs[i] })).filter(({ c }) => c !== 0);
  const onX = active.filter(({ t }) => t.outputFactor && !t.inputFactor);
  const onR = active.filter(({ t }) => t.inputFactor && !t.outputFactor);
  const either = active.filter(({ t }) => t.outputFactor && t.inputFactor);
  (onX.length > 0 || onR.length === 0 ? onX : onR).push(...either);
  const grouped = new Set([...onX, ...onR].map(({ t }) => t));
  const sum = (ts: Tensor[]) => (ts.length === 1 ? ts[0] : tf.addN(ts));
  const parts: Tensor[] = active.filter(({ t }) => !grouped.has(t)).map(({ t, c }) => t.grad(ctx, c));
  if (onX.length > 0) {
    parts.push(kernelGradient(ctx.layer, ctx.input, sum(onX.map(({ t, c }) => t.outputFactor!(ctx, c)))));
  }
  if (onR.length > 0) {
    if (ctx.layer.kind === 'dense' && onR.every(({ t }) => t.inputFactorTransposed)) {
      parts.push(tf.matMul(sum(onR.map(({ t, c }) => t.inputFactorTransposed!(ctx, c))), ctx.linearOutput));
    } else {
      parts.push(kernelGradient(ctx.layer, sum(onR.map(({ t, c }) => t.inputFactor!(ctx, c))), ctx.linearOutput));
    }
  }
  if (parts.length === 0) return null;
  return sum(parts);
}

/** Name of B's optimizer in a layer's state (its slots are `layer<l>/optimizers/feedback/<slot>/B`). */
const FEEDBACK_OPTIMIZER = 'feedback';

/**
 * The layer rule behind `learnedFeedback`, from a filled config (`learnedFeedbackOptions.parse(…)`, or one a named
 * rule builds): B is layer state (`B`, learned), trained by its own optimizer (`feedback`), drawn from the layer's
 * random stream. `learnedFeedback(options).layerRule` is the same value.
 */
export function learnedFeedbackRule(o: LearnedFeedbackConfig): LayerRule {
  const { id, name, feedbackInit: init, feedbackInputs: inputs, feedbackSamples: samples } = o;
  const terms = o.terms.map((t, i) => resolveTerm(t, `${id}.terms[${i}]`));
  const optimizerSpec = feedbackOptimizerSpec(o.feedbackOptimizer);
  const json = optionsJson({ terms, feedbackOptimizer: optimizerSpec, feedbackInit: init, feedbackInputs: inputs, feedbackSamples: samples });

  /** What the terms read at this layer: the kernel's input x and its linear output r (data), or noise (mirror). */
  const termContext = (ctx: LayerStepContext, B: Tensor): TermContext => {
    const { layer, layerTrace } = ctx;
    // a convolution's weights see every output position: per-pair means keep each term's scale (and WM's fixed point) kind-independent
    const uses = weightUses(layer);
    if (inputs === 'data') {
      const n = layerTrace.input.shape[0];
      const m = samples === null ? n : Math.min(n, samples);
      const head = (t: Tensor) => (m === n ? t : tf.slice(t, 0, m));
      return new LazyTermContext(layer, B, m * uses, () => head(layerTrace.input), (x) => linearOutput(layer, x, head(layerTrace.pre)));
    }
    const n = inputs.batchSize ?? layerTrace.input.shape[0];
    return new LazyTermContext(
      layer,
      B,
      n * uses,
      () => normalTensor(ctx.random, [n, ...layer.inputShape], inputs.noise),
      (x) => linearNoBias(layer, x, layer.params[layer.kernelName]),
    );
  };

  const update = (ctx: LayerStepContext, B: Variable, optimizer: Optimizer) => {
    const time = { step: ctx.step, epoch: ctx.epoch };
    const coefs = terms.map((t) => t.coefficient.at(time));
    // every coefficient zero: B stays exactly as it is (feedback alignment), no optimizer step
    if (coefs.every((c) => c === 0)) return;
    const grad = combinedGradient(terms, coefs, termContext(ctx, B));
    if (grad) optimizer.apply({ [FEEDBACK_KEY]: B }, { [FEEDBACK_KEY]: grad });
  };

  return {
    id,
    name,
    options: json,
    usesSignal: true,
    graphs: 'any',
    check: (ctx) => checkFeedbackLayer(id, ctx),
    init(ctx) {
      const B = createFeedback(id, ctx, init);
      if (!B) return {};
      return {
        tensors: { [FEEDBACK_KEY]: B },
        learned: [FEEDBACK_KEY],
        optimizers: { [FEEDBACK_OPTIMIZER]: { spec: optimizerSpec, over: [FEEDBACK_KEY] } },
      };
    },
    step(ctx) {
      const { layer, layerTrace } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      const B = ctx.state.tensors[FEEDBACK_KEY];
      if (ctx.needBelow && !B) throw new RuleSupportError(`${id}: layer ${ctx.index} (${layer.name}) has no feedback weights`);
      // the signal below uses B before its own update: B and W then move from the same state (simultaneous steps)
      const below = ctx.needBelow ? { gradOutput: layer.backwardInput(delta, B) } : undefined;
      if (B) update(ctx, B, ctx.state.optimizers[FEEDBACK_OPTIMIZER]);
      return { delta, grads, below };
    },
    feedbackWeights: feedbackOf,
  };
}
