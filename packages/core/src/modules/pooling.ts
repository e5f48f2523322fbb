import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError } from '../errors.js';
import { pair, type Padding } from '../layers/locally-connected.js';
import type { LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, Tensor } from '../types.js';
import { StatelessModule, batchShape, imageShape, singleModuleSpec } from './base.js';
import { fusedKernels } from '../fused-kernels.js';

export interface Pool2dOptions {
  /** Window `[h, w]` or one number for both. */
  poolSize: number | [number, number];
  /** Default: the pool size (non-overlapping windows). */
  strides?: number | [number, number];
  /** TensorFlow's `'valid'` (default) or `'same'`. */
  padding?: Padding;
  name?: string;
}

type PoolKind = 'maxPool2d' | 'avgPool2d';

/**
 * The VJP of a relu followed by max pooling as one kernel a backend may register (blas does): inputs `{ dy, input,
 * output }` as `MaxPoolGrad` takes them (input: the relu's output, output: the pool's), attrs as `MaxPoolGrad`'s; its
 * value is relu's VJP of max pooling's, `(MaxPoolGrad(dy) · 1_{a>0})`, computed without forming the pool's own input
 * gradient (on LeNet-5's first block, a 2.4 MB array written, then read twice).
 */
export const MAX_POOL_RELU_GRAD_KERNEL = 'BiopropMaxPoolReluGrad';

/** Output size of one axis under TensorFlow's window arithmetic. */
function outSize(size: number, k: number, s: number, padding: Padding): number {
  return padding === 'valid' ? Math.floor((size - k) / s) + 1 : Math.ceil(size / s);
}

class Pool2d extends StatelessModule implements Module {
  constructor(
    kind: PoolKind,
    name: string,
    inputShape: readonly number[],
    readonly poolSize: [number, number],
    readonly strides: [number, number],
    readonly padding: Padding,
  ) {
    const [h, w, c] = imageShape(`${kind} ${name}`, inputShape);
    if (padding === 'valid' && (poolSize[0] > h || poolSize[1] > w)) {
      throw new ShapeError(`${kind} ${name}: window ${poolSize[0]}×${poolSize[1]} is larger than the ${h}×${w} input with 'valid' padding`);
    }
    super(kind, name, inputShape, [outSize(h, poolSize[0], strides[0], padding), outSize(w, poolSize[1], strides[1], padding), c]);
  }

  image(x: Tensor): tf.Tensor4D {
    return (x.rank === 4 ? x : tf.reshape(x, batchShape(this.name, x, this.inputShapes[0]) as [number, number, number, number])) as tf.Tensor4D;
  }

  forward(inputs: readonly Tensor[]): ModuleTrace {
    return { inputs, output: this.replay(inputs) };
  }

  replay(inputs: readonly Tensor[]): Tensor {
    const x = this.image(inputs[0]);
    return this.kind === 'maxPool2d' ? tf.maxPool(x, this.poolSize, this.strides, this.padding) : tf.avgPool(x, this.poolSize, this.strides, this.padding);
  }

  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    const x = this.image(trace.inputs[0]);
    const dy = tf.reshape(grad, trace.output.shape);
    const attrs = { filterSize: this.poolSize, strides: this.strides, pad: this.padding };
    // the backends' own gradient kernels: max pooling routes each window's gradient to its (first) maximum
    if (this.kind === 'avgPool2d') return { inputs: [tf.engine().runKernel<Tensor>('AvgPoolGrad', { dy, input: x }, attrs as never)] };
    let input: Tensor = x;
    let output = trace.output;
    if (tf.getBackend() === 'wasm') {
      // wasm's MaxPoolGrad (4.22) routes an all-negative window to its first element: shift every value above zero
      const shift = tf.sub(1, tf.min(x));
      input = tf.add(x, shift);
      output = tf.add(output, shift);
    }
    return { inputs: [tf.engine().runKernel<Tensor>('MaxPoolGrad', { dy, input, output }, attrs as never)] };
  }

  config(): ModuleConfig {
    return { kind: this.kind, poolSize: [...this.poolSize], strides: [...this.strides], padding: this.padding };
  }
}

/**
 * ∂ℒ/∂a through `h = relu(a)` and then `module`, a max pooling of h, from `grad` at the pool's output, in the
 * backend's fused kernel: the values of the pool's VJP followed by relu's. Null where that does not apply (another
 * module, no such kernel, a recording tape: the kernel has no gradient of its own); the caller then runs both VJPs.
 */
export function fusedMaxPoolReluVjp(module: Module, grad: Tensor, trace: ModuleTrace): Tensor | null {
  if (!(module instanceof Pool2d) || module.kind !== 'maxPool2d' || grad.dtype !== 'float32' || trace.output.dtype !== 'float32') return null;
  if (!fusedKernels(MAX_POOL_RELU_GRAD_KERNEL)) return null;
  const x = module.image(trace.inputs[0]);
  if (x.dtype !== 'float32') return null;
  const dy = tf.reshape(grad, trace.output.shape);
  const attrs = { filterSize: module.poolSize, strides: module.strides, pad: module.padding };
  return tf.engine().runKernel<Tensor>(MAX_POOL_RELU_GRAD_KERNEL, { dy, input: x, output: trace.output }, attrs as never);
}

function poolSpec(kind: PoolKind, like: number | [number, number] | Pool2dOptions): LayerSpec {
  const o: Pool2dOptions = typeof like === 'number' || Array.isArray(like) ? { poolSize: like } : like;
  if (!o || typeof o !== 'object') throw new OptionError(`${kind}: options must be a pool size or { poolSize, strides?, padding? }`);
  const poolSize = pair(`${kind} poolSize`, o.poolSize);
  const strides = pair(`${kind} strides`, o.strides ?? poolSize);
  const padding = o.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new OptionError(`${kind}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
  return singleModuleSpec(
    kind,
    { poolSize, strides, padding },
    (ctx) => new Pool2d(kind, ctx.name, ctx.inputShape, poolSize, strides, padding),
    o.name,
  );
}

/** Max pooling over `[h, w]` windows of an NHWC image (`maxPool2d(2)`: 2×2, stride 2). */
export const maxPool2d = (options: number | [number, number] | Pool2dOptions): LayerSpec => poolSpec('maxPool2d', options);
/** Average pooling over `[h, w]` windows of an NHWC image. */
export const avgPool2d = (options: number | [number, number] | Pool2dOptions): LayerSpec => poolSpec('avgPool2d', options);
