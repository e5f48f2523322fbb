import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors.js';
import { randomSource } from './random.js';
import type {
  ActivationContext,
  ForwardTrace,
  Layer,
  LayerSpec,
  LayerTrace,
  Network,
  RandomSource,
  Tensor,
  VariableMap,
} from './types.js';

export interface SequentialOptions {
  /** Per-sample input shape, e.g. `[784]` or `[28, 28, 1]`. */
  inputShape: readonly number[];
  layers: readonly LayerSpec[];
  /** Seed for the initializers (ignored when `random` is given). Default 0. */
  seed?: number;
  /** A random source to draw initial weights from (its `init` stream). */
  random?: RandomSource;
}

/** Build a sequential network from layer specs; weights come from the seeded `init` stream. */
export function sequential(options: SequentialOptions): SequentialNetwork {
  const random = options.random ?? randomSource(options.seed ?? 0);
  const stream = random.stream('init');
  const layers: Layer[] = [];
  let shape = [...options.inputShape];
  const counts: Record<string, number> = {};
  options.layers.forEach((spec, index) => {
    counts[spec.kind] = (counts[spec.kind] ?? 0) + 1;
    const layer = spec.build(shape, { index, random: stream, defaultName: `${spec.kind}_${counts[spec.kind]}` });
    layers.push(layer);
    shape = [...layer.outputShape];
  });
  return new SequentialNetwork(layers);
}

/** A stack of layers run in order. */
export class SequentialNetwork implements Network {
  readonly layers: readonly Layer[];
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];

  constructor(layers: Layer[]) {
    if (layers.length === 0) throw new ShapeError('a network needs at least one layer');
    for (let i = 1; i < layers.length; i++) {
      const want = layers[i].inputShape.reduce((a, b) => a * b, 1);
      const got = layers[i - 1].outputShape.reduce((a, b) => a * b, 1);
      if (want !== got) {
        throw new ShapeError(
          `layer ${i} (${layers[i].name}) expects input [${layers[i].inputShape}] but layer ${i - 1} (${layers[i - 1].name}) outputs [${layers[i - 1].outputShape}]`,
        );
      }
    }
    this.layers = layers;
    this.inputShape = layers[0].inputShape;
    this.outputShape = layers[layers.length - 1].outputShape;
  }

  private checkInput(input: Tensor): void {
    const want = this.inputShape;
    const got = input.shape.slice(1);
    const wantSize = want.reduce((a, b) => a * b, 1);
    const gotSize = got.reduce((a, b) => a * b, 1);
    if (input.rank < 2 || wantSize !== gotSize) {
      throw new ShapeError(`network input: expected [N, ${want.join(', ')}], got [${input.shape.join(', ')}]`);
    }
  }

  forward(input: Tensor, ctx: Partial<ActivationContext> = {}): ForwardTrace {
    this.checkInput(input);
    const actx: ActivationContext = { training: ctx.training ?? true, random: ctx.random };
    const traces: LayerTrace[] = [];
    let h = input;
    for (const layer of this.layers) {
      const x = layer.inputShape.length === h.rank - 1 ? h : tf.reshape(h, [h.shape[0], ...layer.inputShape]);
      const pre = layer.linear(x);
      const output = layer.activation.apply(pre, actx);
      traces.push({ input: x, pre, output });
      h = output;
    }
    return { input, layers: traces, output: h };
  }

  predict(input: Tensor, ctx: Partial<ActivationContext> = {}): Tensor {
    return tf.tidy(() => this.forward(input, { training: false, ...ctx }).output);
  }

  namedParams(): VariableMap {
    const out: VariableMap = {};
    this.layers.forEach((layer, i) => {
      for (const [k, v] of Object.entries(layer.params)) out[`${i}/${k}`] = v;
    });
    return out;
  }

  dispose(): void {
    for (const layer of this.layers) for (const v of Object.values(layer.params)) v.dispose();
  }
}
