import * as tf from '@tensorflow/tfjs-core';
import { OptionError, type JsonValue, type Layer, type Tensor } from '@bioprop/core';
import { coefficient, type Coefficient, type CoefficientLike } from './coefficients.js';

/**
 * What a term may read at one layer. `B` is stored in the kernel's layout (`[n_in, n_out]` for dense, the
 * papers' `Wᵀ`'s shape), so every formula below is the table of methods.md §4 with "Wᵀ" read as `kernel`.
 */
export interface TermContext {
  readonly layer: Layer;
  /** The feedback weights being trained. */
  readonly B: Tensor;
  /** The layer's forward kernel (read only by the non-local Self term). */
  readonly kernel: Tensor;
  /** `x`, the kernel's input `h_{l-1}`, `[N, ...inputShape]` (data, or noise in mirror mode). */
  readonly input: Tensor;
  /** `r`, the kernel's linear output without bias (`a_l − b_l`), `[N, ...outputShape]`: before the layer's block. */
  readonly linearOutput: Tensor;
  /**
   * How many input–output pairs the sums run over, the `N` of the table: the batch size times how often the kernel
   * applies each weight to one sample (`weightUses`: 1 for dense and locally connected kernels, every output
   * position for a convolution), so the regularizers are per-pair means on every kernel kind.
   */
  readonly samples: number;
}

export type PrimitiveName = 'decay' | 'amp' | 'null' | 'sparse' | 'self';

/** One summand `c(t) · R(B)` of a feedback regularizer. */
export interface FeedbackTerm {
  /** `'decay'`, `'amp'`, `'null'`, `'sparse'`, `'self'`, or a custom term's name. */
  readonly primitive: string;
  readonly coefficient: Coefficient;
  /** Local terms read only what the layer sees (x, r, B); non-local ones read W. */
  readonly local: boolean;
  /** Which context fields it reads (the rule computes only those). */
  readonly uses: readonly ('input' | 'linearOutput' | 'kernel')[];
  /** `R(B)` as written (a scalar), without the coefficient. */
  value(ctx: TermContext): Tensor;
  /** `scale · ∇_B R`, shaped like `B` (scale defaults to 1). */
  grad(ctx: TermContext, scale?: number): Tensor;
  /**
   * Optional factored form: `scale · m`, with `m` shaped like `r` and `∇_B R = Σ_n x_n ⊗ m_n`, i.e. the kernel
   * gradient of the pair (x, m). Terms sharing x (Amp, Sparse) then cost one weight-gradient product together.
   */
  outputFactor?(ctx: TermContext, scale: number): Tensor;
  /** Optional: `scale · p`, with `p` shaped like `x` and `∇_B R = Σ_n p_n ⊗ r_n`; terms sharing r (Amp, Null) fuse alike. */
  inputFactor?(ctx: TermContext, scale: number): Tensor;
  /** Optional, dense layers: `scale · pᵀ` as `[n_in, N]`, computed without transposing B (faster on wasm). */
  inputFactorTransposed?(ctx: TermContext, scale: number): Tensor;
  toJSON(): JsonValue;
}

const isDense = (layer: Layer) => layer.kind === 'dense';

function flat(layer: Layer, x: Tensor): Tensor {
  const n = x.shape[0];
  return x.rank === 2 ? x : tf.reshape(x, [n, x.size / n]);
}

/** `x·K` with `K` in the kernel's place and no bias (any layer kind, via its own linear map). */
export function linearNoBias(layer: Layer, x: Tensor, kernel: Tensor): Tensor {
  if (isDense(layer)) return tf.matMul(flat(layer, x), kernel);
  const bias = layer.params.bias;
  return layer.linear(x, bias ? { [layer.kernelName]: kernel, bias: tf.zerosLike(bias) } : { [layer.kernelName]: kernel });
}

/**
 * How often the kernel applies each of its weights to one sample: `outputs × fanIn / kernel size`, i.e. 1 for dense
 * and locally connected kernels and `outH·outW` for a convolution (its weights are shared across positions).
 */
export function weightUses(layer: Layer): number {
  const kernel = layer.params[layer.kernelName];
  const outputs = layer.outputShape.reduce((a, b) => a * b, 1);
  return Math.max(1, Math.round((outputs * layer.fan.fanIn) / kernel.size));
}

/** Kernel kinds whose linear map adds the bias by broadcasting (`a = L(x; kernel) + bias`). */
const BROADCAST_BIAS = new Set(['dense', 'conv2d', 'locallyConnected2d']);

/**
 * `r = a − b`, the kernel's linear output without bias, from the kernel output `pre` it produced on `x`: a
 * subtraction for core's kernels, the linear map again (bias zeroed) for a kernel whose bias enters otherwise.
 */
export function linearOutput(layer: Layer, x: Tensor, pre: Tensor): Tensor {
  const bias = layer.params.bias;
  if (!bias) return pre;
  if (BROADCAST_BIAS.has(layer.kind)) return tf.sub(pre, bias);
  return linearNoBias(layer, x, layer.params[layer.kernelName]);
}

/** `Σ_n x_n ⊗ m_n`: the kernel gradient of `Σ m ⊙ linear(x)` (explicit transpose: fast on wasm). */
export function kernelGradient(layer: Layer, x: Tensor, m: Tensor): Tensor {
  if (isDense(layer)) return tf.matMul(tf.transpose(flat(layer, x)), m);
  return layer.paramGrads(x, m)[layer.kernelName];
}

type Body = Pick<FeedbackTerm, 'local' | 'uses' | 'value' | 'grad' | 'outputFactor' | 'inputFactor' | 'inputFactorTransposed'>;

const scaled = (t: Tensor, scale = 1): Tensor => (scale === 1 ? t : tf.mul(t, scale));

const bodies: Record<PrimitiveName, Body> = {
  // R = ½‖B‖²
  decay: {
    local: true,
    uses: [],
    value: ({ B }) => tf.mul(0.5, tf.sum(tf.square(B))),
    grad: ({ B }, scale) => scaled(B, scale),
  },
  // R = −(1/N) Σ xᵀ B r: Hebbian, pulls B toward E[x rᵀ]
  amp: {
    local: true,
    uses: ['input', 'linearOutput'],
    value: ({ layer, B, input, linearOutput, samples }) =>
      tf.div(tf.neg(tf.sum(tf.mul(linearNoBias(layer, input, B), linearOutput))), samples),
    grad: ({ layer, input, linearOutput, samples }, scale = 1) => tf.mul(kernelGradient(layer, input, linearOutput), -scale / samples),
    outputFactor: ({ linearOutput, samples }, scale) => tf.mul(linearOutput, -scale / samples),
    inputFactor: ({ input, samples }, scale) => tf.mul(input, -scale / samples),
    inputFactorTransposed: ({ layer, input, samples }, scale) => tf.mul(tf.transpose(flat(layer, input)), -scale / samples),
  },
  // R = (1/2N) Σ ‖B r‖²: B r is what B sends down when the layer's own output is the error
  null: {
    local: true,
    uses: ['linearOutput'],
    value: ({ layer, B, linearOutput, samples }) =>
      tf.div(tf.mul(0.5, tf.sum(tf.square(layer.backwardInput(linearOutput, B)))), samples),
    grad: ({ layer, B, linearOutput, samples }, scale = 1) =>
      tf.mul(kernelGradient(layer, layer.backwardInput(linearOutput, B), linearOutput), scale / samples),
    inputFactor: ({ layer, B, linearOutput, samples }, scale) => tf.mul(layer.backwardInput(linearOutput, B), scale / samples),
    // (R Bᵀ)ᵀ = B Rᵀ: transposing R (N × n_out) is cheaper than transposing B
    inputFactorTransposed: ({ B, linearOutput, samples }, scale) =>
      tf.mul(tf.matMul(B, tf.transpose(linearOutput)), scale / samples),
  },
  // R = (1/2N) Σ ‖Bᵀ x‖²: the input pushed through B
  sparse: {
    local: false,
    uses: ['input'],
    value: ({ layer, B, input, samples }) => tf.div(tf.mul(0.5, tf.sum(tf.square(linearNoBias(layer, input, B)))), samples),
    grad: ({ layer, B, input, samples }, scale = 1) => tf.mul(kernelGradient(layer, input, linearNoBias(layer, input, B)), scale / samples),
    outputFactor: ({ layer, B, input, samples }, scale) => tf.mul(linearNoBias(layer, input, B), scale / samples),
  },
  // R = −tr(B W) = −Σ B ⊙ kernel
  self: {
    local: false,
    uses: ['kernel'],
    value: ({ B, kernel }) => tf.neg(tf.sum(tf.mul(B, kernel))),
    grad: ({ kernel }, scale = 1) => tf.mul(kernel, -scale),
  },
};

export const PRIMITIVES: readonly PrimitiveName[] = ['decay', 'amp', 'null', 'sparse', 'self'];

/** A primitive by name with a coefficient: `primitive('amp', 1e-3)`. */
export function primitive(name: PrimitiveName, c: CoefficientLike): FeedbackTerm {
  const body = bodies[name];
  if (!body) throw new OptionError(`unknown feedback primitive ${JSON.stringify(name)} (known: ${PRIMITIVES.join(', ')})`);
  const coef = coefficient(c, `${name} coefficient`);
  return { primitive: name, coefficient: coef, ...body, toJSON: () => ({ primitive: name, coefficient: coef.json }) };
}

/** Decay, `R = ½‖B‖²`, `∇ = B` (local). */
export const decay = (c: CoefficientLike): FeedbackTerm => primitive('decay', c);
/** Amp (Hebbian), `R = −(1/N) Σ xᵀ B r`, `∇ = −Xᵀ R / N` (local). */
export const amp = (c: CoefficientLike): FeedbackTerm => primitive('amp', c);
/** Null, `R = (1/2N) Σ ‖B r‖²`, `∇ = B Rᵀ R / N` (local). Named `nullTerm` because `null` is a keyword. */
export const nullTerm = (c: CoefficientLike): FeedbackTerm => primitive('null', c);
/** Sparse, `R = (1/2N) Σ ‖Bᵀ x‖²`, `∇ = Xᵀ (X B) / N` (non-local: needs B in the forward direction). */
export const sparse = (c: CoefficientLike): FeedbackTerm => primitive('sparse', c);
/** Self, `R = −tr(B W)`, `∇ = −kernel` (non-local: reads W). */
export const self = (c: CoefficientLike): FeedbackTerm => primitive('self', c);

/** The five primitives by name. */
export const primitives = { decay, amp, null: nullTerm, sparse, self } as const;

/** A term as JSON (`{ primitive: 'amp', coefficient: 1e-3 }`), or a term object as is. */
export type TermLike = FeedbackTerm | { primitive: PrimitiveName; coefficient: CoefficientLike };

export function resolveTerm(like: TermLike, where = 'term'): FeedbackTerm {
  if (!like || typeof like !== 'object') throw new OptionError(`${where} must be a term, e.g. amp(1e-3), got ${JSON.stringify(like)}`);
  if (typeof (like as FeedbackTerm).grad === 'function') {
    const t = like as FeedbackTerm;
    if (!t.coefficient || typeof t.coefficient.at !== 'function') throw new OptionError(`${where}: a custom term needs a coefficient`);
    return t;
  }
  const j = like as { primitive: PrimitiveName; coefficient: CoefficientLike };
  if (!PRIMITIVES.includes(j.primitive)) {
    throw new OptionError(`${where}: unknown primitive ${JSON.stringify(j.primitive)} (known: ${PRIMITIVES.join(', ')})`);
  }
  if (j.coefficient === undefined) throw new OptionError(`${where}: the ${j.primitive} term needs a coefficient`);
  return primitive(j.primitive, j.coefficient);
}
