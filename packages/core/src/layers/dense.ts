import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkNumber } from '../errors.js';
import { initParams } from './params.js';
import { KernelModuleBase, kernelLayerSpec, type KernelLayerOptions } from './kernel-spec.js';
import type { KernelModule, LayerSpec, ModuleConfig, Tensor, TensorMap, VariableMap } from '../types.js';

/** Per backend (by instance), which of the kernels asked about it runs natively: decided once per backend and kernel. */
const nativeByBackend = new WeakMap<object, Map<string, boolean>>();

/**
 * True where the active backend registers `kernel` AND lists it among its native kernels (the blas backend's
 * `nativeKernels`, whose sgemm takes transpose flags for free). Elsewhere the portable path is the fast one: wasm's
 * matMul is 5–15× slower with transpose flags, so explicit transposes stay there.
 */
function runsNatively(kernel: 'BatchMatMul' | '_FusedMatMul'): boolean {
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

export interface DenseOptions extends KernelLayerOptions {
  units: number;
}

/** A fully connected layer `a = h·kernel + bias`, kernel `[n_in, n_out]`; inputs of rank > 2 are flattened. */
export function dense(options: DenseOptions): LayerSpec {
  checkNumber('dense units', options?.units, { min: 1, integer: true });
  return kernelLayerSpec('dense', { units: options.units }, options, (ctx) => {
    const nIn = ctx.inputShape.reduce((a, b) => a * b, 1);
    const fan = { fanIn: nIn, fanOut: options.units };
    const params = initParams([nIn, options.units], options.useBias !== false ? [options.units] : null, fan, options, ctx.random);
    return new DenseLayer(ctx.name, [...ctx.inputShape], options.units, params);
  });
}

export class DenseLayer extends KernelModuleBase implements KernelModule {
  readonly kind = 'dense';
  readonly kernelName = 'kernel';
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: number[];
  readonly fan: { fanIn: number; fanOut: number };
  private readonly nIn: number;

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly units: number,
    readonly params: VariableMap,
  ) {
    super();
    this.inputShapes = [inputShape];
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
    const x = this.flat(input);
    // the bias added in the product's own pass where that kernel is native (the same sums, rounded the same); the
    // kernel has no gradient of its own, so a recording tape takes matMul + add
    if (bias && !tf.engine().isTapeOn() && runsNatively('_FusedMatMul')) {
      return tf.engine().runKernel<Tensor>('_FusedMatMul', { a: x, b: kernel, bias }, { transposeA: false, transposeB: false, activation: 'linear' });
    }
    const z = tf.matMul(x, kernel);
    return bias ? tf.add(z, bias) : z;
  }

  backwardInput(delta: Tensor, kernel: Tensor): Tensor {
    // explicit transpose: wasm's matMul is 5–15× slower with transpose flags (sgemm's flags cost nothing)
    const dx = runsNatively('BatchMatMul') ? tf.matMul(delta, kernel, false, true) : tf.matMul(delta, tf.transpose(kernel));
    return this.inputShape.length === 1 ? dx : tf.reshape(dx, [delta.shape[0], ...this.inputShape]);
  }

  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    const x = this.flat(input);
    const grads: TensorMap = { kernel: runsNatively('BatchMatMul') ? tf.matMul(x, delta, true, false) : tf.matMul(tf.transpose(x), delta) };
    if (this.params.bias) grads.bias = tf.sum(delta, 0);
    return grads;
  }

  config(): ModuleConfig {
    return { kind: 'dense', name: this.name, units: this.units, useBias: this.params.bias !== undefined };
  }
}
