import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError } from './errors.js';
import type { Loss, Tensor } from './types.js';
import { fusedKernels } from './fused-kernels.js';

function checkShapes(name: string, output: Tensor, target: Tensor): number {
  const a = output.shape;
  const b = target.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeError(`${name}: output shape [${a}] does not match target shape [${b}]`);
  }
  return a[0] ?? 1;
}

/** Sum over every axis but the batch axis. */
const sumFeatures = (t: Tensor) => (t.rank > 1 ? tf.sum(t, [...Array(t.rank - 1).keys()].map((i) => i + 1)) : t);

/** Mean squared error `½‖h − y‖²` per sample, averaged over the batch. Output error `(h − y)/N`. */
export function mseLoss(): Loss {
  return {
    name: 'mse',
    value(output, target) {
      checkShapes('mse', output, target);
      return tf.mean(tf.mul(0.5, sumFeatures(tf.square(tf.sub(output, target)))));
    },
    gradOutput(output, target) {
      const n = checkShapes('mse', output, target);
      return tf.div(tf.sub(output, target), n);
    },
  };
}

/**
 * Softmax cross-entropy's value and output error as single kernels a backend may register (blas does): inputs
 * `{ logits, labels }`, one output each, the same values as the tf ops below (13 kernel calls per training step).
 */
export const SOFTMAX_CE_KERNEL = 'BiopropSoftmaxCrossEntropy';
export const SOFTMAX_CE_GRAD_KERNEL = 'BiopropSoftmaxCrossEntropyGrad';

/** Whether `kernel` can stand in for the tf ops on these (float32, batched, non-empty) tensors now. */
function fusedLoss(kernel: string, output: Tensor, target: Tensor): boolean {
  return output.dtype === 'float32' && target.dtype === 'float32' && output.rank >= 2 && output.size > 0 && fusedKernels(kernel);
}

/** Softmax cross-entropy on logits (the last layer linear). Output error `(softmax(h) − y)/N`. */
export function softmaxCrossEntropyLoss(): Loss {
  return {
    name: 'softmaxCrossEntropy',
    value(output, target) {
      checkShapes('softmaxCrossEntropy', output, target);
      if (fusedLoss(SOFTMAX_CE_KERNEL, output, target)) return tf.engine().runKernel<Tensor>(SOFTMAX_CE_KERNEL, { logits: output, labels: target }, {});
      return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(output)), -1)));
    },
    gradOutput(output, target) {
      const n = checkShapes('softmaxCrossEntropy', output, target);
      if (fusedLoss(SOFTMAX_CE_GRAD_KERNEL, output, target)) return tf.engine().runKernel<Tensor>(SOFTMAX_CE_GRAD_KERNEL, { logits: output, labels: target }, {});
      return tf.div(tf.sub(tf.softmax(output), target), n);
    },
  };
}

/** Sigmoid binary cross-entropy on logits, summed over outputs, averaged over the batch. Error `(σ(h) − y)/N`. */
export function sigmoidCrossEntropyLoss(): Loss {
  return {
    name: 'sigmoidCrossEntropy',
    value(output, target) {
      checkShapes('sigmoidCrossEntropy', output, target);
      // max(z,0) − z·y + log(1 + e^{−|z|}): stable for large |z|
      const per = tf.add(tf.sub(tf.relu(output), tf.mul(output, target)), tf.log1p(tf.exp(tf.neg(tf.abs(output)))));
      return tf.mean(sumFeatures(per));
    },
    gradOutput(output, target) {
      const n = checkShapes('sigmoidCrossEntropy', output, target);
      return tf.div(tf.sub(tf.sigmoid(output), target), n);
    },
  };
}

/** Cauchy (log-penalty) loss `Σ_i log(1 + (y_i − h_i)²)` per sample, averaged over the batch; it saturates. */
export function cauchyLoss(): Loss {
  return {
    name: 'cauchy',
    value(output, target) {
      checkShapes('cauchy', output, target);
      return tf.mean(sumFeatures(tf.log1p(tf.square(tf.sub(target, output)))));
    },
    gradOutput(output, target) {
      const n = checkShapes('cauchy', output, target);
      return tf.div(cauchyGrad(output, target), n);
    },
  };
}

/** `∂/∂z Σ log(1 + (y − z)²) = −2(y − z)/(1 + (y − z)²)`, per element, no batch scaling. */
export function cauchyGrad(z: Tensor, y: Tensor): Tensor {
  const d = tf.sub(y, z);
  return tf.div(tf.mul(-2, d), tf.add(1, tf.square(d)));
}

export const builtinLosses = {
  mse: mseLoss,
  softmaxCrossEntropy: softmaxCrossEntropyLoss,
  sigmoidCrossEntropy: sigmoidCrossEntropyLoss,
  cauchy: cauchyLoss,
} as const;

/** A loss by name (`mse`, `softmaxCrossEntropy` or `crossEntropy`, `sigmoidCrossEntropy`, `cauchy`). */
export function resolveLoss(like: Loss | string): Loss {
  if (typeof like !== 'string') return like;
  const key = like === 'crossEntropy' || like === 'ce' ? 'softmaxCrossEntropy' : like;
  const make = Object.hasOwn(builtinLosses, key) ? (builtinLosses as Record<string, () => Loss>)[key] : undefined;
  if (!make) throw new OptionError(`unknown loss "${like}" (known: ${Object.keys(builtinLosses).join(', ')})`);
  return make();
}
