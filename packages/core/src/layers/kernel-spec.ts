import { resolveActivation, type ActivationLike } from '../activations.js';
import { OptionError } from '../errors.js';
import type { InitializerLike } from '../initializers.js';
import { ActivationModule, activationJson } from '../modules/activation.js';
import type { JsonValue, KernelModule, LayerSpec, ModuleBuildContext, ModuleConfig, TensorMap, Tensor } from '../types.js';
import * as tf from '@tensorflow/tfjs-core';

/** Options every kernel layer takes besides its geometry. */
export interface KernelLayerOptions {
  /** An activation module added after the kernel (default none: linear). */
  activation?: ActivationLike;
  /** Kernel initializer (default Glorot uniform). */
  kernelInit?: InitializerLike;
  /** Bias initializer (default zeros). */
  biasInit?: InitializerLike;
  useBias?: boolean;
  name?: string;
}

/** An initializer as a config stores it (named or `{ uniform }`/`{ normal }`; an `Initializer` object by name and config). */
function initializerJson(like: InitializerLike | undefined): JsonValue | undefined {
  if (like === undefined) return undefined;
  if (typeof like === 'string') return like;
  if ('init' in like) return { name: like.name, config: like.config };
  return like as JsonValue;
}

/**
 * The spec of a kernel layer: the kernel module, then, when `activation` is given and not linear, an activation
 * module. `geometry` is the layer's own options, as its config stores them.
 */
export function kernelLayerSpec(
  kind: string,
  geometry: Record<string, JsonValue | undefined>,
  options: KernelLayerOptions,
  make: (ctx: ModuleBuildContext & { inputShape: readonly number[] }) => KernelModule,
): LayerSpec {
  if (options.name !== undefined && typeof options.name !== 'string') throw new OptionError(`${kind} name must be a string`);
  const act = resolveActivation(options.activation ?? 'linear');
  const stored: Record<string, JsonValue> = { kind };
  for (const [k, v] of Object.entries({
    ...geometry,
    activation: act.name === 'linear' ? undefined : activationJson(act),
    kernelInit: initializerJson(options.kernelInit),
    biasInit: initializerJson(options.biasInit),
    useBias: options.useBias === false ? false : undefined,
    name: options.name,
  })) {
    if (v !== undefined) stored[k] = v;
  }
  return {
    kind,
    build(builder, input) {
      const kernel = builder.add(kind, [input], (ctx) => make({ ...ctx, inputShape: ctx.inputShapes[0] }), options.name);
      if (act.name === 'linear') return kernel;
      return builder.add('activation', [kernel], (ctx) => new ActivationModule(ctx.name, ctx.inputShapes[0], act));
    },
    config: () => stored as ModuleConfig,
  };
}

/** What every kernel module shares: forward = linear, VJP = backwardInput with its own kernel + paramGrads. */
export abstract class KernelModuleBase {
  abstract readonly kernelName: string;
  abstract readonly params: Record<string, tf.Variable>;
  readonly buffers: Record<string, tf.Variable> = {};
  abstract linear(input: Tensor, params?: TensorMap): Tensor;
  abstract backwardInput(delta: Tensor, kernel: Tensor): Tensor;
  abstract paramGrads(input: Tensor, delta: Tensor): TensorMap;

  forward(inputs: readonly Tensor[]) {
    return { inputs, output: this.linear(inputs[0]) };
  }

  vjp(grad: Tensor, trace: { inputs: readonly Tensor[] }) {
    return { inputs: [this.backwardInput(grad, this.params[this.kernelName])], params: this.paramGrads(trace.inputs[0], grad) };
  }

  replay(inputs: readonly Tensor[]): Tensor {
    return this.linear(inputs[0]);
  }
}
