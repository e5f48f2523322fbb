import * as tf from '@tensorflow/tfjs-core';
import { OptionError, checkNumber } from './errors.js';
import type { Initializer, JsonValue } from './types.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** `U[−scale, scale]`. */
export function uniformInit(scale: number): Initializer {
  checkNumber('uniformInit scale', scale, { min: 0 });
  return {
    name: 'uniform',
    config: { scale },
    init: (shape, _fan, random) => tf.tensor(random.uniformArray(size(shape), -scale, scale), [...shape]),
  };
}

/** `N(0, std²)`. */
export function normalInit(std: number): Initializer {
  checkNumber('normalInit std', std, { min: 0 });
  return {
    name: 'normal',
    config: { std },
    init: (shape, _fan, random) => tf.tensor(random.normalArray(size(shape), 0, std), [...shape]),
  };
}

/** Glorot (Xavier) uniform: `U[±√(6/(fanIn+fanOut))]`. */
export function glorotInit(gain = 1): Initializer {
  return {
    name: 'glorot',
    config: { gain },
    init: (shape, { fanIn, fanOut }, random) => {
      const limit = gain * Math.sqrt(6 / (fanIn + fanOut));
      return tf.tensor(random.uniformArray(size(shape), -limit, limit), [...shape]);
    },
  };
}

/** `U[±1/√fanIn]` (PyTorch's default for linear layers' biases, DFA's feedback). */
export function fanInUniformInit(): Initializer {
  return {
    name: 'fanInUniform',
    config: {},
    init: (shape, { fanIn }, random) => {
      const limit = 1 / Math.sqrt(Math.max(1, fanIn));
      return tf.tensor(random.uniformArray(size(shape), -limit, limit), [...shape]);
    },
  };
}

/** All zeros (DFA's forward weights, biases). */
export function zeroInit(): Initializer {
  return { name: 'zero', config: {}, init: (shape) => tf.zeros([...shape]) };
}

/** A constant. */
export function constantInit(value: number): Initializer {
  checkNumber('constantInit value', value);
  return { name: 'constant', config: { value }, init: (shape) => tf.fill([...shape], value) };
}

export type InitializerLike = Initializer | 'glorot' | 'zero' | 'zeros' | 'fanInUniform' | { uniform: number } | { normal: number };

/** Accepts an initializer, a name, or `{ uniform: ω }` / `{ normal: σ }`. */
export function resolveInitializer(like: InitializerLike | undefined, fallback: Initializer): Initializer {
  if (like === undefined) return fallback;
  if (typeof like === 'string') {
    if (like === 'glorot') return glorotInit();
    if (like === 'zero' || like === 'zeros') return zeroInit();
    if (like === 'fanInUniform') return fanInUniformInit();
    throw new OptionError(`unknown initializer "${like}" (known: glorot, zero, fanInUniform, {uniform: ω}, {normal: σ})`);
  }
  if ('init' in like) return like;
  if ('uniform' in like) return uniformInit(like.uniform);
  if ('normal' in like) return normalInit(like.normal);
  throw new OptionError(`bad initializer ${JSON.stringify(like as JsonValue)}`);
}
