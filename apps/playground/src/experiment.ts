// What a playground run is, without any DOM or worker: the config, the rules offered, the data, the networks and the
// training loop. The worker drives it in the page; the Chromium test runs the same code in Node for reference losses.
import * as tf from '@tensorflow/tfjs-core';
import {
  conv2d,
  createTrainer,
  dense,
  flatten,
  maxPool2d,
  preset,
  presets,
  resolveOptimizer,
  sequential,
  type LayerSpec,
  type Network,
  type RuleEntry,
  type Trainer,
} from '@bioprop/core';
import {
  createRng,
  idxSplit,
  linearTask,
  loadDigits,
  nonlinearRegressionTask,
  parseIdxAsync,
  type DatasetSplits,
  type LabeledData,
} from '@bioprop/datasets';
import { probeAlignmentAsync, type AlignmentRecord } from '@bioprop/diagnostics';
import { rules as backpropRules } from '@bioprop/backprop';
import { rules as faRules } from '@bioprop/feedback-alignment';
import { rules as dfaRules } from '@bioprop/direct-feedback-alignment';
import { rules as learnedFeedbackRules } from '@bioprop/learned-feedback';
import { rules as lraRules } from '@bioprop/lra';
import { rules as signSymmetryRules } from '@bioprop/sign-symmetry';
import { rules as targetPropagationRules } from '@bioprop/target-propagation';

/** Every rule the playground offers, by id (the packages' own `rules` exports: no registry anywhere). */
export const RULES: readonly RuleEntry[] = [
  ...backpropRules,
  ...faRules,
  ...dfaRules,
  ...signSymmetryRules,
  ...learnedFeedbackRules,
  ...lraRules,
  ...targetPropagationRules,
] as readonly RuleEntry[];

export function ruleEntry(id: string): RuleEntry {
  const entry = RULES.find((r) => r.id === id);
  if (!entry) throw new Error(`unknown rule "${id}" (known: ${RULES.map((r) => r.id).join(', ')})`);
  return entry;
}

export type ArchitectureConfig =
  | { kind: 'mlp'; hidden: number[]; activation: string }
  | { kind: 'conv' }
  | { kind: 'preset'; name: string };

export type DataConfig =
  | { kind: 'digits'; train: number; test: number }
  | { kind: 'linear' }
  | { kind: 'nonlinear' }
  | { kind: 'idx'; train: number; test: number };

export interface PlaygroundConfig {
  rules: string[];
  arch: ArchitectureConfig;
  data: DataConfig;
  /** `auto` or a backend name of core's resolver. */
  backend: string;
  seed: number;
  batchSize: number;
  steps: number;
  /** Replaces the learning rate of each rule's tuned optimizer; null keeps the rule's own. */
  lr: number | null;
  /** Test accuracy and loss every this many steps (and at the end). */
  evalEvery: number;
  /** Angles, alignment and weight images every this many steps (and at the end); 0 turns them off. */
  diagEvery: number;
}

export const DEFAULT_CONFIG: PlaygroundConfig = {
  rules: ['bp', 'fa'],
  arch: { kind: 'mlp', hidden: [64], activation: 'tanh' },
  data: { kind: 'digits', train: 2000, test: 500 },
  backend: 'auto',
  seed: 1,
  batchSize: 32,
  steps: 300,
  lr: null,
  evalEvery: 25,
  diagEvery: 25,
};

/** Presets small enough to train in a browser tab (the ResNets and the CIFAR nets are not). */
export const BROWSER_PRESETS = ['lenet5', 'bartunov-fc-mnist', 'nokland-7x240'] as const;

/** Data as the worker holds it: the splits, whether it is classification, and what the samples are. */
export interface PlaygroundData {
  splits: DatasetSplits;
  classification: boolean;
  /** A short description for the page. */
  summary: string;
}

/** The bytes of dropped IDX files (two: images and labels, split 80/20; or four, train and test by size). */
export type IdxFiles = { name: string; bytes: Uint8Array }[];

export async function loadData(config: DataConfig, seed: number, idxFiles?: IdxFiles): Promise<PlaygroundData> {
  switch (config.kind) {
    case 'digits': {
      const splits = await loadDigits({ limitTrain: config.train, limitTest: config.test });
      return { splits, classification: true, summary: `embedded MNIST digits: ${splits.train.count} train, ${splits.test.count} test` };
    }
    case 'linear': {
      const splits = linearTask({ seed });
      return { splits, classification: false, summary: `Lillicrap's linear task y = Tx (30 → 10): ${splits.train.count} train, ${splits.test.count} test` };
    }
    case 'nonlinear': {
      const splits = nonlinearRegressionTask({ seed });
      return { splits, classification: false, summary: `nonlinear regression from a 30-20-10 tanh teacher: ${splits.train.count} train, ${splits.test.count} test` };
    }
    case 'idx': {
      if (!idxFiles || idxFiles.length === 0) throw new Error('drop an IDX images file and its labels file first');
      const splits = await idxFromFiles(idxFiles, config.train, config.test);
      return { splits, classification: true, summary: `${idxFiles.map((f) => f.name).join(', ')}: ${splits.train.count} train, ${splits.test.count} test` };
    }
  }
}

/** Dropped IDX files, told apart by their headers: 3-d unsigned bytes are images, 1-d are labels. */
export async function idxFromFiles(files: IdxFiles, limitTrain: number, limitTest: number): Promise<DatasetSplits> {
  const parsed = await Promise.all(files.map(async (f) => ({ name: f.name, idx: await parseIdxAsync(f.bytes, f.name) })));
  const images = parsed.filter((p) => p.idx.dims.length === 3).sort((a, b) => b.idx.dims[0] - a.idx.dims[0]);
  const labels = parsed.filter((p) => p.idx.dims.length === 1).sort((a, b) => b.idx.dims[0] - a.idx.dims[0]);
  if (images.length === 0 || images.length !== labels.length || images.length > 2) {
    throw new Error(`expected an images file and a labels file (or train and test pairs); got ${parsed.map((p) => `${p.name} [${p.idx.dims.join('×')}]`).join(', ')}`);
  }
  const split = (i: number, name: string, limit: number) =>
    idxSplit(name, images[i].idx, labels[i].idx, { images: images[i].name, labels: labels[i].name }, limit, 'limit', true);
  if (images.length === 2) {
    return { train: split(0, 'idx/train', Math.min(limitTrain, images[0].idx.dims[0])), test: split(1, 'idx/test', Math.min(limitTest, images[1].idx.dims[0])), source: 'dropped files' };
  }
  // one pair: the first 80% train, the rest test (limits apply to each part)
  const all = split(0, 'idx', images[0].idx.dims[0]);
  const cut = Math.floor(all.count * 0.8);
  return { train: slice(all, 0, Math.min(cut, limitTrain), 'idx/train'), test: slice(all, cut, Math.min(all.count - cut, limitTest), 'idx/test'), source: 'dropped files' };
}

function slice(d: LabeledData, start: number, count: number, name: string): LabeledData {
  const fx = d.x.length / d.count;
  const fy = d.y.length / d.count;
  return {
    ...d,
    name,
    count,
    x: d.x.slice(start * fx, (start + count) * fx),
    y: d.y.slice(start * fy, (start + count) * fy),
    labels: d.labels?.slice(start, start + count),
  };
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The square image behind a flat sample (`[784]` → `[28, 28, 1]`), or null. */
export function imageShape(sampleShape: readonly number[]): [number, number, number] | null {
  if (sampleShape.length === 3) return [sampleShape[0], sampleShape[1], sampleShape[2]];
  const side = Math.round(Math.sqrt(prod(sampleShape)));
  return side * side === prod(sampleShape) && side > 4 ? [side, side, 1] : null;
}

/** Input shape and layers for the data; the kernel init is the rule's own tuned one. */
export function buildLayers(arch: ArchitectureConfig, data: LabeledData, entry: RuleEntry): { inputShape: number[]; layers: LayerSpec[] } {
  const kernelInit = entry.defaults.kernelInit;
  const outputs = prod(data.targetShape);
  switch (arch.kind) {
    case 'mlp':
      return {
        inputShape: [prod(data.sampleShape)],
        layers: [...arch.hidden.map((units) => dense({ units, activation: arch.activation, kernelInit })), dense({ units: outputs, kernelInit })],
      };
    case 'conv': {
      const image = imageShape(data.sampleShape);
      if (!image) throw new Error(`the small conv net reads images; samples here are [${data.sampleShape.join(', ')}]`);
      return {
        inputShape: image,
        layers: [
          conv2d({ filters: 8, kernelSize: 5, activation: 'relu', kernelInit }),
          maxPool2d(2),
          conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInit }),
          maxPool2d(2),
          flatten(),
          dense({ units: outputs, kernelInit }),
        ],
      };
    }
    case 'preset': {
      const p = preset(arch.name);
      if (!(BROWSER_PRESETS as readonly string[]).includes(arch.name)) throw new Error(`preset ${arch.name} is too large for a browser tab`);
      return p.build({ inputShape: data.sampleShape, classes: outputs, kernelInit });
    }
  }
}

/** One rule's run: its own network (same seed for every rule), trainer and test history. */
export interface Run {
  id: string;
  entry: RuleEntry;
  network: Network;
  trainer: Trainer;
}

export function createRun(id: string, config: PlaygroundConfig, data: PlaygroundData): Run {
  const entry = ruleEntry(id);
  const { inputShape, layers } = buildLayers(config.arch, data.splits.train, entry);
  const network = sequential({ inputShape, layers, seed: config.seed });
  const unsupported = network.layers.find((l) => !entry.supports.includes(l.kind));
  if (unsupported) {
    network.dispose();
    throw new Error(`${entry.name} does not train ${unsupported.kind} layers (it supports ${entry.supports.join(', ')})`);
  }
  if (entry.graphs === 'chain' && network.chainBreak()) {
    network.dispose();
    throw new Error(`${entry.name} trains chains of blocks only`);
  }
  const optimizerConfig = config.lr === null ? entry.defaults.optimizer : { ...entry.defaults.optimizer, lr: config.lr };
  const trainer = createTrainer({
    network,
    rule: entry.create(),
    loss: data.classification ? 'softmaxCrossEntropy' : 'mse',
    optimizer: resolveOptimizer(optimizerConfig as Parameters<typeof resolveOptimizer>[0]),
    seed: config.seed,
  });
  return { id, entry, network, trainer };
}

export function disposeRun(run: Run): void {
  run.trainer.dispose();
  run.network.dispose();
}

/** The batch order: one seeded permutation per epoch, the same for every rule and every backend. */
export class Batches {
  private order: number[] = [];
  private pos = 0;
  private readonly rng;

  constructor(
    private readonly data: LabeledData,
    private readonly batchSize: number,
    seed: number,
  ) {
    this.rng = createRng(seed, 7);
  }

  /** Sample indices of the next batch (a new epoch reshuffles; a short tail is dropped). */
  next(): number[] {
    const n = Math.min(this.batchSize, this.data.count);
    if (this.pos + n > this.order.length) {
      this.order = Array.from({ length: this.data.count }, (_, i) => i);
      for (let i = this.order.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
      }
      this.pos = 0;
    }
    const idx = this.order.slice(this.pos, this.pos + n);
    this.pos += n;
    return idx;
  }
}

/** Rows of a split as tensors shaped for the network. */
export function batchTensors(data: LabeledData, idx: readonly number[], network: Network): { x: tf.Tensor; y: tf.Tensor } {
  const fx = data.x.length / data.count;
  const fy = data.y.length / data.count;
  const x = new Float32Array(idx.length * fx);
  const y = new Float32Array(idx.length * fy);
  idx.forEach((s, k) => {
    x.set(data.x.subarray(s * fx, (s + 1) * fx), k * fx);
    y.set(data.y.subarray(s * fy, (s + 1) * fy), k * fy);
  });
  return { x: tf.tensor(x, [idx.length, ...network.inputShape]), y: tf.tensor(y, [idx.length, ...network.outputShape]) };
}

/** One training step of a run on a batch; reads the loss with `await data()` (every backend, WebGPU included). */
export async function trainStep(run: Run, data: LabeledData, idx: readonly number[]): Promise<number> {
  const { x, y } = batchTensors(data, idx, run.network);
  try {
    return await run.trainer.stepAsync(x, y);
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** Test loss and accuracy (null for regression), read asynchronously in batches (few shapes: WebGPU compiles per shape). */
export async function evaluate(run: Run, data: LabeledData, classification: boolean, batchSize = 500): Promise<{ loss: number; accuracy: number | null }> {
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    const { x, y } = batchTensors(data, idx, run.network);
    const [lossT, hitsT] = tf.tidy(() => {
      const out = run.network.predict(x);
      const loss = tf.mul(run.trainer.loss.value(out, y), idx.length);
      const hits = classification ? tf.sum(tf.cast(tf.equal(tf.argMax(tf.reshape(out, [idx.length, -1]), 1), tf.argMax(tf.reshape(y, [idx.length, -1]), 1)), 'float32')) : tf.scalar(0);
      return [loss, hits];
    });
    x.dispose();
    y.dispose();
    lossSum += (await lossT.data())[0];
    correct += (await hitsT.data())[0];
    lossT.dispose();
    hitsT.dispose();
  }
  return { loss: lossSum / data.count, accuracy: classification ? correct / data.count : null };
}

export type Diagnostics = Omit<AlignmentRecord, 'epoch' | 'step' | 'batch'>;

/**
 * Angles to BP and pseudobackprop, B–Wᵀ alignment and eᵀWBe on a fixed probe batch, without training; read with
 * `await data()`, so WebGPU (which cannot read synchronously in a worker) has them too.
 */
export async function diagnose(run: Run, probe: LabeledData, count = 128): Promise<Diagnostics> {
  const idx = Array.from({ length: Math.min(count, probe.count) }, (_, i) => i);
  const { x, y } = batchTensors(probe, idx, run.network);
  try {
    return await probeAlignmentAsync({ network: run.network, boundRule: run.trainer.boundRule, loss: run.trainer.loss, input: x, target: y, step: run.trainer.position.step });
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** A weight tensor for the page: each layer's kernel, and the feedback weights where the rule has them. */
export interface WeightImage {
  layer: number;
  name: string;
  /** `kernel` or `feedback`. */
  what: string;
  shape: number[];
  data: Float32Array;
}

const MAX_WEIGHT_VALUES = 200_000;

/** Copies of the weights (the page gets them by transfer; cpu's `data()` may hand out the tensor's own buffer). */
export async function weightImages(run: Run): Promise<WeightImage[]> {
  const out: WeightImage[] = [];
  for (const layer of run.network.layers) {
    const kernel = layer.params[layer.kernelName];
    if (kernel && kernel.size <= MAX_WEIGHT_VALUES) {
      out.push({ layer: layer.index, name: layer.name, what: 'kernel', shape: [...kernel.shape], data: ((await kernel.data()) as Float32Array).slice() });
    }
    // the rule may compute B for the call (sign symmetry): a copy outlives the tidy, the temporaries do not
    let feedback: tf.Tensor | null = null;
    tf.tidy(() => {
      const b = run.trainer.boundRule.feedbackWeights(layer.index);
      if (b && b.size <= MAX_WEIGHT_VALUES) feedback = tf.keep(tf.clone(b));
    });
    if (feedback !== null) {
      const fb: tf.Tensor = feedback;
      out.push({ layer: layer.index, name: layer.name, what: 'feedback', shape: [...fb.shape], data: ((await fb.data()) as Float32Array).slice() });
      fb.dispose();
    }
  }
  return out;
}

/** Preset names and descriptions for the page's menu. */
export function browserPresets(): { name: string; description: string }[] {
  return BROWSER_PRESETS.map((name) => ({ name, description: presets[name].description }));
}
