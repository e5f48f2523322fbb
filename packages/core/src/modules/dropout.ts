import * as tf from '@tensorflow/tfjs-core';
import { OptionError, checkNumber } from '../errors.js';
import type { ActivationContext, LayerSpec, Module, ModuleConfig, ModuleTrace, ModuleVjp, Tensor } from '../types.js';
import { StatelessModule, singleModuleSpec } from './base.js';

/** Inverted dropout: in training each unit is kept with probability `1 − rate` and scaled by `1/(1 − rate)`. */
class Dropout extends StatelessModule implements Module {
  readonly stochastic = true;

  constructor(
    name: string,
    inputShape: readonly number[],
    readonly rate: number,
  ) {
    super('dropout', name, inputShape, inputShape);
  }

  forward(inputs: readonly Tensor[], ctx: ActivationContext): ModuleTrace {
    const x = inputs[0];
    if (!ctx.training || this.rate === 0) return { inputs, output: x };
    if (!ctx.random) {
      throw new OptionError(`dropout ${this.name} draws its mask from the run's seeded stream: pass { random } in the forward context (the trainer does)`);
    }
    // drawn on the host from the seeded stream, so a resumed run draws the same masks
    const u = ctx.random.uniformArray(x.size);
    const keep = 1 - this.rate;
    const mask = tf.div(tf.cast(tf.greaterEqual(tf.tensor(u, x.shape), this.rate), 'float32'), keep);
    return { inputs, output: tf.mul(x, mask), saved: { mask } };
  }

  vjp(grad: Tensor, trace: ModuleTrace): ModuleVjp {
    const mask = trace.saved?.mask;
    return { inputs: [mask ? tf.mul(tf.reshape(grad, mask.shape), mask) : grad] };
  }

  replay(inputs: readonly Tensor[], trace: ModuleTrace): Tensor {
    const mask = trace.saved?.mask;
    return mask ? tf.mul(tf.reshape(inputs[0], mask.shape), mask) : inputs[0];
  }

  config(): ModuleConfig {
    return { kind: 'dropout', rate: this.rate };
  }
}

/** Dropout with drop probability `rate` (`dropout(0.5)`), seeded from the run's forward stream. */
export function dropout(rate: number | { rate: number; name?: string }): LayerSpec {
  const o = typeof rate === 'number' ? { rate } : rate;
  if (!o || typeof o !== 'object') throw new OptionError('dropout: give a rate in [0, 1) or { rate }');
  const r = checkNumber('dropout rate', o.rate, { min: 0, max: 0.999999 });
  return singleModuleSpec('dropout', { rate: r }, (ctx) => new Dropout(ctx.name, ctx.inputShape, r), o.name);
}
