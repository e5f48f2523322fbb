import * as tf from '@tensorflow/tfjs-core';
import { glorotInit, resolveInitializer, zeroInit, type InitializerLike } from '../initializers.js';
import type { RandomStream, VariableMap } from '../types.js';

/**
 * A layer's trainable `{ kernel, bias }` from seeded initializers (Glorot and zeros unless given), drawn kernel
 * first so every layer kind consumes its random stream the same way; `biasShape: null` means no bias.
 */
export function initParams(
  kernelShape: readonly number[],
  biasShape: readonly number[] | null,
  fan: { fanIn: number; fanOut: number },
  init: { kernelInit?: InitializerLike; biasInit?: InitializerLike },
  random: RandomStream,
): VariableMap {
  const kernel = resolveInitializer(init.kernelInit, glorotInit()).init(kernelShape, fan, random);
  const params: VariableMap = { kernel: tf.variable(kernel, true, undefined, 'float32') };
  kernel.dispose();
  if (biasShape) {
    const bias = resolveInitializer(init.biasInit, zeroInit()).init(biasShape, fan, random);
    params.bias = tf.variable(bias);
    bias.dispose();
  }
  return params;
}
