import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import type { KernelModule, LayerSpec, ModuleConfig, Tensor, TensorMap, VariableMap } from '../types.js';
import { KernelModuleBase } from './kernel-spec.js';
import { extractPatches, patchConfig, patchGeometry, patchLayerSpec, type Padding, type PatchGeometry, type PatchLayerOptions } from './locally-connected.js';

export type Conv2dOptions = PatchLayerOptions;

/** Per backend (by instance), which of the kernels asked about it runs natively: decided once per backend and kernel. */
const nativeByBackend = new WeakMap<object, Map<string, boolean>>();

/**
 * True where the active backend registers `kernel` AND lists it among its native kernels (the blas backend's
 * `nativeKernels`). Elsewhere the portable path is the fast one: wasm has no `Conv2DBackpropFilter` and cpu's is a
 * JavaScript loop, so the filter gradient goes through im2col and one matmul there.
 */
function runsNatively(kernel: 'Conv2DBackpropFilter' | 'FusedConv2D'): boolean {
  const backend = tf.backend();
  let known = nativeByBackend.get(backend);
  if (!known) nativeByBackend.set(backend, (known = new Map()));
  let native = known.get(kernel);
  if (native === undefined) {
    const listed = (backend as { nativeKernels?: ReadonlySet<string> }).nativeKernels;
    native = tf.getKernel(kernel, tf.getBackend()) !== undefined && listed?.has(kernel) === true;
    known.set(kernel, native);
  }
  return native;
}

/** A 2-D convolution, NHWC, kernel `[kh, kw, inC, filters]`, bias `[filters]`; TensorFlow's 'valid'/'same' padding. */
export function conv2d(options: Conv2dOptions): LayerSpec {
  return patchLayerSpec('conv2d', options, (g, f) => ({ kernel: [g.kh, g.kw, g.inC, f], bias: [f] }), Conv2dLayer);
}

export class Conv2dLayer extends KernelModuleBase implements KernelModule {
  readonly kind = 'conv2d';
  readonly kernelName = 'kernel';
  readonly outputShape: number[];
  readonly fan: { fanIn: number; fanOut: number };
  readonly geometry: PatchGeometry;
  readonly inputShapes: readonly (readonly number[])[];

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly filters: number,
    readonly kernelSize: [number, number],
    readonly strides: [number, number],
    readonly padding: Padding,
    readonly params: VariableMap,
  ) {
    super();
    this.inputShapes = [inputShape];
    this.geometry = patchGeometry(`conv2d ${name}`, inputShape, kernelSize, strides, padding);
    const g = this.geometry;
    this.outputShape = [g.outH, g.outW, filters];
    this.fan = { fanIn: g.patchSize, fanOut: g.kh * g.kw * filters };
  }

  private image(input: Tensor): tf.Tensor4D {
    const size = input.shape.slice(1).reduce((a, b) => a * b, 1);
    if (size !== this.inputShape.reduce((a, b) => a * b, 1)) {
      throw new ShapeError(`layer ${this.name}: expected input [N, ${this.inputShape.join(', ')}], got [${input.shape.join(', ')}]`);
    }
    const [h, w, c] = this.inputShape;
    return (input.rank === 4 ? input : tf.reshape(input, [input.shape[0], h, w, c])) as tf.Tensor4D;
  }

  linear(input: Tensor, params?: TensorMap): Tensor {
    const kernel = (params?.kernel ?? this.params.kernel) as tf.Tensor4D;
    const bias = params?.bias ?? this.params.bias;
    // the bias added in the convolution's own pass where that kernel is native (the same sums, rounded the same)
    if (bias && runsNatively('FusedConv2D')) {
      const x = this.image(input);
      // the kernel itself where no tape records (the op's custom-gradient wrapper cost ~80 µs a call on LeNet-5)
      if (!tf.engine().isTapeOn()) {
        const attrs = { strides: this.strides, pad: this.padding, dataFormat: 'NHWC', dilations: [1, 1], activation: 'linear' };
        return tf.engine().runKernel<Tensor>('FusedConv2D', { x, filter: kernel, bias }, attrs as never);
      }
      return tf.fused.conv2d({ x, filter: kernel, strides: this.strides, pad: this.padding, bias });
    }
    const z = tf.conv2d(this.image(input), kernel, this.strides, this.padding);
    return bias ? tf.add(z, bias) : z;
  }

  backwardInput(delta: Tensor, kernel: Tensor): Tensor {
    const n = delta.shape[0];
    const [oh, ow, f] = this.outputShape;
    const d = tf.reshape(delta, [n, oh, ow, f]) as tf.Tensor4D;
    // the transposed convolution with `kernel` is the VJP of conv2d with that kernel
    return tf.conv2dTranspose(d, kernel as tf.Tensor4D, [n, this.inputShape[0], this.inputShape[1], this.inputShape[2]], this.strides, this.padding);
  }

  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    const g = this.geometry;
    const n = input.shape[0];
    const rows = n * g.outH * g.outW;
    const d = tf.reshape(delta, [rows, this.filters]);
    const kernelShape: [number, number, number, number] = [g.kh, g.kw, g.inC, this.filters];
    let kernel: Tensor;
    if (runsNatively('Conv2DBackpropFilter')) {
      const dy = tf.reshape(delta, [n, g.outH, g.outW, this.filters]);
      const attrs = { strides: this.strides, pad: this.padding, dataFormat: 'NHWC', filterShape: kernelShape };
      kernel = tf.engine().runKernel<Tensor>('Conv2DBackpropFilter', { x: this.image(input), dy }, attrs as never);
    } else {
      // im2col: wasm has no Conv2DBackpropFilter kernel, and one matmul is as fast
      const patches = tf.reshape(extractPatches(this.image(input), g), [rows, g.patchSize]);
      kernel = tf.reshape(tf.matMul(tf.transpose(patches), d), kernelShape);
    }
    const grads: TensorMap = { kernel };
    if (this.params.bias) grads.bias = tf.sum(d, 0);
    return grads;
  }

  config(): ModuleConfig {
    return patchConfig(this);
  }
}
