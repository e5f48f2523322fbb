import * as tf from '@tensorflow/tfjs-core';
import { OptionError, checkNumber } from '../errors.js';
import type { ActivationContext, LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, Tensor, VariableMap } from '../types.js';
import { batchShape, singleModuleSpec } from './base.js';
import { fusedKernels } from '../fused-kernels.js';

/**
 * Fused batch-norm kernels a backend may register (blas does), run in place of the tf-op path in training mode:
 * `BiopropBatchNormTrain` (inputs `{ x, gamma, beta }`, attrs `{ epsilon }`, outputs `[y, xhat, mean, variance,
 * invStd]`) and `BiopropBatchNormGrad` (inputs `{ dy, xhat, gamma, invStd }`, outputs `[dx, dGamma, dBeta]`). They
 * must compute exactly the formulas below, each operation rounded as the tf-op path rounds it.
 */
export const BATCH_NORM_TRAIN_KERNEL = 'BiopropBatchNormTrain';
export const BATCH_NORM_GRAD_KERNEL = 'BiopropBatchNormGrad';

export interface BatchNormOptions {
  /** Weight of the new batch in the running statistics, PyTorch's convention: `r ← (1 − m)·r + m·batch`. Default 0.1. */
  momentum?: number;
  /** Added to the variance. Default 1e-5. */
  epsilon?: number;
  name?: string;
}

/**
 * Batch normalization over the last axis (features of a dense output, channels of an NHWC image): in training
 * `y = γ·(x − μ_B)/√(σ²_B + ε) + β` with the batch's statistics, in inference the running ones. The running mean
 * and (unbiased) variance are model state, updated by `commit` after each training step.
 */
export class BatchNorm implements Module {
  readonly kind = 'batchNorm';
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: readonly number[];
  readonly params: VariableMap;
  readonly buffers: VariableMap;
  /** The batch and spatial axes every channel's statistics reduce over. */
  private readonly reduce: number[];

  constructor(
    readonly name: string,
    inputShape: readonly number[],
    readonly momentum: number,
    readonly epsilon: number,
  ) {
    this.inputShapes = [inputShape];
    this.outputShape = inputShape;
    const c = inputShape[inputShape.length - 1];
    this.reduce = Array.from({ length: inputShape.length }, (_, i) => i);
    // tidy frees the initial values (a variable keeps its own reference to the data)
    const v = (init: () => tf.Tensor, trainable: boolean) => tf.tidy(() => tf.variable(init(), trainable, undefined, 'float32'));
    this.params = { gamma: v(() => tf.ones([c]), true), beta: v(() => tf.zeros([c]), true) };
    this.buffers = { runningMean: v(() => tf.zeros([c]), false), runningVar: v(() => tf.ones([c]), false) };
  }

  private input(x: Tensor): Tensor {
    return x.shape.slice(1).join() === this.inputShapes[0].join() ? x : tf.reshape(x, batchShape(this.name, x, this.inputShapes[0]));
  }

  forward(inputs: readonly Tensor[], ctx: ActivationContext): ModuleTrace {
    const x = this.input(inputs[0]);
    // snapshot of γ (shares its buffer): the VJP uses the γ this pass used, even after the optimizer moves it
    const gamma = tf.reshape(this.params.gamma, this.params.gamma.shape);
    if (!ctx.training) {
      const invStd = tf.rsqrt(tf.add(this.buffers.runningVar, this.epsilon));
      const xhat = tf.mul(tf.sub(x, this.buffers.runningMean), invStd);
      return { inputs: [x], output: tf.add(tf.mul(xhat, gamma), this.params.beta), saved: { invStd, gamma } };
    }
    if (fusedKernels(BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_GRAD_KERNEL)) {
      const [output, xhat, mean, variance, invStd] = tf.engine().runKernel<Tensor[]>(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta: this.params.beta }, {
        epsilon: this.epsilon,
      });
      return { inputs: [x], output, saved: { mean, variance, invStd, xhat, gamma } };
    }
    const { mean, variance } = tf.moments(x, this.reduce);
    const invStd = tf.rsqrt(tf.add(variance, this.epsilon));
    const xhat = tf.mul(tf.sub(x, mean), invStd);
    const output = tf.add(tf.mul(xhat, gamma), this.params.beta);
    return { inputs: [x], output, saved: { mean, variance, invStd, xhat, gamma } };
  }

  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    const s = trace.saved!;
    const g = tf.reshape(grad, trace.output.shape);
    const reduce = this.reduce;
    if (!s.xhat) {
      // inference mode: an affine map
      const xhat = tf.mul(tf.sub(trace.inputs[0], this.buffers.runningMean), s.invStd);
      return { inputs: [tf.mul(g, tf.mul(s.gamma, s.invStd))], params: { gamma: tf.sum(tf.mul(g, xhat), reduce), beta: tf.sum(g, reduce) } };
    }
    if (fusedKernels(BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_GRAD_KERNEL)) {
      const [dx, gamma, beta] = tf.engine().runKernel<Tensor[]>(BATCH_NORM_GRAD_KERNEL, { dy: g, xhat: s.xhat, gamma: s.gamma, invStd: s.invStd }, {});
      return { inputs: [dx], params: { gamma, beta } };
    }
    const m = g.size / g.shape[g.rank - 1];
    const dBeta = tf.sum(g, reduce);
    const dGamma = tf.sum(tf.mul(g, s.xhat), reduce);
    // dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂))
    const dx = tf.mul(tf.mul(s.gamma, s.invStd), tf.sub(tf.sub(g, tf.div(dBeta, m)), tf.mul(s.xhat, tf.div(dGamma, m))));
    return { inputs: [dx], params: { gamma: dGamma, beta: dBeta } };
  }

  replay(inputs: readonly Tensor[], trace: ModuleTrace): Tensor {
    const s = trace.saved!;
    const x = this.input(inputs[0]);
    const mean = s.mean ?? this.buffers.runningMean;
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), s.invStd), s.gamma), this.params.beta);
  }

  commit(trace: ModuleTrace): void {
    const s = trace.saved;
    if (!s?.mean || !s.variance) return;
    const m = trace.output.size / this.outputShape[this.outputShape.length - 1];
    const mom = this.momentum;
    tf.tidy(() => {
      this.buffers.runningMean.assign(tf.add(tf.mul(1 - mom, this.buffers.runningMean), tf.mul(mom, s.mean)));
      // the running variance is the unbiased estimate, as in PyTorch
      const unbiased = m > 1 ? tf.mul(s.variance, m / (m - 1)) : s.variance;
      this.buffers.runningVar.assign(tf.add(tf.mul(1 - mom, this.buffers.runningVar), tf.mul(mom, unbiased)));
    });
  }

  config(): ModuleConfig {
    return { kind: 'batchNorm', momentum: this.momentum, epsilon: this.epsilon };
  }
}

/** Batch normalization (`batchNorm()`; see `BatchNorm`). */
export function batchNorm(options: BatchNormOptions = {}): LayerSpec {
  if (!options || typeof options !== 'object') throw new OptionError('batchNorm: options must be { momentum?, epsilon? }');
  const momentum = checkNumber('batchNorm momentum', options.momentum ?? 0.1, { min: 0, max: 1 });
  const epsilon = checkNumber('batchNorm epsilon', options.epsilon ?? 1e-5, { min: 0 });
  return singleModuleSpec('batchNorm', { momentum, epsilon }, (ctx) => new BatchNorm(ctx.name, ctx.inputShape, momentum, epsilon), options.name);
}
