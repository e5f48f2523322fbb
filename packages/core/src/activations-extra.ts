import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError, checkNumber } from './errors.js';
import type { Activation, Tensor } from './types.js';

/**
 * A stochastic unit that also exposes its expected output. Rules that compute targets (LRA) use `mean` in their
 * teaching pass so a target is not one more sample; the forward pass still samples.
 */
export interface StochasticActivation extends Activation {
  readonly stochastic: true;
  /** `E[f(a)]`, e.g. `σ(a)` for Bernoulli units. */
  mean(pre: Tensor): Tensor;
}

/** Whether an activation samples and can say what it samples on average. */
export function isStochasticActivation(activation: Activation): activation is StochasticActivation {
  return activation.stochastic === true && typeof (activation as Partial<StochasticActivation>).mean === 'function';
}

export interface LwtaOptions {
  /** Units per competing block (along the last axis, which must be a multiple of it). */
  blockSize: number;
}

/** One-hot mask of the first largest unit in each block of `k` along the last axis. */
function winnerMask(pre: Tensor, k: number): Tensor {
  const n = pre.shape[pre.rank - 1];
  if (n % k !== 0) {
    throw new ShapeError(`lwta: ${n} units on the last axis are not a multiple of the block size ${k}`);
  }
  const blocks = tf.reshape(pre, [-1, k]);
  // argMax takes the first maximum, so a tie (e.g. all-zero pre-activations) still has exactly one winner;
  // oneHot stays int32 and is cast: wasm's OneHot writes int32 bits into a float32 output
  return tf.reshape(tf.cast(tf.oneHot(tf.argMax(blocks, 1), k), 'float32'), pre.shape);
}

/**
 * Local winner-take-all: in each block of `blockSize` consecutive units (last axis) only the largest passes its
 * value, the others output 0. Its derivative is the winner mask (ties go to the first unit of the block).
 */
export function lwta(options: LwtaOptions): Activation {
  if (!options || typeof options !== 'object') throw new OptionError('lwta: options must be { blockSize }');
  const k = checkNumber('lwta blockSize', options.blockSize, { min: 1, integer: true });
  return {
    name: 'lwta',
    config: { blockSize: k },
    apply: (pre) => tf.tidy(() => tf.mul(pre, winnerMask(pre, k))),
    derivative: (pre) => tf.tidy(() => winnerMask(pre, k)),
  };
}

/**
 * Bernoulli stochastic units: `z ~ Bernoulli(σ(a))`, drawn from the run's seeded stream (`ctx.random`), at test
 * time too (as Ororbia et al. do). Surrogate derivative: that of the mean, `σ'(a) = σ(a)(1 − σ(a))`.
 */
export function bernoulli(): StochasticActivation {
  return {
    name: 'bernoulli',
    stochastic: true,
    apply(pre, ctx) {
      if (!ctx?.random) {
        throw new OptionError(
          'bernoulli units sample from the run\'s seeded stream: pass { random } in the activation context (the trainer does; for predict/forward pass e.g. { random: randomSource(seed).stream("eval") })',
        );
      }
      const u = ctx.random.uniformArray(pre.size);
      return tf.tidy(() => tf.cast(tf.less(tf.tensor(u, pre.shape), tf.sigmoid(pre)), 'float32'));
    },
    derivative: (pre) =>
      tf.tidy(() => {
        const p = tf.sigmoid(pre);
        return tf.mul(p, tf.sub(1, p));
      }),
    mean: (pre) => tf.sigmoid(pre),
  };
}
