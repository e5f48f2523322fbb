import * as tf from '@tensorflow/tfjs-core';
import { OptionError, checkNumber } from '../errors.js';
import type { LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, Tensor } from '../types.js';
import { StatelessModule, batchShape, imageShape, singleModuleSpec } from './base.js';

class Flatten extends StatelessModule implements Module {
  constructor(name: string, inputShape: readonly number[]) {
    super('flatten', name, inputShape, [inputShape.reduce((a, b) => a * b, 1)]);
  }
  forward(inputs: readonly Tensor[]): ModuleTrace {
    return { inputs, output: this.replay(inputs) };
  }
  replay(inputs: readonly Tensor[]): Tensor {
    return tf.reshape(inputs[0], [inputs[0].shape[0], this.outputShape[0]]);
  }
  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    return { inputs: [tf.reshape(grad, trace.inputs[0].shape)] };
  }
  config(): ModuleConfig {
    return { kind: 'flatten' };
  }
}

/** Flattens each sample to a vector (dense layers also flatten their input by themselves). */
export function flatten(options: { name?: string } = {}): LayerSpec {
  return singleModuleSpec('flatten', {}, (ctx) => new Flatten(ctx.name, ctx.inputShape), options.name);
}

class GlobalAvgPool2d extends StatelessModule implements Module {
  constructor(name: string, inputShape: readonly number[]) {
    const [, , c] = imageShape(`globalAvgPool2d ${name}`, inputShape);
    super('globalAvgPool2d', name, inputShape, [c]);
  }
  forward(inputs: readonly Tensor[]): ModuleTrace {
    return { inputs, output: this.replay(inputs) };
  }
  replay(inputs: readonly Tensor[]): Tensor {
    return tf.mean(tf.reshape(inputs[0], batchShape(this.name, inputs[0], this.inputShapes[0])), [1, 2]);
  }
  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    const [h, w, c] = this.inputShapes[0];
    const n = grad.shape[0];
    const g = tf.div(tf.reshape(grad, [n, 1, 1, c]), h * w);
    return { inputs: [tf.broadcastTo(g, [n, h, w, c])] };
  }
  config(): ModuleConfig {
    return { kind: 'globalAvgPool2d' };
  }
}

/** The mean of every channel over the image: `[N, H, W, C]` → `[N, C]`. */
export function globalAvgPool2d(options: { name?: string } = {}): LayerSpec {
  return singleModuleSpec('globalAvgPool2d', {}, (ctx) => new GlobalAvgPool2d(ctx.name, ctx.inputShape), options.name);
}

/** `[[top, bottom], [left, right]]` zero rows and columns. */
export type Padding2d = [[number, number], [number, number]];

class ZeroPad2d extends StatelessModule implements Module {
  constructor(
    name: string,
    inputShape: readonly number[],
    readonly padding: Padding2d,
  ) {
    const [h, w, c] = imageShape(`zeroPad2d ${name}`, inputShape);
    super('zeroPad2d', name, inputShape, [h + padding[0][0] + padding[0][1], w + padding[1][0] + padding[1][1], c]);
  }
  forward(inputs: readonly Tensor[]): ModuleTrace {
    return { inputs, output: this.replay(inputs) };
  }
  replay(inputs: readonly Tensor[]): Tensor {
    const x = tf.reshape(inputs[0], batchShape(this.name, inputs[0], this.inputShapes[0]));
    return tf.pad(x, [[0, 0], this.padding[0], this.padding[1], [0, 0]]);
  }
  vjp(grad: Tensor): ModuleVjp {
    const [h, w, c] = this.inputShapes[0];
    const g = tf.reshape(grad, [grad.shape[0], ...this.outputShape]);
    return { inputs: [tf.slice(g, [0, this.padding[0][0], this.padding[1][0], 0], [grad.shape[0], h, w, c])] };
  }
  config(): ModuleConfig {
    return { kind: 'zeroPad2d', padding: this.padding.map((p) => [...p]) };
  }
}

/** Zero padding around an NHWC image: `zeroPad2d(2)` (2 on every side), `[h, w]`, or `[[top, bottom], [left, right]]`. */
export function zeroPad2d(padding: number | [number, number] | Padding2d, options: { name?: string } = {}): LayerSpec {
  const n = (where: string, v: unknown) => checkNumber(`zeroPad2d ${where}`, v, { min: 0, integer: true });
  let p: Padding2d;
  if (typeof padding === 'number') p = [[n('padding', padding), padding], [padding, padding]];
  else if (Array.isArray(padding) && padding.length === 2 && padding.every((x) => typeof x === 'number')) {
    const [h, w] = padding as [number, number];
    p = [[n('padding[0]', h), h], [n('padding[1]', w), w]];
  } else if (Array.isArray(padding) && padding.length === 2 && padding.every((x) => Array.isArray(x) && x.length === 2)) {
    const q = padding as Padding2d;
    p = [[n('padding[0][0]', q[0][0]), n('padding[0][1]', q[0][1])], [n('padding[1][0]', q[1][0]), n('padding[1][1]', q[1][1])]];
  } else {
    throw new OptionError(`zeroPad2d: padding must be a number, [h, w] or [[top, bottom], [left, right]], got ${JSON.stringify(padding)}`);
  }
  return singleModuleSpec('zeroPad2d', { padding: p }, (ctx) => new ZeroPad2d(ctx.name, ctx.inputShape, p), options.name);
}
