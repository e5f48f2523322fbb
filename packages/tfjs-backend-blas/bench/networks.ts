// The network workloads of the speed targets, shared by bench/networks.bench.ts (vitest bench) and
// scripts/networks.ts (JSON with targets met or missed): one backprop step (batch 128, Adam) of the papers' LeNet-5
// and ResNet-20 presets, and whole Trainer.fit epochs of the 784-256-256-10 tanh MLP (backprop's defaults); and the
// dense backprop step scripts/threads.ts times. Steps of the rule packages' rules on blas are timed in the private
// @bioprop/integration package (this one depends on no rule package).
import * as tf from '@tensorflow/tfjs-core';
import { adam, createTrainer, deltaFromSignal, dense, layerwise, momentum, preset, randomStream, sequential, sgd, type Rule, type TrainData, type Trainer } from '@bioprop/core';
import { loadFashionMnist } from '@bioprop/datasets/node';

export const BATCH = 128;

/** Targets (one OpenBLAS thread, idle machine): samples per second. */
export const TARGETS = { lenet5: 13_500, resnet20: 200, mlpEpoch: 65_000 } as const;

/**
 * Backprop exactly as `@bioprop/backprop` defines it (δ through the block's exact VJP, the kernel's gradients,
 * backwardInput below), written out here so the benchmark does not depend on the rule package.
 */
export const backpropRule = (): Rule =>
  layerwise({
    id: 'bp',
    name: 'backprop',
    options: {},
    usesSignal: true,
    graphs: 'any',
    step(ctx) {
      const delta = deltaFromSignal(ctx);
      const { layer, layerTrace } = ctx;
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, layer.params[layer.kernelName]) } : undefined,
      };
    },
  });

/** A dense network of `sizes` (tanh hidden layers, a linear output for softmax cross-entropy) with backprop, SGD 0.01. */
export function denseTrainer(sizes: readonly number[], seed = 1): Trainer {
  const layers = sizes.slice(1).map((units, i) => dense({ units, activation: i === sizes.length - 2 ? 'linear' : 'tanh' }));
  const network = sequential({ inputShape: [sizes[0]], layers, seed });
  return createTrainer({ network, rule: backpropRule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.01 }), seed });
}

/** A seeded batch for `denseTrainer`: inputs in [0, 1) like pixels, one-hot targets. */
export function denseBatch(sizes: readonly number[], batch: number, seed = 2): { x: tf.Tensor; y: tf.Tensor } {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const nIn = sizes[0];
  const nOut = sizes[sizes.length - 1];
  const x = Float32Array.from({ length: batch * nIn }, next);
  const y = new Float32Array(batch * nOut);
  for (let i = 0; i < batch; i++) y[i * nOut + Math.floor(next() * nOut)] = 1;
  return { x: tf.tensor(x, [batch, nIn]), y: tf.tensor(y, [batch, nOut]) };
}

export type PresetNet = 'lenet5' | 'resnet20';

export interface StepFixture {
  trainer: Trainer;
  x: tf.Tensor;
  y: tf.Tensor;
  step(): void;
  dispose(): void;
}

/** A preset's trainer (seeded, Adam 1e-3) and one seeded batch: LeNet-5 on 28×28×1, ResNet-20 on 32×32×3. */
export function presetStep(name: PresetNet): StepFixture {
  const { inputShape, layers } = preset(name).build({ inputShape: name === 'lenet5' ? [28, 28, 1] : [32, 32, 3], classes: 10 });
  const network = sequential({ inputShape, layers, seed: 1 });
  const trainer = createTrainer({ network, rule: backpropRule(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 });
  const r = randomStream(1, 'x');
  const x = tf.tensor(r.normalArray(BATCH * inputShape.reduce((a, b) => a * b, 1)), [BATCH, ...inputShape]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10), 'float32'));
  return {
    trainer,
    x,
    y,
    step: () => void trainer.step(x, y),
    dispose: () => {
      tf.dispose([x, y]);
      trainer.dispose();
      trainer.network.dispose();
    },
  };
}

/** The 784-256-256-10 tanh MLP with backprop's tuned defaults (momentum 0.9, lr 0.03), as `bioprop train` runs it. */
export function mlpTrainer(seed = 1): Trainer {
  const layers = [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })];
  const network = sequential({ inputShape: [784], layers, seed });
  return createTrainer({ network, rule: backpropRule(), loss: 'softmaxCrossEntropy', optimizer: momentum({ lr: 0.03, momentum: 0.9 }), seed });
}

export interface EpochRates {
  source: string;
  /** samples/s of each epoch as Trainer.fit counts it (steps, batch gathering and updates; no evaluation). */
  perEpoch: number[];
}

/** 60,000 training samples: Fashion-MNIST when it is on this machine (never downloaded), else same-size seeded data. */
export async function epochData(count = 60_000): Promise<{ data: TrainData; source: string }> {
  try {
    const splits = await loadFashionMnist({ download: false, limitTrain: count, limitTest: 1 });
    if (splits.train.count === count) return { data: splits.train, source: 'fashion-mnist' };
  } catch {
    /* synthetic below */
  }
  const r = randomStream(5, 'epoch');
  const x = r.uniformArray(count * 784, 0, 1);
  const y = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) y[i * 10 + (i % 10)] = 1;
  return { data: { x, y, count, sampleShape: [784], targetShape: [10] }, source: 'synthetic (Fashion-MNIST not found)' };
}

/** `epochs` whole epochs of Trainer.fit (batch 128, shuffled) on 60,000 samples (Fashion-MNIST when present). */
export async function mlpEpochs(epochs: number): Promise<EpochRates> {
  const { data, source } = await epochData();
  const trainer = mlpTrainer();
  try {
    const fit = await trainer.fit(data, { epochs, batchSize: BATCH });
    return { source, perEpoch: fit.epochs.map((e) => data.count / e.seconds) };
  } finally {
    trainer.dispose();
    trainer.network.dispose();
  }
}
