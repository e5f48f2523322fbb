import * as tf from '@tensorflow/tfjs-core';
import {
  OptionError,
  RuleSupportError,
  checkNumber,
  deltaFromSignal,
  layerwise,
  resolveOptimizer,
  type JsonValue,
  type Layer,
  type LayerRule,
  type LayerStepContext,
  type Optimizer,
  type OptimizerConfig,
  type OptimizerSpec,
  type RandomStream,
  type Rule,
  type Tensor,
  type Variable,
} from '@bioprop/core';
import { FEEDBACK_KEY, checkFeedbackLayer, checkIdentity, createFeedback, feedbackInitJson, feedbackOf, validateFeedbackInit, type FeedbackInit } from './feedback.js';
import { kernelGradient, linearNoBias, linearOutput, resolveTerm, weightUses, type FeedbackTerm, type TermContext, type TermLike } from './primitives.js';

/** Where the terms' `x` and `r` come from. */
export type FeedbackInputs =
  | 'data'
  /**
   * Mirror mode (weight mirror): `x ~ N(0, noise²)` shaped like the kernel's input, `r` = the kernel's linear map
   * of it (no bias), a fresh draw every step from the layer's stream `rule/<id>/layer<l>`.
   */
  | { noise: number; batchSize?: number };

/** B's optimizer: a core spec (`sgd({ lr: 10 })`) or its JSON form (`{ name: 'sgd', lr: 10 }`). */
export type FeedbackOptimizerLike = OptimizerSpec | OptimizerConfig;

export interface LearnedFeedbackOptions {
  /** The regularizer `R(B) = Σ c_i(t) R_i(B)`: e.g. `[amp(1e-3), decay(2e-3)]`. */
  terms: readonly TermLike[];
  /** B's own optimizer (never the forward one). Default `sgd({ lr: 10 })`: `η_B · 2e-3 = 0.02` per step. */
  feedbackOptimizer?: FeedbackOptimizerLike;
  /** How B starts (default Glorot uniform from the layer's stream `rule/<id>/layer<l>`; `'kernel'` starts at backprop). */
  feedbackInit?: FeedbackInit;
  /** `'data'` (default) or mirror mode `{ noise: σ, batchSize? }`. */
  feedbackInputs?: FeedbackInputs;
  /**
   * Data mode: B's update reads only the first `feedbackSamples` samples of each batch (an unbiased estimate of
   * the same expectation at a fraction of the cost: B's products scale with the samples). Default: the whole batch.
   */
  feedbackSamples?: number;
  /** Rule id and name (the named rules set theirs). */
  id?: string;
  name?: string;
}

/** The default B optimizer of the generic rule: `η_B = 10` makes `η_B · 2e-3` (the papers' decay) 0.02 per step. */
export const DEFAULT_FEEDBACK_OPTIMIZER: OptimizerConfig = { name: 'sgd', lr: 10 };

function optimizerJson(spec: OptimizerSpec): JsonValue {
  return { name: spec.name, ...(spec.config as Record<string, JsonValue>) };
}

export function resolveFeedbackOptimizer(like: FeedbackOptimizerLike | undefined, where: string): OptimizerSpec {
  try {
    return resolveOptimizer((like ?? DEFAULT_FEEDBACK_OPTIMIZER) as Parameters<typeof resolveOptimizer>[0]);
  } catch (e) {
    throw new OptionError(`${where}: ${(e as Error).message}`);
  }
}

function validateInputs(like: FeedbackInputs | undefined, where: string): FeedbackInputs {
  if (like === undefined || like === 'data') return 'data';
  if (!like || typeof like !== 'object') throw new OptionError(`${where}: feedbackInputs must be 'data' or { noise: σ, batchSize? }`);
  checkNumber(`${where}: feedbackInputs.noise`, like.noise, { min: 0 });
  if (like.batchSize !== undefined) checkNumber(`${where}: feedbackInputs.batchSize`, like.batchSize, { min: 1, integer: true });
  return { noise: like.noise, ...(like.batchSize !== undefined ? { batchSize: like.batchSize } : {}) };
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
 * The layer rule behind `learnedFeedback`: B is layer state (`B`, learned), trained by its own optimizer
 * (`feedback`), drawn from the layer's random stream. `learnedFeedback(options).layerRule` is the same value.
 */
export function learnedFeedbackRule(options: LearnedFeedbackOptions): LayerRule {
  if (!options || typeof options !== 'object') throw new OptionError('learnedFeedback: options must be an object with terms');
  const { id, name } = checkIdentity(options, 'lf', 'learned feedback');
  const where = `${id}`;
  if (!Array.isArray(options.terms)) throw new OptionError(`${where}: terms must be an array, e.g. [amp(1e-3), decay(2e-3)]`);
  const terms = options.terms.map((t, i) => resolveTerm(t, `${where}: terms[${i}]`));
  const optimizerSpec = resolveFeedbackOptimizer(options.feedbackOptimizer, `${where}: feedbackOptimizer`);
  const init = validateFeedbackInit(options.feedbackInit, `${where}: feedbackInit`);
  const inputs = validateInputs(options.feedbackInputs, where);
  const samples = options.feedbackSamples;
  if (samples !== undefined) checkNumber(`${where}: feedbackSamples`, samples, { min: 1, integer: true });
  const json: JsonValue = {
    terms: terms.map((t) => t.toJSON()),
    feedbackOptimizer: optimizerJson(optimizerSpec),
    feedbackInit: feedbackInitJson(init),
    feedbackInputs: inputs as JsonValue,
    ...(samples !== undefined ? { feedbackSamples: samples } : {}),
  };

  /** What the terms read at this layer: the kernel's input x and its linear output r (data), or noise (mirror). */
  const termContext = (ctx: LayerStepContext, B: Tensor): TermContext => {
    const { layer, layerTrace } = ctx;
    // a convolution's weights see every output position: per-pair means keep each term's scale (and WM's fixed point) kind-independent
    const uses = weightUses(layer);
    if (inputs === 'data') {
      const n = layerTrace.input.shape[0];
      const m = samples === undefined ? n : Math.min(n, samples);
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

/**
 * Learned feedback (Kunin et al. 2020): the backward pass of feedback alignment, `δ_{l-1} = (B_l δ_l) ⊙ f'(a_{l-1})`,
 * with each B trained by its own optimizer on `R(B) = Σ c_i(t) R_i(B)`, a weighted sum of the primitives.
 *
 * @example learnedFeedback({ terms: [amp(1e-3), decay(2e-3)], feedbackOptimizer: sgd({ lr: 10 }) })
 */
export function learnedFeedback(options: LearnedFeedbackOptions): Rule {
  return layerwise(learnedFeedbackRule(options));
}
