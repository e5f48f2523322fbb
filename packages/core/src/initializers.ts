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

/** He (Kaiming) normal: `N(0, 2/fanIn)`, for ReLU networks. */
export function heNormalInit(): Initializer {
  return {
    name: 'heNormal',
    config: {},
    init: (shape, { fanIn }, random) => tf.tensor(random.normalArray(size(shape), 0, Math.sqrt(2 / Math.max(1, fanIn))), [...shape]),
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

export type InitializerLike =
  | Initializer
  | 'glorot'
  | 'zero'
  | 'zeros'
  | 'fanInUniform'
  | 'heNormal'
  | { uniform: number }
  | { normal: number }
  /** An initializer as configs store it: `{ name: 'glorot', config: { gain: 1 } }`. */
  | { name: string; config?: JsonValue };

/** An initializer in the JSON form configs store (every `InitializerLike` but an `Initializer` object). */
export type InitializerConfig = Exclude<InitializerLike, Initializer>;

const NAMED: Record<string, (config: Record<string, unknown>) => Initializer> = {
  glorot: (c) => glorotInit(c.gain === undefined ? 1 : checkNumber('glorot gain', c.gain, { min: 0 })),
  zero: () => zeroInit(),
  zeros: () => zeroInit(),
  fanInUniform: () => fanInUniformInit(),
  heNormal: () => heNormalInit(),
  uniform: (c) => uniformInit(c.scale as number),
  normal: (c) => normalInit(c.std as number),
  constant: (c) => constantInit(c.value as number),
};

/** Accepts an initializer, a name, `{ uniform: ω }` / `{ normal: σ }`, or a stored `{ name, config }`. */
export function resolveInitializer(like: InitializerLike | undefined, fallback: Initializer): Initializer {
  if (like === undefined) return fallback;
  const known = 'glorot, zero, fanInUniform, heNormal, {uniform: ω}, {normal: σ}';
  if (typeof like === 'string') {
    // uniform, normal and constant need a value: `{ uniform: ω }`, `{ normal: σ }`
    if (!Object.hasOwn(NAMED, like) || ['uniform', 'normal', 'constant'].includes(like as string)) {
      throw new OptionError(`unknown initializer "${like}" (known: ${known})`);
    }
    return NAMED[like]({});
  }
  if (!like || typeof like !== 'object') throw new OptionError(`bad initializer ${JSON.stringify(like)} (known: ${known})`);
  if ('init' in like && typeof like.init === 'function') return like;
  const keys = Object.keys(like);
  if (keys.length === 1 && keys[0] === 'uniform') return uniformInit((like as { uniform: number }).uniform);
  if (keys.length === 1 && keys[0] === 'normal') return normalInit((like as { normal: number }).normal);
  const named = like as { name?: unknown; config?: unknown };
  if (typeof named.name === 'string' && Object.hasOwn(NAMED, named.name) && keys.every((k) => k === 'name' || k === 'config')) {
    const config = named.config ?? {};
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new OptionError(`initializer ${named.name}: config must be an object`);
    return NAMED[named.name](config as Record<string, unknown>);
  }
  throw new OptionError(`bad initializer ${JSON.stringify(like)} (known: ${known})`);
}
