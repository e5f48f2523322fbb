import * as tf from '@tensorflow/tfjs-core';
import { resolveActivation, type ActivationLike } from '../activations.js';
import { ShapeError, checkNumber } from '../errors.js';
import type { InitializerLike } from '../initializers.js';
import { initParams } from './params.js';
import type { Activation, Layer, LayerConfig, LayerSpec, Tensor, TensorMap, VariableMap } from '../types.js';
import { extractPatches, pair, patchGeometry, type Padding, type PatchGeometry } from './locally-connected.js';

export interface Conv2dOptions {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  activation?: ActivationLike;
  /** Kernel initializer (default Glorot uniform with fans `kh·kw·inC` and `kh·kw·filters`). */
  kernelInit?: InitializerLike;
  /** Bias initializer (default zeros). */
  biasInit?: InitializerLike;
  useBias?: boolean;
  name?: string;
}

/** A 2-D convolution, NHWC, kernel `[kh, kw, inC, filters]`, bias `[filters]`; TensorFlow's 'valid'/'same' padding. */
export function conv2d(options: Conv2dOptions): LayerSpec {
  checkNumber('conv2d filters', options.filters, { min: 1, integer: true });
  const kernelSize = pair('conv2d kernelSize', options.kernelSize);
  const strides = pair('conv2d strides', options.strides ?? 1);
  const padding = options.padding ?? 'valid';
  const activation = resolveActivation(options.activation ?? 'linear');
  return {
    kind: 'conv2d',
    build(inputShape, ctx) {
      const name = options.name ?? ctx.defaultName;
      const g = patchGeometry(`conv2d ${name}`, inputShape, kernelSize, strides, padding);
      const fan = { fanIn: g.patchSize, fanOut: g.kh * g.kw * options.filters };
      const biasShape = options.useBias !== false ? [options.filters] : null;
      const params = initParams([g.kh, g.kw, g.inC, options.filters], biasShape, fan, options, ctx.random);
      return new Conv2dLayer(name, [...inputShape], options.filters, kernelSize, strides, padding, activation, params);
    },
  };
}

export class Conv2dLayer implements Layer {
  readonly kind = 'conv2d';
  readonly kernelName = 'kernel';
  readonly outputShape: number[];
  readonly fan: { fanIn: number; fanOut: number };
  readonly geometry: PatchGeometry;

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly filters: number,
    readonly kernelSize: [number, number],
    readonly strides: [number, number],
    readonly padding: Padding,
    readonly activation: Activation,
    readonly params: VariableMap,
  ) {
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
    // im2col: wasm has no Conv2DBackpropFilter kernel, and one matmul is as fast
    const patches = tf.reshape(extractPatches(this.image(input), g), [rows, g.patchSize]);
    const d = tf.reshape(delta, [rows, this.filters]);
    const grads: TensorMap = { kernel: tf.reshape(tf.matMul(tf.transpose(patches), d), [g.kh, g.kw, g.inC, this.filters]) };
    if (this.params.bias) grads.bias = tf.sum(d, 0);
    return grads;
  }

  config(): LayerConfig {
    return {
      kind: 'conv2d',
      name: this.name,
      inputShape: [...this.inputShape],
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      useBias: this.params.bias !== undefined,
      activation: this.activation.config === undefined ? this.activation.name : { name: this.activation.name, config: this.activation.config },
    };
  }
}
