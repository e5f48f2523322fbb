/**
 * Memory estimates made from shapes alone, before anything is allocated: a network's weights, its optimizer's slots,
 * the rule's state and one batch's activations; a data set's arrays. Callers compare them with a limit
 * (`checkMemoryLimit`) and refuse a run that cannot fit, with the estimate and the limit in the message.
 */
import { BiopropError, OptionError, checkNumber } from './errors.js';
import type { ModuleConfig, Network, NetworkConfig } from './types.js';

const FLOAT_BYTES = 4;

/** The largest number of elements one tensor's typed array can hold here (Node's and V8's limit, 2³²). */
export const MAX_TENSOR_ELEMENTS = 2 ** 32;

/** A run needs more memory than allowed, or a tensor larger than a typed array can be. */
export class MemoryLimitError extends BiopropError {
  override readonly name = 'MemoryLimitError';
  constructor(
    message: string,
    readonly estimateBytes: number,
    readonly limitBytes: number,
  ) {
    super(message);
  }
}

/** What a network's shapes say, without building it. */
export interface NetworkShapeSummary {
  /** Trainable parameters (weights and biases, batch norm's γ and β). */
  parameters: number;
  /** Non-trainable state (batch norm's running statistics). */
  buffers: number;
  /** Values each sample produces across all modules' outputs. */
  activationsPerSample: number;
  /** Values per sample of the input. */
  inputSize: number;
  /** Values per sample of the output. */
  outputSize: number;
  /** Elements of the largest single parameter tensor. */
  largestParameter: number;
  /** Elements per sample of the largest single module output. */
  largestActivation: number;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function pair(v: unknown, where: string, fallback?: [number, number]): [number, number] {
  if (v === undefined && fallback) return fallback;
  if (typeof v === 'number') return [checkNumber(where, v, { min: 1, integer: true }), v];
  if (Array.isArray(v) && v.length === 2) return [checkNumber(`${where}[0]`, v[0], { min: 1, integer: true }), checkNumber(`${where}[1]`, v[1], { min: 1, integer: true })];
  throw new OptionError(`${where} must be a positive integer or a pair, got ${JSON.stringify(v)}`);
}

/** TensorFlow's window arithmetic ('valid' or 'same'). */
function windowOut(n: number, k: number, s: number, padding: unknown, where: string): number {
  if (padding === undefined || padding === 'valid') {
    if (k > n) throw new OptionError(`${where}: window ${k} is larger than the input (${n}) with 'valid' padding`);
    return Math.floor((n - k) / s) + 1;
  }
  if (padding === 'same') return Math.ceil(n / s);
  throw new OptionError(`${where}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
}

function image(shape: readonly number[], where: string): [number, number, number] {
  if (shape.length !== 3) throw new OptionError(`${where}: needs an image input [h, w, c], got [${shape.join(', ')}]`);
  return shape as [number, number, number];
}

interface Walk {
  parameters: number;
  buffers: number;
  activations: number;
  largestParameter: number;
  largestActivation: number;
}

function param(w: Walk, elements: number): void {
  w.parameters += elements;
  w.largestParameter = Math.max(w.largestParameter, elements);
}

/** One module's output shape from its input shape, adding its parameters and outputs to `w`. */
function walkModule(c: ModuleConfig, input: readonly number[], w: Walk, where: string): number[] {
  const bias = c.useBias !== false;
  let out: number[];
  switch (c.kind) {
    case 'dense': {
      const units = checkNumber(`${where}.units`, c.units, { min: 1, integer: true });
      param(w, size(input) * units);
      if (bias) param(w, units);
      out = [units];
      break;
    }
    case 'conv2d':
    case 'locallyConnected2d': {
      const [h, wd, ch] = image(input, where);
      const filters = checkNumber(`${where}.filters`, c.filters, { min: 1, integer: true });
      const [kh, kw] = pair(c.kernelSize, `${where}.kernelSize`);
      const [sh, sw] = pair(c.strides, `${where}.strides`, [1, 1]);
      const oh = windowOut(h, kh, sh, c.padding, where);
      const ow = windowOut(wd, kw, sw, c.padding, where);
      const positions = c.kind === 'conv2d' ? 1 : oh * ow;
      param(w, positions * kh * kw * ch * filters);
      if (bias) param(w, positions * filters);
      out = [oh, ow, filters];
      break;
    }
    case 'maxPool2d':
    case 'avgPool2d': {
      const [h, wd, ch] = image(input, where);
      const [ph, pw] = pair(c.poolSize, `${where}.poolSize`);
      const [sh, sw] = pair(c.strides, `${where}.strides`, [ph, pw]);
      out = [windowOut(h, ph, sh, c.padding, where), windowOut(wd, pw, sw, c.padding, where), ch];
      break;
    }
    case 'globalAvgPool2d':
      out = [image(input, where)[2]];
      break;
    case 'flatten':
      out = [size(input)];
      break;
    case 'zeroPad2d': {
      const [h, wd, ch] = image(input, where);
      const p = c.padding;
      const [[t, b], [l, r]] =
        typeof p === 'number' ? [[p, p], [p, p]] : Array.isArray(p) && typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : (p as unknown as [[number, number], [number, number]]);
      out = [h + Number(t) + Number(b), wd + Number(l) + Number(r), ch];
      break;
    }
    case 'batchNorm': {
      const channels = input[input.length - 1];
      param(w, 2 * channels);
      w.buffers += 2 * channels;
      out = [...input];
      break;
    }
    case 'activation':
    case 'dropout':
      out = [...input];
      break;
    case 'residual': {
      const body = walkList(c.body, input, w, `${where}.body`);
      const shortcut = c.shortcut === undefined ? [...input] : walkList(c.shortcut, input, w, `${where}.shortcut`);
      if (size(body) !== size(shortcut)) throw new OptionError(`${where}: body gives [${body}], shortcut [${shortcut}]`);
      out = body;
      break;
    }
    default:
      throw new OptionError(`${where}: no memory estimate for layer kind ${JSON.stringify(c.kind)}`);
  }
  const n = size(out);
  w.activations += n;
  w.largestActivation = Math.max(w.largestActivation, n);
  return out;
}

function walkList(list: unknown, input: readonly number[], w: Walk, where: string): number[] {
  if (!Array.isArray(list)) throw new OptionError(`${where} must be an array of layer configs`);
  let shape = [...input];
  list.forEach((c, i) => {
    if (!c || typeof c !== 'object' || typeof (c as ModuleConfig).kind !== 'string') throw new OptionError(`${where}[${i}] must be an object with a "kind"`);
    shape = walkModule(c as ModuleConfig, shape, w, `${where}[${i}]`);
  });
  return shape;
}

/**
 * Parameter and activation counts from a network's config (what checkpoints store and layer lists hold), computed
 * from shapes only: nothing is built, so a config of billions of weights costs nothing to inspect.
 */
export function summarizeNetworkConfig(config: NetworkConfig): NetworkShapeSummary {
  if (!config || !Array.isArray(config.inputShape) || !Array.isArray(config.layers)) {
    throw new OptionError('network config must be { inputShape: number[], layers: [...] }');
  }
  config.inputShape.forEach((d, i) => checkNumber(`inputShape[${i}]`, d, { min: 1, integer: true }));
  const w: Walk = { parameters: 0, buffers: 0, activations: 0, largestParameter: 0, largestActivation: 0 };
  const out = walkList(config.layers, config.inputShape, w, 'layers');
  return {
    parameters: w.parameters,
    buffers: w.buffers,
    activationsPerSample: w.activations,
    inputSize: size(config.inputShape),
    outputSize: size(out),
    largestParameter: w.largestParameter,
    largestActivation: w.largestActivation,
  };
}

/** A dense chain `[784, 3000000, 10]` as a config (the CLI's `--arch 784-3000000-10`). */
function denseChain(widths: readonly number[]): NetworkConfig {
  if (!Array.isArray(widths) || widths.length < 2) throw new OptionError('layers must list at least an input and an output width');
  widths.forEach((d, i) => checkNumber(`layers[${i}]`, d, { min: 1, integer: true }));
  return { inputShape: [widths[0]], layers: widths.slice(1).map((units) => ({ kind: 'dense', units })) };
}

/** Slots per parameter each of core's optimizers keeps. */
const SLOTS: Record<string, number> = { sgd: 0, momentum: 1, adam: 2, rmsprop: 1 };

/** What {@link estimateTrainingMemory} is given: the network (one of four forms) and the batch. */
export interface TrainingMemoryInput {
  /** The network: a config (`network.config()`, a checkpoint's `manifest.network`), or a built network. */
  network?: NetworkConfig | Network;
  /** Or a dense chain's widths, input first: `[784, 256, 10]`. */
  layers?: readonly number[];
  /** Or just a parameter count (activations then come from `activationsPerSample`, default 0). */
  parameters?: number;
  /** Samples per training step. */
  batchSize: number;
  /** The forward optimizer's name (`sgd`, `momentum`, `adam`, `rmsprop`; default `momentum`, one slot). */
  optimizer?: string;
  /** The rule's state relative to the weights (feedback or inverse weights and their slots; default 1, backprop 0). */
  ruleStateFactor?: number;
  /** Values per sample across the modules' outputs, when the network is given as a parameter count. */
  activationsPerSample?: number;
}

/** Bytes a training run needs, by part. */
export interface TrainingMemoryEstimate {
  parameters: number;
  /** Parameters and running statistics, float32. */
  weightsBytes: number;
  /** The forward optimizer's slots. */
  optimizerBytes: number;
  /** The rule's state (≈ weights × `ruleStateFactor`). */
  ruleStateBytes: number;
  /** One step's gradients, the optimizer's intermediates and the update (a few copies of the weights). */
  gradientBytes: number;
  /** One batch: the input and target, and each module's output, saved values, teaching signal and intermediates. */
  activationBytes: number;
  totalBytes: number;
  /** Elements of the largest single tensor (a parameter, or one batch of the largest output). */
  largestTensorElements: number;
}

/**
 * Values per module output alive at a step's peak: the output, its pre-activation and what the VJP saves, the
 * signal sent back and the intermediates of the forward and teaching passes (a step runs in one tidy, so all of
 * them live until it ends). Calibrated on the cpu backend (see the tests).
 */
const ACTIVATION_COPIES = 8;
/** Copies of the weights one step's update makes (gradients, the optimizer's elementwise intermediates, the step). */
const UPDATE_COPIES = 4;

/**
 * Estimate the memory of training a network from its shapes, before building it: weights, optimizer slots, rule
 * state (≈ weights), one step's gradients and update, and one batch's activations, in bytes (float32). Within a
 * factor of 2 of the peak TensorFlow.js holds during a step on small dense and conv nets (cpu backend; see the
 * tests); use it to refuse `--arch 784-3000000-10` or `--batch-size 1e8` before allocating (`checkMemoryLimit`).
 */
export function estimateTrainingMemory(input: TrainingMemoryInput): TrainingMemoryEstimate {
  const batch = checkNumber('estimateTrainingMemory batchSize', input?.batchSize, { min: 1, integer: true });
  const ruleFactor = checkNumber('estimateTrainingMemory ruleStateFactor', input.ruleStateFactor ?? 1, { min: 0 });
  const opt = input.optimizer ?? 'momentum';
  const slots = Object.hasOwn(SLOTS, opt) ? SLOTS[opt] : 2;
  let summary: NetworkShapeSummary;
  if (input.network) {
    const config = 'config' in input.network && typeof input.network.config === 'function' ? input.network.config() : (input.network as NetworkConfig);
    summary = summarizeNetworkConfig(config);
  } else if (input.layers) {
    summary = summarizeNetworkConfig(denseChain(input.layers));
  } else {
    const parameters = checkNumber('estimateTrainingMemory parameters', input.parameters, { min: 0, integer: true });
    const perSample = checkNumber('estimateTrainingMemory activationsPerSample', input.activationsPerSample ?? 0, { min: 0 });
    summary = { parameters, buffers: 0, activationsPerSample: perSample, inputSize: 0, outputSize: 0, largestParameter: parameters, largestActivation: perSample };
  }
  const weightsBytes = (summary.parameters + summary.buffers) * FLOAT_BYTES;
  const paramBytes = summary.parameters * FLOAT_BYTES;
  const optimizerBytes = paramBytes * slots;
  const ruleStateBytes = paramBytes * ruleFactor;
  const gradientBytes = paramBytes * UPDATE_COPIES;
  const activationBytes = batch * (summary.inputSize + summary.outputSize + ACTIVATION_COPIES * summary.activationsPerSample) * FLOAT_BYTES;
  return {
    parameters: summary.parameters,
    weightsBytes,
    optimizerBytes,
    ruleStateBytes,
    gradientBytes,
    activationBytes,
    totalBytes: weightsBytes + optimizerBytes + ruleStateBytes + gradientBytes + activationBytes,
    largestTensorElements: Math.max(summary.largestParameter, batch * summary.largestActivation, batch * summary.inputSize),
  };
}

/** What {@link estimateDatasetMemory} is given: the samples to load and their sizes. */
export interface DatasetMemoryInput {
  /** Training plus test samples that will be held. */
  samples: number;
  /** Values per sample (784 for MNIST, 3072 for CIFAR-10). */
  inputSize: number;
  /** Values per target (10 one-hot classes). */
  outputSize: number;
  /** Bytes per sample read from disk alongside (raw IDX pixels: `inputSize`; default 0). */
  rawBytesPerSample?: number;
}

/** Bytes a data set takes once loaded: float32 inputs and targets, a label byte, and what is read alongside. */
export function estimateDatasetMemory(input: DatasetMemoryInput): { bytes: number; largestArrayElements: number } {
  const samples = checkNumber('estimateDatasetMemory samples', input?.samples, { min: 0, integer: true });
  const inputSize = checkNumber('estimateDatasetMemory inputSize', input.inputSize, { min: 0, integer: true });
  const outputSize = checkNumber('estimateDatasetMemory outputSize', input.outputSize, { min: 0, integer: true });
  const raw = checkNumber('estimateDatasetMemory rawBytesPerSample', input.rawBytesPerSample ?? 0, { min: 0 });
  return { bytes: samples * ((inputSize + outputSize) * FLOAT_BYTES + 1 + raw), largestArrayElements: samples * Math.max(inputSize, outputSize) };
}

const GB = (n: number) => (n >= 1e9 ? `${(n / 1e9).toPrecision(3)} GB` : `${(n / 1e6).toPrecision(3)} MB`);

/**
 * Refuse what will not fit: a `MemoryLimitError` when `bytes` is over `limitBytes`, or when one array would exceed
 * what a typed array holds. `what` names the run in the message (`'training 784-3000000-10 with batch 64'`).
 */
export function checkMemoryLimit(what: string, estimate: { bytes: number; largestElements?: number }, limitBytes: number): void {
  if (typeof limitBytes !== 'number' || !(limitBytes >= 0)) throw new OptionError(`checkMemoryLimit: limitBytes must be a number ≥ 0, got ${JSON.stringify(limitBytes)}`);
  if ((estimate.largestElements ?? 0) > MAX_TENSOR_ELEMENTS) {
    throw new MemoryLimitError(
      `${what}: one array would hold ${estimate.largestElements} values, more than the ${MAX_TENSOR_ELEMENTS} a typed array can (needs about ${GB(estimate.bytes)} in all)`,
      estimate.bytes,
      limitBytes,
    );
  }
  if (estimate.bytes > limitBytes) {
    throw new MemoryLimitError(`${what}: needs about ${GB(estimate.bytes)}, over the memory limit of ${GB(limitBytes)}`, estimate.bytes, limitBytes);
  }
}
