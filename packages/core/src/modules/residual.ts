import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError } from '../errors.js';
import type { LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, NodeRef, Tensor, VariableMap } from '../types.js';

/** The join of a residual block: `y = body + shortcut`; its VJP sends the gradient to both branches. */
class Add implements Module {
  readonly kind = 'add';
  readonly params: VariableMap = {};
  readonly buffers: VariableMap = {};
  readonly inputShapes: readonly (readonly number[])[];

  constructor(
    readonly name: string,
    readonly outputShape: readonly number[],
  ) {
    this.inputShapes = [outputShape, outputShape];
  }

  forward(inputs: readonly Tensor[]): ModuleTrace {
    return { inputs, output: this.replay(inputs) };
  }
  replay(inputs: readonly Tensor[]): Tensor {
    return tf.add(inputs[0], tf.reshape(inputs[1], inputs[0].shape));
  }
  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    return { inputs: [grad, tf.reshape(grad, trace.inputs[1].shape)] };
  }
  config(): ModuleConfig {
    return { kind: 'add' };
  }
}

export interface ResidualOptions {
  /** The main branch. */
  body: readonly LayerSpec[];
  /** The shortcut branch (e.g. a 1×1 convolution and batch norm to change shape); default the identity. */
  shortcut?: readonly LayerSpec[];
  /** Name of the add module. */
  name?: string;
}

/**
 * A residual block: `y = body(x) + shortcut(x)` (the shortcut is the identity unless given), e.g. a ResNet basic
 * block `residual({ body: [conv2d(…), batchNorm(), activation('relu'), conv2d(…), batchNorm()] })` followed by
 * `activation('relu')`. Both branches must end with the same shape.
 */
export function residual(options: ResidualOptions): LayerSpec {
  if (!options || typeof options !== 'object' || !Array.isArray(options.body) || options.body.length === 0) {
    throw new OptionError('residual: options must be { body: LayerSpec[] (non-empty), shortcut?: LayerSpec[] }');
  }
  if (options.shortcut !== undefined && !Array.isArray(options.shortcut)) throw new OptionError('residual: shortcut must be an array of layer specs');
  const body = [...options.body];
  const shortcut = options.shortcut ? [...options.shortcut] : [];
  return {
    kind: 'residual',
    build(builder, input: NodeRef) {
      const bodyOut = body.reduce<NodeRef>((at, spec) => spec.build(builder, at), input);
      const shortOut = shortcut.reduce<NodeRef>((at, spec) => spec.build(builder, at), input);
      const a = builder.shape(bodyOut);
      const b = builder.shape(shortOut);
      if (a.join() !== b.join()) {
        throw new ShapeError(
          `residual: the body ends with shape [${a.join(', ')}] but the shortcut with [${b.join(', ')}]${shortcut.length === 0 ? ' (the identity): give a shortcut that matches' : ''}`,
        );
      }
      return builder.add('add', [bodyOut, shortOut], (ctx) => new Add(ctx.name, ctx.inputShapes[0]), options.name);
    },
    config: () => ({
      kind: 'residual',
      body: body.map((s) => s.config()),
      ...(shortcut.length ? { shortcut: shortcut.map((s) => s.config()) } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
    }),
  };
}
