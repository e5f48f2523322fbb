import * as tf from '@tensorflow/tfjs-core';
import { resolveActivation, type ActivationLike } from '../activations.js';
import { ShapeError, checkNumber } from '../errors.js';
import type { InitializerLike } from '../initializers.js';
import { initParams } from './params.js';
import type { Activation, Layer, LayerConfig, LayerSpec, Tensor, TensorMap, VariableMap } from '../types.js';

export interface DenseOptions {
  units: number;
  activation?: ActivationLike;
  /** Kernel initializer (default Glorot uniform). */
  kernelInit?: InitializerLike;
  /** Bias initializer (default zeros). */
  biasInit?: InitializerLike;
  useBias?: boolean;
  name?: string;
}

/** A fully connected layer `a = h·kernel + bias`, kernel `[n_in, n_out]`; inputs of rank > 2 are flattened. */
export function dense(options: DenseOptions): LayerSpec {
  checkNumber('dense units', options.units, { min: 1, integer: true });
  const activation = resolveActivation(options.activation ?? 'linear');
  return {
    kind: 'dense',
    build(inputShape, ctx) {
      const nIn = inputShape.reduce((a, b) => a * b, 1);
      const fan = { fanIn: nIn, fanOut: options.units };
      const params = initParams([nIn, options.units], options.useBias !== false ? [options.units] : null, fan, options, ctx.random);
      return new DenseLayer(options.name ?? ctx.defaultName, [...inputShape], options.units, activation, params);
    },
  };
}

export class DenseLayer implements Layer {
  readonly kind = 'dense';
  readonly kernelName = 'kernel';
  readonly outputShape: number[];
  readonly fan: { fanIn: number; fanOut: number };
  private readonly nIn: number;

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly units: number,
    readonly activation: Activation,
    readonly params: VariableMap,
  ) {
    this.nIn = inputShape.reduce((a, b) => a * b, 1);
    this.outputShape = [units];
    this.fan = { fanIn: this.nIn, fanOut: units };
  }

  private flat(input: Tensor): Tensor {
    const per = input.shape.slice(1).reduce((a, b) => a * b, 1);
    if (per !== this.nIn) {
      throw new ShapeError(
        `layer ${this.name}: expected input [N, ${this.inputShape.join(', ')}] (${this.nIn} features), got [${input.shape.join(', ')}]`,
      );
    }
    return input.rank === 2 ? input : tf.reshape(input, [input.shape[0], this.nIn]);
  }

  linear(input: Tensor, params?: TensorMap): Tensor {
    const kernel = params?.kernel ?? this.params.kernel;
    const bias = params?.bias ?? this.params.bias;
    const z = tf.matMul(this.flat(input), kernel);
    return bias ? tf.add(z, bias) : z;
  }

  backwardInput(delta: Tensor, kernel: Tensor): Tensor {
    // explicit transpose: wasm's matMul is 5–15× slower with transpose flags
    const dx = tf.matMul(delta, tf.transpose(kernel));
    return this.inputShape.length === 1 ? dx : tf.reshape(dx, [delta.shape[0], ...this.inputShape]);
  }

  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    const grads: TensorMap = { kernel: tf.matMul(tf.transpose(this.flat(input)), delta) };
    if (this.params.bias) grads.bias = tf.sum(delta, 0);
    return grads;
  }

  config(): LayerConfig {
    return {
      kind: 'dense',
      name: this.name,
      inputShape: [...this.inputShape],
      units: this.units,
      useBias: this.params.bias !== undefined,
      activation: this.activation.config === undefined ? this.activation.name : { name: this.activation.name, config: this.activation.config },
    };
  }
}
