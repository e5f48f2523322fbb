import * as tf from '@tensorflow/tfjs-core';
import { bernoulli, lwta, type LwtaOptions } from './activations-extra.js';
import { OptionError } from './errors.js';
import type { Activation } from './types.js';

/** `tanh`, derivative `1 − h²`. */
export const tanh: Activation = {
  name: 'tanh',
  apply: (a) => tf.tanh(a),
  derivative: (_a, h) => tf.sub(1, tf.square(h)),
};

/** Logistic sigmoid, derivative `h(1 − h)`. */
export const sigmoid: Activation = {
  name: 'sigmoid',
  apply: (a) => tf.sigmoid(a),
  derivative: (_a, h) => tf.mul(h, tf.sub(1, h)),
};

/** `max(0, a)`, derivative `1_{a>0}`. */
export const relu: Activation = {
  name: 'relu',
  apply: (a) => tf.relu(a),
  derivative: (a) => tf.cast(tf.greater(a, 0), 'float32'),
};

/** `min(max(0, a), 6)`, derivative `1_{0<a<6}`. */
export const relu6: Activation = {
  name: 'relu6',
  apply: (a) => tf.relu6(a),
  derivative: (a) => tf.cast(tf.logicalAnd(tf.greater(a, 0), tf.less(a, 6)), 'float32'),
};

/** `log(1 + eᵃ)`, derivative `σ(a)`. */
export const softplus: Activation = {
  name: 'softplus',
  apply: (a) => tf.softplus(a),
  derivative: (a) => tf.sigmoid(a),
};

/** `sign(a)`; its derivative is zero almost everywhere, so the straight-through surrogate `1_{|a|≤1}` is used. */
export const sign: Activation = {
  name: 'sign',
  apply: (a) => tf.sign(a),
  derivative: (a) => tf.cast(tf.lessEqual(tf.abs(a), 1), 'float32'),
};

/** Identity. */
export const linear: Activation = {
  name: 'linear',
  apply: (a) => a,
  derivative: (a) => tf.onesLike(a),
};

/** The activations core ships, by name. */
export const builtinActivations: Readonly<Record<string, Activation>> = {
  tanh,
  sigmoid,
  relu,
  relu6,
  softplus,
  sign,
  linear,
};

/** Also resolvable by name, kept out of `builtinActivations` because they sample (they need `ctx.random`). */
const stochasticByName: Readonly<Record<string, () => Activation>> = { bernoulli };

export type ActivationLike = Activation | keyof typeof builtinActivations | string;

/** An activation from its name (or itself); an unknown name is an error that lists the known ones. */
export function resolveActivation(like: ActivationLike | undefined, extra: Record<string, Activation> = {}): Activation {
  if (like === undefined) return linear;
  if (typeof like !== 'string') return like;
  // own names only: `__proto__`, `constructor`, `toString` are not activations
  const own = <T>(table: Record<string, T>): T | undefined => (Object.hasOwn(table, like) ? table[like] : undefined);
  const found = own(extra) ?? own(builtinActivations) ?? own(stochasticByName)?.();
  if (!found) {
    const known = [...Object.keys(builtinActivations), ...Object.keys(stochasticByName), ...Object.keys(extra)].join(', ');
    throw new OptionError(`unknown activation "${like}" (known: ${known})`);
  }
  return found;
}

/** Builders for activations that carry a config (LWTA's block size…), keyed by name. */
export const activationFactories: Record<string, (config: unknown) => Activation> = {
  lwta: (config) => lwta(config as LwtaOptions),
  bernoulli: () => bernoulli(),
};

/** Rebuild an activation from the form `LayerConfig.activation` stores. */
export function activationFromConfig(stored: string | { name: string; config?: unknown }): Activation {
  if (typeof stored === 'string') return resolveActivation(stored);
  const make = activationFactories[stored.name];
  if (make) return make(stored.config);
  return resolveActivation(stored.name);
}
