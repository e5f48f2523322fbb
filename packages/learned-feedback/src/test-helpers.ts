/** Small fixtures shared by this package's tests (not exported from the package). */
import * as tf from '@tensorflow/tfjs-core';
import {
  KernelModuleBase,
  dense,
  kernelLayerSpec,
  preset,
  randomSource,
  randomStream,
  sequential,
  type InitializerConfig,
  type KernelModule,
  type LayerSpec,
  type ModuleConfig,
  type Network,
  type RandomSource,
  type Tensor,
  type TensorMap,
  type TrainData,
  type VariableMap,
} from '@bioprop/core';

/** A classification task from a random linear teacher: x ~ N(0, I), label = argmax(x·T). */
export function teacherTask(seed: number, count: number, inputs: number, classes: number): TrainData {
  const s = randomStream(seed, 'teacher-task');
  const T = s.normalArray(inputs * classes);
  const x = s.normalArray(count * inputs);
  const y = new Float32Array(count * classes);
  for (let n = 0; n < count; n++) {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < classes; c++) {
      let v = 0;
      for (let i = 0; i < inputs; i++) v += x[n * inputs + i] * T[i * classes + c];
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    y[n * classes + best] = 1;
  }
  return { x, y, count, sampleShape: [inputs], targetShape: [classes] };
}

/** `sizes = [in, h1, …, out]`: tanh hidden layers, linear output; weights and the run share one seeded source. */
export function smallNet(seed: number, sizes: number[], activation = 'tanh'): { network: Network; random: RandomSource } {
  const random = randomSource(seed);
  const network = sequential({
    inputShape: [sizes[0]],
    layers: sizes.slice(1).map((units, i) => dense({ units, activation: i === sizes.length - 2 ? 'linear' : activation })),
    random,
  });
  return { network, random };
}

/** A batch as tensors (the caller disposes). */
export function batchOf(data: TrainData, start: number, size: number): { x: tf.Tensor; y: tf.Tensor } {
  const inSize = data.sampleShape.reduce((a, b) => a * b, 1);
  const outSize = data.targetShape.reduce((a, b) => a * b, 1);
  return {
    x: tf.tensor(data.x.slice(start * inSize, (start + size) * inSize), [size, ...data.sampleShape]),
    y: tf.tensor(data.y.slice(start * outSize, (start + size) * outSize), [size, ...data.targetShape]),
  };
}

/** ‖a − b‖ / ‖b‖. */
export function relNorm(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0] / tf.norm(b).dataSync()[0]);
}

export const copy = (t: tf.Tensor): Float32Array => Float32Array.from(t.dataSync() as Float32Array);

/** An elementwise gain posing as a kernel module: it has no `kernel` param for B to stand in for. */
class GainKernel extends KernelModuleBase implements KernelModule {
  readonly kind = 'gain';
  readonly kernelName = 'kernel';
  readonly fan = { fanIn: 1, fanOut: 1 };
  readonly inputShapes: readonly (readonly number[])[];
  readonly params: VariableMap;

  constructor(
    readonly name: string,
    readonly outputShape: readonly number[],
  ) {
    super();
    this.inputShapes = [outputShape];
    this.params = { gain: tf.tidy(() => tf.variable(tf.ones([...outputShape]))) };
  }
  linear(x: Tensor, params?: TensorMap): Tensor {
    return tf.mul(x, params?.gain ?? this.params.gain);
  }
  backwardInput(delta: Tensor): Tensor {
    return tf.mul(delta, this.params.gain);
  }
  paramGrads(x: Tensor, delta: Tensor): TensorMap {
    return { gain: tf.sum(tf.mul(x, delta), 0) };
  }
  config(): ModuleConfig {
    return { kind: 'gain', name: this.name };
  }
}

const gain = (): LayerSpec => kernelLayerSpec('gain', {}, { activation: 'tanh' }, (ctx) => new GainKernel(ctx.name, ctx.inputShape));

/** A network whose second layer (`gain_1`) has no kernel: nothing for B to stand in for. */
export function kernellessNetwork(): Network {
  return sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), gain(), dense({ units: 5 })], seed: 1 });
}

/** What the rules of this package say about `kernellessNetwork`. */
export const KERNELLESS_MATCH = /layer 1 \(gain_1, gain\) has no kernel "kernel"/;

/** A preset network built from a seed (for the conformance suite). */
export function presetNetwork(name: string, inputShape: number[], classes: number, kernelInit?: InitializerConfig): (seed: number) => Network {
  return (seed) => {
    const built = preset(name).build({ inputShape, classes, kernelInit });
    return sequential({ inputShape: built.inputShape, layers: built.layers, seed });
  };
}
