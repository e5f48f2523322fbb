// The conformance suite of @bioprop/testing for uSF, brSF and frSF: shapes, no leaks, determinism, bit-for-bit resume
// (brSF's redraws come from a saved stream), the loss falling, refusing a layer without a kernel, shape mismatches,
// divergence; on the default MLP, on LeNet-5 and on ResNet-20 at width 4 (8×8 inputs, batch norm, residual adds).
import * as tf from '@tensorflow/tfjs-core';
import { KernelModuleBase, dense, preset, sequential, type KernelModule, type LayerSpec, type ModuleConfig, type Network, type Tensor, type TensorMap, type VariableMap } from '@bioprop/core';
import { runConformance } from '@bioprop/testing';
import { brsfEntry, frsfEntry, usfEntry } from './index.js';

/** An elementwise gain as a kernel module whose params hold no `kernel`: what the rules must refuse. */
class Gain extends KernelModuleBase implements KernelModule {
  readonly kind = 'gain';
  readonly kernelName = 'kernel';
  readonly params: VariableMap;
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: readonly number[];
  readonly fan = { fanIn: 1, fanOut: 1 };

  constructor(
    readonly name: string,
    shape: readonly number[],
  ) {
    super();
    this.inputShapes = [shape];
    this.outputShape = shape;
    this.params = { gain: tf.variable(tf.ones([...shape]), true, undefined, 'float32') };
  }
  linear(x: Tensor, params?: TensorMap): Tensor {
    return tf.mul(x, params?.gain ?? this.params.gain);
  }
  backwardInput(delta: Tensor, gain: Tensor): Tensor {
    return tf.mul(delta, gain);
  }
  paramGrads(x: Tensor, delta: Tensor): TensorMap {
    return { gain: tf.sum(tf.mul(x, delta), 0) };
  }
  config(): ModuleConfig {
    return { kind: 'gain', name: this.name };
  }
}

const gain = (): LayerSpec => ({
  kind: 'gain',
  build: (builder, input) => builder.add('gain', [input], (ctx) => new Gain(ctx.name, ctx.inputShapes[0])),
  config: () => ({ kind: 'gain' }),
});

/** A network whose second layer (`gain_1`) has no kernel. */
const kernelless = (): Network => sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'tanh' }), gain(), dense({ units: 5 })], seed: 1 });

const presetNet = (name: string, inputShape: number[], classes: number) => (seed: number): Network =>
  sequential({ ...preset(name).build({ inputShape, classes }), seed });

for (const entry of [usfEntry, brsfEntry, frsfEntry]) {
  runConformance({
    name: `${entry.id}, the default MLP`,
    createRule: () => entry.create(),
    unsupported: { network: kernelless, match: new RegExp(`${entry.id}: layer 1 \\(gain_1, gain\\) has no kernel "kernel"`) },
  });
  // LeNet-5 with the optimizer its preset trains every rule with (core's lenet5 training: Adam 1e-3)
  runConformance({
    name: `${entry.id}, lenet5 (28×28×1, the preset's optimizer)`,
    createRule: () => entry.create(),
    optimizer: preset('lenet5').training?.optimizer ?? entry.defaults.optimizer,
    network: presetNet('lenet5', [28, 28, 1], 10),
  });
  runConformance({
    name: `${entry.id}, resnet20-tiny (8×8×3, batch norm, residual adds, its tuned optimizer)`,
    createRule: () => entry.create(),
    optimizer: entry.defaults.optimizer,
    network: presetNet('resnet20-tiny', [8, 8, 3], 5),
  });
}
