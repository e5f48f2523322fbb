import * as tf from '@tensorflow/tfjs-core';
import {
  createTrainer,
  dense,
  momentum,
  resolveLoss,
  resolveOptimizer,
  sequential,
  type BoundRule,
  type LayerSpec,
  type Loss,
  type Network,
  type OptimizerConfig,
  type OptimizerSpec,
  type Rule,
  type TrainData,
  type Trainer,
} from '@bioprop/core';
import { seededData, type SeededTaskKind } from './helpers.js';

/** What every check needs: the rule under test and, optionally, the network, loss and optimizer to test it with. */
export interface ConformanceSetup {
  /** A fresh rule value each call (checks bind several). */
  createRule: () => Rule;
  /**
   * Builds the test network from a seed (the seed must fix the initial weights). Use it for conv or
   * locally connected layers. Default: `inputShape` → `layers`, or 20-16-12-5 tanh (last layer linear
   * for the cross-entropies, tanh otherwise).
   */
  network?: (seed: number) => Network;
  /** Layer specs of the test network (ignored when `network` is given). */
  layers?: readonly LayerSpec[];
  /** Per-sample input shape of the test network (default `[20]`; ignored when `network` is given). */
  inputShape?: readonly number[];
  /** Loss (default `softmaxCrossEntropy`). */
  loss?: Loss | string;
  /** The seeded task (default: images for image networks and classification for other ones with a cross-entropy, regression otherwise). */
  task?: SeededTaskKind;
  /**
   * The forward weights' optimizer: a spec, or a config such as a rule entry's `defaults.optimizer`.
   * Default `momentum({ lr: 0.05, momentum: 0.9 })` (its slots also exercise checkpointing).
   */
  optimizer?: OptimizerSpec | OptimizerConfig;
  /** Mini-batch size (default 16). */
  batchSize?: number;
  /** Seed of the network, the trainer and the data (default 1). */
  seed?: number;
  /** The loss-falls check: `samples` (256), `epochs` (8), `batchSize` (32), and the required `final/initial` loss ratio `maxRatio` (0.8). */
  lossFalls?: { samples?: number; epochs?: number; batchSize?: number; maxRatio?: number };
  /** A network the rule cannot train, and what its `RuleSupportError` message must match. */
  unsupported?: { network: () => Network; match: RegExp };
  /**
   * The angle probe the leak check runs between training steps (default: the kit's `probeAngles`). Pass diagnostics'
   * `probeAlignment` to check the real one: it gets `{ network, boundRule, loss, input, target }`.
   */
  angleProbe?: (args: AngleProbeArgs) => unknown;
}

/** What an angle probe is given: the trained network and its bound rule, the loss and one batch. */
export interface AngleProbeArgs {
  network: Network;
  boundRule: BoundRule;
  loss: Loss;
  input: tf.Tensor;
  target: tf.Tensor;
}

/** A setup with defaults filled in, and the builders the checks share. */
export interface ResolvedSetup {
  readonly setup: ConformanceSetup;
  readonly seed: number;
  readonly batchSize: number;
  readonly loss: Loss;
  readonly task: SeededTaskKind;
  readonly optimizer: OptimizerSpec;
  network(seed: number): Network;
  /** A trainer on a fresh network, both seeded with `seed`. Dispose with `disposeTrainer`. */
  trainer(seed: number): Trainer;
  /** The seeded task for this network, `n` samples. */
  data(n: number, outDelta?: number): TrainData;
}

const CROSS_ENTROPIES = new Set(['softmaxCrossEntropy', 'sigmoidCrossEntropy']);

export function resolveSetup(setup: ConformanceSetup): ResolvedSetup {
  if (typeof setup?.createRule !== 'function') throw new TypeError('conformance: `createRule` must be a function returning a fresh rule');
  const seed = setup.seed ?? 1;
  const batchSize = setup.batchSize ?? 16;
  const loss = resolveLoss(setup.loss ?? 'softmaxCrossEntropy');
  const classification = CROSS_ENTROPIES.has(loss.name);
  const optimizer =
    setup.optimizer === undefined
      ? momentum({ lr: 0.05, momentum: 0.9 })
      : 'create' in setup.optimizer
        ? setup.optimizer
        : resolveOptimizer(setup.optimizer as Parameters<typeof resolveOptimizer>[0]);
  const inputShape = setup.inputShape ?? [20];
  const layers: readonly LayerSpec[] = setup.layers ?? [
    dense({ units: 16, activation: 'tanh' }),
    dense({ units: 12, activation: 'tanh' }),
    dense({ units: 5, activation: classification ? 'linear' : 'tanh' }),
  ];
  const network = (s: number): Network => (setup.network ? setup.network(s) : sequential({ inputShape, layers, seed: s }));
  let shapes: { inputShape: number[]; outDim: number } | null = null;
  const netShapes = () => {
    if (!shapes) {
      const probe = network(seed);
      shapes = { inputShape: [...probe.inputShape], outDim: probe.outputShape.reduce((a, b) => a * b, 1) };
      probe.dispose();
    }
    return shapes;
  };
  // image networks get the image task by default: a dense teacher over pixels is not what a conv net is for
  const task = setup.task ?? (classification ? (netShapes().inputShape.length === 3 ? 'images' : 'classification') : 'regression');
  return {
    setup,
    seed,
    batchSize,
    loss,
    task,
    optimizer,
    network,
    trainer(s: number) {
      const net = network(s);
      try {
        return createTrainer({ network: net, rule: setup.createRule(), loss, optimizer, seed: s });
      } catch (e) {
        net.dispose();
        throw e;
      }
    },
    data(n: number, outDelta = 0) {
      const { inputShape: inShape, outDim } = netShapes();
      return seededData(seed, n, inShape, outDim + outDelta, task);
    },
  };
}

/** Free a trainer built by `ResolvedSetup.trainer`: rule state, optimizer slots and network weights. */
export function disposeTrainer(trainer: Trainer): void {
  trainer.dispose();
  trainer.network.dispose();
}

/** The first `n` samples of a data set as an `[x, y]` pair of tensors (the caller disposes them). */
export function batchTensors(data: TrainData, network: Network, start: number, n: number): [tf.Tensor, tf.Tensor] {
  const inSize = data.sampleShape.reduce((a, b) => a * b, 1);
  const outSize = data.targetShape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(data.x.slice(start * inSize, (start + n) * inSize), [n, ...network.inputShape]);
  const y = tf.tensor(data.y.slice(start * outSize, (start + n) * outSize), [n, ...data.targetShape]);
  return [x, y];
}
