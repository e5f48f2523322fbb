import * as tf from '@tensorflow/tfjs-core';
import { activationFromConfig, relu, resolveActivation, tanh, type ActivationLike } from '../activations.js';
import type { Activation, ActivationContext, JsonValue, LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, ModuleVjpOptions, Tensor } from '../types.js';
import { StatelessModule, singleModuleSpec } from './base.js';
import { fusedKernels } from '../fused-kernels.js';

/** How a module config stores an activation: its name, or `{ name, config }` when it has options (LWTA). */
export function activationJson(a: Activation): JsonValue {
  return a.config === undefined ? a.name : { name: a.name, config: a.config };
}

/** A fused relu VJP `dy · 1_{x>0}` a backend may register (blas does): inputs `{ dy, x }`, one output. */
export const RELU_GRAD_KERNEL = 'BiopropReluGrad';
/** A fused tanh VJP `dy · (1 − y²)` from tanh's output y a backend may register (blas does): inputs `{ dy, y }`, one output. */
export const TANH_GRAD_KERNEL = 'BiopropTanhGrad';

/** An elementwise (or block-wise) activation as a module: `h = f(a)`, VJP `g ⊙ f'(a)`. */
export class ActivationModule extends StatelessModule implements Module {
  readonly stochastic: boolean;

  constructor(
    name: string,
    inputShape: readonly number[],
    readonly activation: Activation,
  ) {
    super('activation', name, inputShape, inputShape);
    this.stochastic = activation.stochastic === true;
  }

  forward(inputs: readonly Tensor[], ctx: ActivationContext): ModuleTrace {
    return { inputs, output: this.activation.apply(inputs[0], ctx) };
  }

  vjp(grad: Tensor, trace: ModuleTrace, options?: ModuleVjpOptions): ModuleVjp {
    if (options?.structural) return { inputs: [grad] };
    const a = trace.inputs[0];
    // relu's g ⊙ 1_{a>0} and tanh's g ⊙ (1 − h²) in one pass instead of three ops each (the same values)
    if (this.activation === relu && grad.dtype === 'float32' && a.dtype === 'float32' && grad.shape.join() === a.shape.join() && fusedKernels(RELU_GRAD_KERNEL)) {
      return { inputs: [tf.engine().runKernel<Tensor>(RELU_GRAD_KERNEL, { dy: grad, x: a }, {})] };
    }
    const h = trace.output;
    if (this.activation === tanh && grad.dtype === 'float32' && h.dtype === 'float32' && grad.shape.join() === h.shape.join() && fusedKernels(TANH_GRAD_KERNEL)) {
      return { inputs: [tf.engine().runKernel<Tensor>(TANH_GRAD_KERNEL, { dy: grad, y: h }, {})] };
    }
    return { inputs: [tf.mul(grad, this.activation.derivative(trace.inputs[0], trace.output))] };
  }

  replay(inputs: readonly Tensor[]): Tensor {
    // stochastic units are replayed through their mean: a target is not one more sample
    const act = this.activation as Activation & { mean?: (pre: Tensor) => Tensor };
    if (act.stochastic && typeof act.mean === 'function') return act.mean(inputs[0]);
    return act.apply(inputs[0], { training: true });
  }

  config(): ModuleConfig {
    return { kind: 'activation', activation: activationJson(this.activation) };
  }
}

export function isActivationModule(m: Module): m is ActivationModule {
  return m instanceof ActivationModule;
}

/** An activation module: `activation('relu')`, `activation(lwta({ blockSize: 2 }))`. */
export function activation(like: ActivationLike, options: { name?: string } = {}): LayerSpec {
  const act = resolveActivation(like);
  return singleModuleSpec('activation', { activation: activationJson(act) }, (ctx) => new ActivationModule(ctx.name, ctx.inputShape, act), options.name);
}

/** Rebuild an activation module's spec from its config. */
export function activationFromModuleConfig(config: ModuleConfig): LayerSpec {
  return activation(activationFromConfig(config.activation as string | { name: string; config?: unknown }), { name: config.name as string | undefined });
}
