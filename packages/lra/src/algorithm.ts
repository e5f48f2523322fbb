import * as tf from '@tensorflow/tfjs-core';
import { cauchyGrad, isStochasticActivation, type Layer, type StepContext, type Tensor, type TensorMap } from '@bioprop/core';
import type { ResolvedLraOptions } from './options.js';

/** What one LRA step computes; every tensor belongs to the caller's `tf.tidy`. */
export interface LraComputation {
  /** `δ_l = e_l ⊙ φ'(ā_l) / N` of the pass the updates came from: the gradient of the batch-mean local loss w.r.t. `a_l`. */
  readonly deltas: Tensor[];
  /** Each layer's update, every parameter rescaled to Frobenius norm ≤ c₁ (what the trainer's optimizer receives). */
  readonly grads: TensorMap[];
  /** Each layer's kernel update norm before the constraint (computed when c₁ is set or losses are tracked). */
  readonly rawNorms: (Tensor | undefined)[];
  /** `Δa_l` sent down to layer l by layer l+1 in the last pass (`null` for the output layer). */
  readonly corrections: (Tensor | null)[];
  /** Layer l's target `y_l` in the last pass (the output layer's: the batch targets). */
  readonly targets: Tensor[];
  /**
   * `localLoss[k][l]`: layer l's batch-mean local loss in pass k (Cauchy `Σ_i log(1 + (y_i − z̄_i)²)`; the output
   * layer's is the trainer's loss when `outputLoss` is `'task'`): every pass (`track: 'all'`), the last (`'last'`), or none.
   */
  readonly localLoss: Tensor[][];
}

/** A layer's output as the teaching pass sees it: a stochastic unit through its mean, others as they are. */
export function smoothOutput(layer: Layer, pre: Tensor): Tensor {
  const act = layer.activation;
  return isStochasticActivation(act) ? act.mean(pre) : act.apply(pre, { training: true });
}

const sumAll = (t: Tensor): Tensor => tf.sum(t);
export const frobenius = (t: Tensor): Tensor => tf.sqrt(sumAll(tf.square(t)));

/** `Σ_i log(1 + (y_i − z_i)²)` averaged over the batch. */
export function cauchyValue(z: Tensor, y: Tensor): Tensor {
  return tf.div(sumAll(tf.log1p(tf.square(tf.sub(y, z)))), z.shape[0]);
}

/**
 * Rescale `g` so that its Frobenius norm (given, or computed) is at most `c1`, without leaving the graph (no sync):
 * `g · c₁ / max(‖g‖, c₁)`, exactly `g` when the bound does not bind.
 */
export function constrain(g: Tensor, c1: number | null, norm: Tensor = frobenius(g)): Tensor {
  if (c1 === null) return g;
  return tf.mul(g, tf.div(c1, tf.maximum(norm, c1)));
}

/**
 * LRA's teaching pass, the K loop as methods.md §5 reads it:
 * ```
 * ā_l ← a_l, z̄_l ← z_l;  y_L ← y
 * repeat K times:
 *   for l = L..1:  e_l ← ∂C(z̄_l, y_l)/∂z̄_l;  if l > 1: Δa_{l-1} ← correction;  y_{l-1} ← φ(ā_{l-1} − β Δa_{l-1})
 *   for l = 1..L-1: ā_l ← ā_l − β Δa_l; z̄_l ← φ(ā_l)      [settleTop: then ā_L ← W_L z̄_{L-1} + b_L, z̄_L ← φ(ā_L)]
 * ΔW_l ← (e_l ⊙ φ'(ā_l)) z̄_{l-1}ᵀ / N from the last pass, each parameter rescaled to norm ≤ c₁
 * ```
 * `feedback[l]` is `E_l` for fdbk (stored in the kernel's layout, used through `backwardInput`), unused for diff.
 */
export function computeLra(
  ctx: StepContext,
  feedback: readonly (Tensor | null)[] | null,
  o: ResolvedLraOptions,
  track: 'none' | 'last' | 'all' = 'last',
): LraComputation {
  const { network, trace, target, loss } = ctx;
  const layers = network.layers;
  const L = layers.length;
  const top = L - 1;
  const n = trace.input.shape[0];
  const deriv = (l: number, pre: Tensor, out: Tensor) => layers[l].activation.derivative(pre, out);
  const topLinear = layers[top].activation.name === 'linear';
  // only fdbk 'below' reads e_l itself (everything else reads e_l ⊙ φ'(ā_l))
  const needE = o.correction === 'fdbk' && o.derivative === 'below';

  // temporaries: pre-activations ā, outputs z̄ passed up (samples at first), outputs u the errors compare (means)
  const abar: Tensor[] = trace.layers.map((t) => t.pre);
  const out: Tensor[] = trace.layers.map((t) => t.output);
  const u: Tensor[] = trace.layers.map((t, l) => (isStochasticActivation(layers[l].activation) ? smoothOutput(layers[l], t.pre) : t.output));
  const inputOf = (l: number): Tensor => (l === 0 ? trace.layers[0].input : tf.reshape(out[l - 1], trace.layers[l].input.shape));

  const history: Tensor[][] = [];
  let e: Tensor[] = [];
  let d: Tensor[] = [];
  let inputs: Tensor[] = [];
  let targets: Tensor[] = [];
  let corrections: (Tensor | null)[] = [];
  let firstPass: { d: Tensor[]; inputs: Tensor[]; u: Tensor[]; abar: Tensor[]; out: Tensor[] } | null = null;
  // δ_L when it is the trainer's own e (first pass, task loss): reused as is rather than recomputed as (N·e)/N
  let trainerTopDelta: Tensor | null = null;
  let lastTopDelta: Tensor | null = null;

  for (let k = 0; k < o.k; k++) {
    const last = k === o.k - 1;
    const record = track === 'all' || (track === 'last' && last);
    e = new Array(L);
    d = new Array(L);
    targets = new Array(L);
    corrections = new Array(L).fill(null);
    const movedPre: Tensor[] = new Array(L);
    const losses: Tensor[] = new Array(L);
    targets[top] = target;
    inputs = layers.map((_, l) => inputOf(l));

    for (let l = top; l >= 0; l--) {
      if (l === top && o.outputLoss === 'task') {
        if (k === 0) {
          // the trace is unmoved in the first pass: reuse the trainer's error
          d[l] = tf.mul(ctx.outputError, n);
          e[l] = needE && !topLinear ? tf.mul(ctx.gradOutput, n) : d[l];
          trainerTopDelta = ctx.outputError;
        } else {
          e[l] = tf.mul(loss.gradOutput(u[l], target), n);
          d[l] = topLinear ? e[l] : tf.mul(e[l], deriv(l, abar[l], out[l]));
        }
        lastTopDelta = k === 0 ? ctx.outputError : null;
        if (record) losses[l] = loss.value(u[l], target);
      } else {
        e[l] = cauchyGrad(u[l], targets[l]);
        d[l] = l === top && topLinear ? e[l] : tf.mul(e[l], deriv(l, abar[l], out[l]));
        if (l === top) lastTopDelta = null;
        if (record) losses[l] = cauchyValue(u[l], targets[l]);
      }
      if (l === 0) continue;
      const below = l - 1;
      const shape = abar[below].shape;
      let corr: Tensor;
      if (o.correction === 'diff') {
        const back = layers[l].backwardInput(d[l], layers[l].params[layers[l].kernelName]);
        corr = tf.mul(tf.reshape(back, shape), deriv(below, abar[below], out[below]));
      } else if (o.derivative === 'above') {
        corr = tf.reshape(layers[l].backwardInput(d[l], feedback![l]!), shape);
      } else {
        const back = layers[l].backwardInput(e[l], feedback![l]!);
        corr = tf.mul(tf.reshape(back, shape), deriv(below, abar[below], out[below]));
      }
      corrections[below] = corr;
      movedPre[below] = o.beta === 0 ? abar[below] : tf.sub(abar[below], tf.mul(o.beta, corr));
      targets[below] = smoothOutput(layers[below], movedPre[below]);
    }
    if (record) history.push(losses);
    if (k === 0) firstPass = { d, inputs, u: [...u], abar: [...abar], out: [...out] };
    if (last) break;

    // the temporaries move onto their targets; the output layer keeps its label target
    for (let l = 0; l < top; l++) {
      abar[l] = movedPre[l];
      out[l] = targets[l];
      u[l] = targets[l];
    }
    if (o.settleTop) {
      abar[top] = layers[top].linear(inputOf(top));
      out[top] = smoothOutput(layers[top], abar[top]);
      u[top] = out[top];
    }
  }

  // the deltas behind the update: the last pass's, or (updateFrom 'forward') the forward activity against the final targets
  let deltaSrc = d;
  let gradInputs = inputs;
  let topDelta = lastTopDelta;
  if (o.updateFrom === 'forward' && o.k > 1 && firstPass) {
    topDelta = trainerTopDelta;
    const f = firstPass;
    deltaSrc = layers.map((_, l) => {
      if (l === top) return f.d[l];
      return tf.mul(cauchyGrad(f.u[l], targets[l]), deriv(l, f.abar[l], f.out[l]));
    });
    gradInputs = f.inputs;
  }
  const deltas = deltaSrc.map((t, l) => (l === top && topDelta ? topDelta : tf.div(t, n)));
  const rawNorms: (Tensor | undefined)[] = [];
  const grads = layers.map((layer, l) => {
    const raw = layer.paramGrads(gradInputs[l], deltas[l]);
    const kernelNorm = o.c1 !== null || track !== 'none' ? frobenius(raw[layer.kernelName]) : undefined;
    rawNorms.push(kernelNorm);
    const out: TensorMap = {};
    for (const [key, g] of Object.entries(raw)) out[key] = constrain(g, o.c1, key === layer.kernelName ? kernelNorm : undefined);
    return out;
  });
  return { deltas, grads, rawNorms, corrections, targets, localLoss: history };
}
