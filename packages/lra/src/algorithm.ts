import * as tf from '@tensorflow/tfjs-core';
import { cauchyGrad, type ForwardTrace, type Layer, type RandomStream, type StepContext, type Tensor, type TensorMap } from '@bioprop/core';
import type { LraConfig } from './options.js';

/*
 * LRA on a chain of blocks. Layer l is kernel l with its block (the activation, pooling, batch norm… after it):
 * `a_l` is the kernel output, `z_l = h_l` the block output, and
 *   φ(a)          := the block applied to `a` (its dropout masks and batch statistics frozen as in the forward pass,
 *                    stochastic units through their mean): `layer.blockReplay`;
 *   e ⊙ φ'(a)     := the block's exact VJP of `e`: `layer.blockVjp`;
 *   one derivative: 'above' keeps layer l's block VJP and crosses layer l−1's block structurally only (pooling's
 *                    routing, reshapes and batch norm's scaling, no activation derivative); 'below' crosses layer l's
 *                    block structurally and keeps layer l−1's block VJP.
 * On a block with one activation these are `f(a)`, `e ⊙ f'(a)` and the paper's formulas.
 * The layer rule (K = 1) and the K loop below are built from the same functions.
 */

/** What one LRA step computes; every tensor belongs to the caller's `tf.tidy`. */
export interface LraComputation {
  /** `δ_l = ∂ℒ_l/∂a_l` of the batch-mean local loss, behind each layer's update (`e_l ⊙ φ'(ā_l) / N` on a plain block). */
  readonly deltas: Tensor[];
  /** Each layer's update, every parameter rescaled to Frobenius norm ≤ c₁ (what the trainer's optimizer receives). */
  readonly grads: TensorMap[];
  /** The gradients of the blocks' own parameters (batch norm's γ, β) from the same local losses, by module name. */
  readonly moduleGrads: Record<string, TensorMap>;
  /** Each layer's kernel update norm before the constraint (computed when c₁ is set or losses are tracked). */
  readonly rawNorms: (Tensor | undefined)[];
  /** `Δa_l` sent down to layer l by layer l+1 in the last pass, shaped like `a_l` (`null` for the output layer). */
  readonly corrections: (Tensor | null)[];
  /** Layer l's target `y_l` in the last pass, shaped like `h_l` (the output layer's: the batch targets). */
  readonly targets: Tensor[];
  /**
   * `localLoss[k][l]`: layer l's batch-mean local loss in pass k (Cauchy `Σ_i log(1 + (y_i − z̄_i)²)`; the output
   * layer's is the trainer's loss when `outputLoss` is `'task'`): every pass (`track: 'all'`), the last (`'last'`), or none.
   */
  readonly localLoss: Tensor[][];
}

const asShape = (t: Tensor, shape: readonly number[]): Tensor => (t.shape.join() === shape.join() ? t : tf.reshape(t, [...shape]));
const sumAll = (t: Tensor): Tensor => tf.sum(t);
export const frobenius = (t: Tensor): Tensor => tf.sqrt(sumAll(tf.square(t)));

/** `Σ_i log(1 + (y_i − z_i)²)` averaged over the batch. */
export function cauchyValue(z: Tensor, y: Tensor): Tensor {
  return tf.div(sumAll(tf.log1p(tf.square(tf.sub(asShape(y, z.shape), z)))), z.shape[0]);
}

/**
 * Rescale `g` so that its Frobenius norm (given, or computed) is at most `c1`, without leaving the graph (no sync):
 * `g · c₁ / max(‖g‖, c₁)`, exactly `g` when the bound does not bind.
 */
export function constrain(g: Tensor, c1: number | null, norm: Tensor = frobenius(g)): Tensor {
  if (c1 === null) return g;
  return tf.mul(g, tf.div(c1, tf.maximum(norm, c1)));
}

/** Whether a block samples (Bernoulli units, dropout): then what errors compare is its replay through the mean. */
const samples = (layer: Layer): boolean => layer.block.some((s) => s.module.stochastic === true);

/** `u_l`: the block output errors compare, stochastic units through their mean (`h_l` itself otherwise). */
export function blockMean(layer: Layer, trace: ForwardTrace): Tensor {
  const t = trace.layers[layer.index];
  return samples(layer) ? layer.blockReplay(trace, t.pre) : t.output;
}

/** A layer's local error at its block output in one pass. */
export interface LocalError {
  /** `∂ℒ_l/∂h_l` of the batch-mean local loss (carries `1/N`): what the block's VJP turns into `δ_l`. */
  readonly grad: Tensor;
  /** `e_l = N·grad`, the per-sample error, when already at hand (Cauchy's `∂C/∂z`). */
  readonly perSample?: Tensor;
}

/** Cauchy's error of `u` against the target `y` (`e = −2(y − u)/(1 + (y − u)²)` per sample). */
export function cauchyError(u: Tensor, y: Tensor): LocalError {
  const e = cauchyGrad(u, asShape(y, u.shape));
  return { grad: tf.div(e, u.shape[0]), perSample: e };
}

/** The feedback matrix `E_l`, shaped like layer l's kernel (so `backwardInput(·, E_l)` computes `E_l ·`), `N(0, std²)`. */
export function drawFeedback(layer: Layer, stream: RandomStream, std: number): Tensor {
  const shape = layer.params[layer.kernelName].shape;
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(stream.normalArray(size, 0, std), shape);
}

/** Cross a block keeping only its structure (pooling's routing, reshapes, batch norm's scaling), no activation derivative. */
const STRUCTURAL = { structural: true } as const;

/**
 * The correction `Δa_{l-1}` layer l sends down, shaped like `a_{l-1}`, from its `δ_l` and local error `e_l`:
 * - diff:           `φ'_{l-1} ⊙ (W_lᵀ · N δ_l)`: `backwardInput(N δ_l, W_l)` through layer l−1's block VJP;
 * - fdbk 'above':   `E_l · N δ_l` through layer l−1's block structurally (pooling's routing, no activation derivative);
 * - fdbk 'below':   `φ'_{l-1} ⊙ (E_l e_l)`: `e_l` back through layer l's block structurally (into `a_l`'s space),
 *                   then `E_l`, then layer l−1's block VJP.
 * `at` is the trace the blocks are evaluated at (the forward trace, or the moved temporaries in the K loop).
 */
export function correction(
  o: LraConfig,
  layer: Layer,
  delta: Tensor,
  error: LocalError,
  feedback: Tensor | null,
  below: Layer,
  at: { layer: ForwardTrace; below: ForwardTrace },
): Tensor {
  const n = delta.shape[0];
  let back: Tensor;
  if (o.correction === 'diff') back = layer.backwardInput(tf.mul(delta, n), layer.params[layer.kernelName]);
  else if (o.derivative === 'above') back = layer.backwardInput(tf.mul(delta, n), feedback!);
  else {
    const e = error.perSample ?? tf.mul(error.grad, n);
    back = layer.backwardInput(asShape(layer.blockVjp(at.layer, e, STRUCTURAL).delta, delta.shape), feedback!);
  }
  const structural = o.correction === 'fdbk' && o.derivative === 'above';
  const { delta: corr } = below.blockVjp(at.below, back, structural ? STRUCTURAL : undefined);
  return asShape(corr, at.below.layers[below.index].pre.shape);
}

/** `ā − βΔa`: where the correction moves a pre-activation. */
export const moved = (pre: Tensor, corr: Tensor, beta: number): Tensor => (beta === 0 ? pre : tf.sub(pre, tf.mul(beta, corr)));

/** Layer l's update from `δ_l`, each parameter rescaled to Frobenius norm ≤ c₁; the kernel's raw norm when asked for. */
export function constrainedUpdate(layer: Layer, input: Tensor, delta: Tensor, c1: number | null, wantNorm: boolean): { grads: TensorMap; kernelNorm?: Tensor } {
  const raw = layer.paramGrads(input, delta);
  const kernelNorm = c1 !== null || wantNorm ? frobenius(raw[layer.kernelName]) : undefined;
  const grads: TensorMap = {};
  for (const [key, g] of Object.entries(raw)) grads[key] = constrain(g, c1, key === layer.kernelName ? kernelNorm : undefined);
  return { grads, kernelNorm };
}

/**
 * A copy of `trace` with layer l's block recomputed at another pre-activation (masks and batch statistics frozen as
 * in `trace`): the point the K loop evaluates the block's derivatives at once the temporaries have moved.
 */
export function traceAt(layer: Layer, trace: ForwardTrace, pre: Tensor): { trace: ForwardTrace; output: Tensor } {
  const nodes = [...trace.nodes];
  let h = pre;
  for (const s of layer.block) {
    const t = trace.nodes[s.node];
    const inputs = t.inputs.map((x, i) => (i === s.slot ? h : x));
    h = s.module.replay(inputs, t);
    nodes[s.node] = { inputs, output: h, saved: t.saved };
  }
  const layers = [...trace.layers];
  layers[layer.index] = { input: trace.layers[layer.index].input, pre, output: h };
  return { trace: { ...trace, nodes, layers }, output: h };
}

/** What a layer's pass produced. */
interface LayerPass {
  error: LocalError;
  delta: Tensor;
  blockGrads: Record<string, TensorMap>;
}

/**
 * LRA's teaching pass with the K loop, as methods.md §5 reads it (on a chain of blocks):
 * ```
 * ā_l ← a_l, z̄_l ← z_l;  y_L ← y
 * repeat K times:
 *   for l = L..1:  e_l ← ∂C(z̄_l, y_l)/∂z̄_l;  if l > 1: Δa_{l-1} ← correction;  y_{l-1} ← φ(ā_{l-1} − β Δa_{l-1})
 *   for l = 1..L-1: ā_l ← ā_l − β Δa_l; z̄_l ← φ(ā_l)      [settleTop: then ā_L ← W_L z̄_{L-1} + b_L, z̄_L ← φ(ā_L)]
 * ΔW_l ← (e_l ⊙ φ'(ā_l)) z̄_{l-1}ᵀ / N from the last pass, each parameter rescaled to norm ≤ c₁
 * ```
 * With K = 1 it is, step for step, what the layer rule (`lraLayerRule`) computes in the teaching pass.
 * `feedback[l]` is `E_l` for fdbk (in the kernel's layout, used through `backwardInput`), unused for diff.
 */
export function computeLra(
  ctx: StepContext,
  feedback: readonly (Tensor | null)[] | null,
  o: LraConfig,
  track: 'none' | 'last' | 'all' = 'last',
): LraComputation {
  const { network, trace, target, loss } = ctx;
  const layers = network.layers;
  const L = layers.length;
  const top = L - 1;

  // temporaries: pre-activations ā, outputs z̄ passed up (samples at first), outputs u the errors compare (means),
  // and the trace each block's derivatives are taken at
  const abar: Tensor[] = trace.layers.map((t) => t.pre);
  const out: Tensor[] = trace.layers.map((t) => t.output);
  const u: Tensor[] = layers.map((layer) => blockMean(layer, trace));
  const at: ForwardTrace[] = layers.map(() => trace);
  const inputOf = (l: number): Tensor => (l === 0 ? trace.layers[0].input : asShape(out[l - 1], trace.layers[l].input.shape));

  const history: Tensor[][] = [];
  let passes: LayerPass[] = [];
  let inputs: Tensor[] = [];
  let targets: Tensor[] = [];
  let corrections: (Tensor | null)[] = [];
  let first: { passes: LayerPass[]; inputs: Tensor[]; u: Tensor[] } | null = null;

  for (let k = 0; k < o.k; k++) {
    const last = k === o.k - 1;
    const record = track === 'all' || (track === 'last' && last);
    passes = new Array(L);
    targets = new Array(L);
    corrections = new Array(L).fill(null);
    const movedPre: Tensor[] = new Array(L);
    const movedAt: ForwardTrace[] = new Array(L);
    const losses: Tensor[] = new Array(L);
    targets[top] = target;
    inputs = layers.map((_, l) => inputOf(l));

    for (let l = top; l >= 0; l--) {
      const layer = layers[l];
      if (l === top && o.outputLoss === 'task') {
        if (k === 0) {
          // the trace is unmoved in the first pass: the trainer's own error e = ∂ℒ/∂a_L
          passes[l] = { error: { grad: ctx.gradOutput }, delta: ctx.outputError, blockGrads: { ...ctx.outputBlockGrads } };
        } else {
          const grad = loss.gradOutput(u[l], target);
          const r = layer.blockVjp(at[l], grad);
          passes[l] = { error: { grad }, delta: r.delta, blockGrads: r.params };
        }
        if (record) losses[l] = loss.value(u[l], target);
      } else {
        const error = cauchyError(u[l], targets[l]);
        const r = layer.blockVjp(at[l], error.grad);
        passes[l] = { error, delta: r.delta, blockGrads: r.params };
        if (record) losses[l] = cauchyValue(u[l], targets[l]);
      }
      if (l === 0) continue;
      const corr = correction(o, layer, passes[l].delta, passes[l].error, feedback?.[l] ?? null, layers[l - 1], { layer: at[l], below: at[l - 1] });
      corrections[l - 1] = corr;
      movedPre[l - 1] = moved(abar[l - 1], corr, o.beta);
      if (last) targets[l - 1] = layers[l - 1].blockReplay(trace, movedPre[l - 1]);
      else {
        const m = traceAt(layers[l - 1], trace, movedPre[l - 1]);
        targets[l - 1] = m.output;
        movedAt[l - 1] = m.trace;
      }
    }
    if (record) history.push(losses);
    if (k === 0) first = { passes, inputs, u: [...u] };
    if (last) break;

    // the temporaries move onto their targets; the output layer keeps its label target
    for (let l = 0; l < top; l++) {
      abar[l] = movedPre[l];
      out[l] = targets[l];
      u[l] = targets[l];
      at[l] = movedAt[l];
    }
    if (o.settleTop) {
      abar[top] = layers[top].linear(inputOf(top));
      const m = traceAt(layers[top], trace, abar[top]);
      out[top] = m.output;
      u[top] = m.output;
      at[top] = m.trace;
    }
  }

  // the deltas behind the update: the last pass's, or (updateFrom 'forward') the forward activity against the final targets
  let behind = passes;
  let gradInputs = inputs;
  if (o.updateFrom === 'forward' && o.k > 1 && first) {
    const f = first;
    behind = layers.map((layer, l) => {
      if (l === top) return f.passes[l];
      const error = cauchyError(f.u[l], targets[l]);
      const r = layer.blockVjp(trace, error.grad);
      return { error, delta: r.delta, blockGrads: r.params };
    });
    gradInputs = f.inputs;
  }
  const moduleGrads: Record<string, TensorMap> = {};
  const rawNorms: (Tensor | undefined)[] = [];
  const grads = layers.map((layer, l) => {
    Object.assign(moduleGrads, behind[l].blockGrads);
    const r = constrainedUpdate(layer, gradInputs[l], behind[l].delta, o.c1, track !== 'none');
    rawNorms.push(r.kernelNorm);
    return r.grads;
  });
  return { deltas: behind.map((p) => p.delta), grads, moduleGrads, rawNorms, corrections, targets, localLoss: history };
}
