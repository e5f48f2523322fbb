import * as tf from '@tensorflow/tfjs-core';
import { DivergenceError, OptionError, ShapeError, checkNumber } from './errors.js';
import { resolveLoss } from './losses.js';
import { sgd } from './optimizers.js';
import { permutation, randomSource } from './random.js';
import { stepContext } from './rule.js';
import type {
  BoundRule,
  ForwardTrace,
  Loss,
  Network,
  Optimizer,
  OptimizerSpec,
  RandomSource,
  Rule,
  Tensor,
  RandomStream,
  TensorMap,
  TrainerHooks,
  VariableMap,
} from './types.js';

/** The stream the forward pass samples from (dropout masks, Bernoulli units) during training. */
export const FORWARD_STREAM = 'forward';

/** Training data as plain arrays (what `@bioprop/datasets` returns). */
export interface TrainData {
  /** `count × prod(sampleShape)`, row-major. */
  x: Float32Array;
  /** `count × prod(targetShape)`. */
  y: Float32Array;
  count: number;
  sampleShape: readonly number[];
  targetShape: readonly number[];
}

export interface TrainerOptions {
  network: Network;
  rule: Rule;
  loss?: Loss | string;
  /** The forward weights' optimizer (default SGD, lr 0.01). */
  optimizer?: OptimizerSpec;
  /** Seed of the run's random streams (shuffling, stochastic units, rule state). Default 0. */
  seed?: number;
  /** Or a random source shared with the network's initializers. */
  random?: RandomSource;
  hooks?: TrainerHooks | TrainerHooks[];
  /** Stop with a `DivergenceError` when the loss becomes non-finite (default true). */
  checkFinite?: boolean;
  /**
   * Divergence without NaN: stop with a `DivergenceError` when the running loss (the mean so far over the first 10
   * steps, then a moving average over about 10) exceeds `factor` times the loss at the initial weights (the first step's, or an
   * all-zero output's on the first batch if that is larger: a lucky first batch does not set the bar), or when the
   * loss at the initial weights is already over `initialFactor` times an all-zero output's (weights out of scale).
   * Default `{ factor: 100, initialFactor: 10000 }`; `false` turns both off.
   */
  divergence?: { factor: number; initialFactor?: number } | false;
}

export interface FitOptions {
  epochs: number;
  batchSize?: number;
  /** Shuffle each epoch with the run's `shuffle` stream (default true). */
  shuffle?: boolean;
  /** Stops after the current step; `fit` then resolves with `stopped: true` (the position is kept for a checkpoint). */
  signal?: AbortSignal;
  /** Called after every step with the epoch, batch and number of batches. */
  onProgress?(p: { epoch: number; batch: number; batches: number; loss: number }): void;
  /** Stop once this many steps have run in all (counting from the start of training): smoke runs. */
  maxSteps?: number;
  /**
   * Read losses with `await data()` instead of `dataSync()`: for backends that cannot read synchronously (WebGPU in
   * Node). Default: only where the active backend needs it.
   */
  async?: boolean;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  seconds: number;
  steps: number;
}

export interface FitResult {
  epochs: EpochRecord[];
  /** Whether `fit` returned before the last epoch's end: its signal fired (`'signal'`) or `maxSteps` was reached. */
  stopped: boolean;
  stoppedBy?: 'signal' | 'maxSteps';
  /** Seconds spent in training steps only (no evaluation, no hooks' epoch work). */
  trainSeconds: number;
  samples: number;
}

/** Where a run stands; saved in checkpoints so `fit` resumes mid-epoch bit-for-bit. */
export interface TrainerPosition {
  epoch: number;
  batch: number;
  step: number;
  /** Shuffle stream state at the start of the current epoch (to redraw its permutation). */
  epochShuffleState: number[] | null;
  /** Running sum of the current epoch's losses and its step count. */
  epochLossSum: number;
  epochSteps: number;
  /**
   * The divergence watch: the first 10 steps' losses summed, the moving average after them (null before), the loss at
   * the initial weights (`first`) and an all-zero output's loss on the first batch (`reference`). Checkpoints written
   * before `first` existed measure against the first steps' mean.
   */
  lossWatch?: { firstSum: number; firstCount: number; running: number | null; first?: number; reference?: number };
}

/** Backends whose tensors cannot be read synchronously in every environment (Node has no OffscreenCanvas). */
const ASYNC_BACKENDS = new Set(['webgpu']);

/** The first steps whose mean loss is the baseline of the divergence watch, and the weight of a new loss in the running one. */
const WATCH_STEPS = 10;
const WATCH_WEIGHT = 0.1;

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Everything a training run needs, bound together: `createTrainer({ network, loss, rule, optimizer })`. */
export class Trainer {
  readonly network: Network;
  readonly rule: Rule;
  readonly loss: Loss;
  readonly random: RandomSource;
  readonly boundRule: BoundRule;
  readonly optimizer: Optimizer;
  readonly optimizerSpec: OptimizerSpec;
  private readonly hooks: TrainerHooks[];
  /** The network's trainable parameters by `module/param` (fixed for the network's life). */
  private readonly params: VariableMap;
  private readonly checkFinite: boolean;
  private readonly divergenceFactor: number | null;
  private readonly initialFactor: number | null;
  position: TrainerPosition = { epoch: 0, batch: 0, step: 0, epochShuffleState: null, epochLossSum: 0, epochSteps: 0 };

  constructor(options: TrainerOptions) {
    if (!options?.network) throw new OptionError('createTrainer: `network` is required');
    if (!options.rule || typeof options.rule.bind !== 'function') {
      throw new OptionError('createTrainer: `rule` must be a rule value, e.g. backprop()');
    }
    this.network = options.network;
    this.rule = options.rule;
    this.loss = resolveLoss(options.loss ?? 'mse');
    this.random = options.random ?? randomSource(options.seed ?? 0);
    this.optimizerSpec = options.optimizer ?? sgd({ lr: 0.01 });
    this.optimizer = this.optimizerSpec.create();
    this.boundRule = this.rule.bind(this.network, this.random);
    this.params = this.network.namedParams();
    this.hooks = options.hooks === undefined ? [] : Array.isArray(options.hooks) ? options.hooks : [options.hooks];
    this.checkFinite = options.checkFinite ?? true;
    const d = options.divergence ?? { factor: 100 };
    this.divergenceFactor = d === false ? null : checkNumber('createTrainer divergence.factor', d.factor, { min: 1 });
    this.initialFactor = d === false ? null : checkNumber('createTrainer divergence.initialFactor', d.initialFactor ?? 10_000, { min: 1 });
  }

  /** Add a hook after construction (diagnostics attach this way). */
  addHook(hook: TrainerHooks): void {
    this.hooks.push(hook);
  }

  /** One training step on a batch; returns the batch loss (before the update). */
  step(input: Tensor, target: Tensor, epoch = this.position.epoch, batch = this.position.batch): number {
    const targetFits = this.checkTarget(input, target);
    const step = this.position.step;
    let lossValue = NaN;
    const forwardStream = this.random.stream(FORWARD_STREAM);
    const streamBefore = forwardStream.getState();
    let reference: number | null = null;
    tf.tidy(() => {
      const { trace, y, lossT, referenceT } = this.forwardPhase(input, target, targetFits, forwardStream);
      lossValue = lossT.dataSync()[0];
      if (referenceT) reference = referenceT.dataSync()[0];
      this.checkLoss(lossValue, trace, step, epoch, batch, forwardStream, streamBefore);
      this.updatePhase(input, trace, y, lossValue, step, epoch, batch);
    });
    this.watchLoss(lossValue, reference, step, epoch, batch);
    return lossValue;
  }

  /**
   * The same step for backends that cannot read tensors synchronously: the loss is read with `await data()` between
   * the forward pass and the update (the trace is kept alive across the wait). Bit-for-bit the same as `step`.
   */
  async stepAsync(input: Tensor, target: Tensor, epoch = this.position.epoch, batch = this.position.batch): Promise<number> {
    const targetFits = this.checkTarget(input, target);
    const step = this.position.step;
    const forwardStream = this.random.stream(FORWARD_STREAM);
    const streamBefore = forwardStream.getState();
    // tidy keeps every tensor of the returned trace (it walks nested objects), frees the forward pass's temporaries
    type Forward = ReturnType<Trainer['forwardPhase']>;
    const kept = tf.tidy(() => this.forwardPhase(input, target, targetFits, forwardStream) as unknown as tf.TensorContainer) as unknown as Forward;
    // the caller's tensors stay the caller's: only what the forward pass made is freed afterwards
    const made = (t: Tensor) => t !== input && t !== target;
    try {
      const lossValue = (await kept.lossT.data())[0];
      const reference = kept.referenceT ? (await kept.referenceT.data())[0] : null;
      tf.tidy(() => {
        this.checkLoss(lossValue, kept.trace, step, epoch, batch, forwardStream, streamBefore);
        this.updatePhase(input, kept.trace, kept.y, lossValue, step, epoch, batch);
      });
      this.watchLoss(lossValue, reference, step, epoch, batch);
      return lossValue;
    } finally {
      tf.dispose(collectTensors(kept).filter(made));
    }
  }

  /** Whether the target is `[N, ...output]` as given (else it must have the size to be reshaped); a ShapeError otherwise. */
  private checkTarget(input: Tensor, target: Tensor): boolean {
    const outShape = this.network.outputShape;
    const targetFits = target.rank === outShape.length + 1 && target.shape[0] === input.shape[0] && outShape.every((d, i) => target.shape[i + 1] === d);
    if (!targetFits && target.size !== input.shape[0] * outShape.reduce((a, b) => a * b, 1)) {
      throw new ShapeError(`target shape [${target.shape}] does not match the network output [N, ${this.network.outputShape}]`);
    }
    return targetFits;
  }

  private forwardPhase(input: Tensor, target: Tensor, targetFits: boolean, forwardStream: RandomStream) {
    const trace = this.network.forward(input, { training: true, random: forwardStream });
    const y = targetFits ? target : tf.reshape(target, trace.output.shape);
    // the divergence watch's yardstick, once per run: the loss an all-zero output would have on the first batch
    const referenceT = this.divergenceFactor !== null && !this.position.lossWatch?.firstCount ? this.loss.value(tf.zerosLike(trace.output), y) : null;
    return { trace, y, lossT: this.loss.value(trace.output, y), referenceT };
  }

  /** A non-finite loss refuses the step: nothing changes, not even the masks the forward pass drew. */
  private checkLoss(loss: number, trace: ForwardTrace, step: number, epoch: number, batch: number, stream: RandomStream, before: number[]): void {
    if (!this.checkFinite || Number.isFinite(loss)) return;
    stream.setState(before);
    throw this.divergence(trace, loss, step, epoch, batch);
  }

  /** The rule's step, the optimizer's update, the rule's after-update, running statistics, hooks. */
  private updatePhase(input: Tensor, trace: ForwardTrace, y: Tensor, lossValue: number, step: number, epoch: number, batch: number): void {
    const ctx = stepContext({ network: this.network, trace, target: y, loss: this.loss, step, epoch, random: this.random });
    const result = this.boundRule.step(ctx);
    // zero-copy snapshots (reshape shares the buffer) of the weights the rule saw, for hooks: `apply` replaces them
    const paramsBefore: TensorMap[] | undefined =
      this.hooks.length > 0
        ? this.network.layers.map((layer) => Object.fromEntries(Object.entries(layer.params).map(([k, v]) => [k, tf.reshape(v, v.shape)])))
        : undefined;
    const named: TensorMap = {};
    const keys = this.layerParamKeys();
    result.grads.forEach((g, l) => {
      if (g) for (const k in g) named[keys[l][k] ?? `${this.network.layers[l].name}/${k}`] = g[k];
    });
    for (const [module, g] of Object.entries(result.moduleGrads ?? {})) for (const [k, t] of Object.entries(g)) named[`${module}/${k}`] = t;
    const appliedFlat = this.optimizer.apply(this.params, named);
    if (this.boundRule.afterUpdate) {
      const applied: TensorMap[] = this.network.layers.map((layer, l) => {
        const out: TensorMap = {};
        for (const k of Object.keys(layer.params)) {
          const t = appliedFlat[keys[l][k]];
          if (t) out[k] = t;
        }
        return out;
      });
      this.boundRule.afterUpdate({ ...ctx, result, applied, decoupledDecay: this.optimizer.decoupledDecay });
    }
    this.network.commit(trace);
    this.position.step = step + 1;
    for (const h of this.hooks) {
      h.onStep?.({
        epoch,
        batch,
        step: step + 1,
        loss: lossValue,
        input,
        target: y,
        trace,
        result,
        network: this.network,
        boundRule: this.boundRule,
        lossFn: this.loss,
        paramsBefore,
      });
    }
  }

  /**
   * Divergence without NaN. The yardstick is the loss at the initial weights (the first step's, before any update),
   * raised to an all-zero output's loss on the first batch when that is larger. The first steps' mean would not do: a
   * rate that blows the weights up does it within them, and the mean then holds the explosion. A first loss over
   * `initialFactor` × the all-zero output's stops at once (weights or inputs out of scale); from the second step, the
   * running loss (the mean so far over the first 10 steps, then a moving average over about 10) above `factor` × the
   * yardstick stops the run. The step that crossed it has been applied; a checkpoint of the previous epoch is the
   * last good state.
   */
  private watchLoss(loss: number, reference: number | null, step: number, epoch: number, batch: number): void {
    if (this.divergenceFactor === null) return;
    const w = (this.position.lossWatch ??= { firstSum: 0, firstCount: 0, running: null });
    const at = `at step ${step + 1} (epoch ${epoch + 1}, batch ${batch + 1})`;
    if (w.firstCount === 0) {
      w.first = loss;
      if (reference !== null) w.reference = reference;
      if (reference !== null && reference > 0 && loss > this.initialFactor! * reference) {
        throw new DivergenceError(
          `training diverged: the loss at the initial weights, ${loss.toPrecision(4)} ${at}, is over ${this.initialFactor}× the loss of an all-zero output ` +
            `(${reference.toPrecision(4)}): the initial weights or the inputs are out of scale. Use a smaller init or normalized inputs, or allow it (divergence: false; --allow-divergence on the command line).`,
          step + 1,
          epoch,
          null,
        );
      }
    }
    const measured = w.first !== undefined;
    let running: number;
    if (w.firstCount < WATCH_STEPS) {
      w.firstSum += loss;
      w.firstCount++;
      if (w.firstCount === WATCH_STEPS) w.running = w.firstSum / WATCH_STEPS;
      // with a yardstick from the initial weights, the mean so far is watched from the second step (a short run too)
      if (!measured) return;
      running = w.firstSum / w.firstCount;
    } else {
      running = w.running = (1 - WATCH_WEIGHT) * (w.running ?? loss) + WATCH_WEIGHT * loss;
    }
    const baseline = measured ? Math.max(w.first!, w.reference ?? 0) : w.firstSum / w.firstCount;
    if (baseline > 0 && running > this.divergenceFactor * baseline) {
      throw new DivergenceError(
        `training diverged: the running loss ${running.toPrecision(4)} ${at} is over ` +
          `${this.divergenceFactor}× ${!measured ? `the mean of the first ${WATCH_STEPS} steps` : w.first! >= (w.reference ?? 0) ? 'the loss at the initial weights' : "an all-zero output's loss on the first batch"} (${baseline.toPrecision(4)}); the last loss was ${loss.toPrecision(4)}. ` +
          'Lower the learning rate, or allow it (divergence: false; --allow-divergence on the command line).',
        step + 1,
        epoch,
        null,
      );
    }
  }

  private paramKeys: Record<string, string>[] | null = null;

  /** Each layer's kernel parameters' keys in `params` (`<module>/<param>`), built once. */
  private layerParamKeys(): Record<string, string>[] {
    this.paramKeys ??= this.network.layers.map((layer) => Object.fromEntries(Object.keys(layer.params).map((k) => [k, `${layer.name}/${k}`])));
    return this.paramKeys;
  }

  private divergence(trace: ForwardTrace, loss: number, step: number, epoch: number, batch: number): DivergenceError {
    let layer: number | null = null;
    for (let l = 0; l < trace.layers.length && layer === null; l++) {
      const bad = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(trace.layers[l].output))).dataSync()[0]);
      const badW = Object.values(this.network.layers[l].params).some((p) =>
        tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(p))).dataSync()[0]),
      );
      if (bad || badW) layer = l;
    }
    const where =
      layer === null
        ? 'every layer output is finite, so the loss itself overflowed'
        : `first non-finite values in layer ${layer} (${this.network.layers[layer].name})`;
    return new DivergenceError(
      `training diverged: loss is ${loss} at step ${step + 1} (epoch ${epoch + 1}, batch ${batch + 1}); ${where}. Lower the learning rate or check the inputs.`,
      step + 1,
      epoch,
      layer,
    );
  }

  /** Train for `epochs` epochs (counting from the current position, so a resumed run continues where it stopped). */
  async fit(data: TrainData, options: FitOptions): Promise<FitResult> {
    checkNumber('fit epochs', options.epochs, { min: 0, integer: true });
    const batchSize = checkNumber('fit batchSize', options.batchSize ?? 32, { min: 1, integer: true });
    const inSize = this.network.inputShape.reduce((a, b) => a * b, 1);
    const outSize = this.network.outputShape.reduce((a, b) => a * b, 1);
    if (data.x.length !== data.count * inSize) {
      throw new ShapeError(`training data: x has ${data.x.length} values, expected ${data.count} × ${inSize} for input [${this.network.inputShape}]`);
    }
    if (data.y.length !== data.count * outSize) {
      throw new ShapeError(`training data: y has ${data.y.length} values, expected ${data.count} × ${outSize} for output [${this.network.outputShape}]`);
    }
    const shuffle = options.shuffle ?? true;
    const maxSteps = options.maxSteps === undefined ? Infinity : checkNumber('fit maxSteps', options.maxSteps, { min: 0, integer: true });
    const useAsync = options.async ?? ASYNC_BACKENDS.has(tf.getBackend());
    const stream = this.random.stream('shuffle');
    const batches = Math.ceil(data.count / batchSize);
    const gather = new BatchGatherer(data, inSize, outSize);
    const records: EpochRecord[] = [];
    let trainSeconds = 0;
    let samples = 0;
    const pos = this.position;
    while (pos.epoch < options.epochs) {
      if (pos.epochShuffleState === null) {
        pos.epochShuffleState = stream.getState();
        pos.epochLossSum = 0;
        pos.epochSteps = 0;
      } else {
        stream.setState(pos.epochShuffleState);
      }
      const order = shuffle ? permutation(data.count, stream) : Int32Array.from({ length: data.count }, (_, i) => i);
      let epochSeconds = 0;
      while (pos.batch < batches) {
        if (options.signal?.aborted) return { epochs: records, stopped: true, stoppedBy: 'signal', trainSeconds, samples };
        if (pos.step >= maxSteps) return { epochs: records, stopped: true, stoppedBy: 'maxSteps', trainSeconds, samples };
        const start = pos.batch * batchSize;
        const idx = order.subarray(start, Math.min(start + batchSize, data.count));
        const t0 = now();
        const { x, y } = gather.batch(idx);
        const tensorsBefore = tf.engine().state.numTensors;
        const xt = tf.tensor(x, [idx.length, ...this.network.inputShape]);
        const yt = tf.tensor(y, [idx.length, ...this.network.outputShape]);
        let loss: number;
        try {
          loss = useAsync ? await this.stepAsync(xt, yt, pos.epoch, pos.batch) : this.step(xt, yt, pos.epoch, pos.batch);
        } finally {
          xt.dispose();
          yt.dispose();
          gather.release([xt, yt], tf.engine().state.numTensors === tensorsBefore);
        }
        const dt = (now() - t0) / 1000;
        epochSeconds += dt;
        trainSeconds += dt;
        samples += idx.length;
        pos.epochLossSum += loss;
        pos.epochSteps++;
        pos.batch++;
        options.onProgress?.({ epoch: pos.epoch, batch: pos.batch, batches, loss });
        // let Ctrl-C handlers and timers run between steps
        if (pos.batch % 8 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      const record: EpochRecord = {
        epoch: pos.epoch + 1,
        trainLoss: pos.epochLossSum / Math.max(1, pos.epochSteps),
        seconds: epochSeconds,
        steps: pos.epochSteps,
      };
      records.push(record);
      pos.epoch++;
      pos.batch = 0;
      pos.epochShuffleState = null;
      for (const h of this.hooks) {
        await h.onEpochEnd?.({
          epoch: record.epoch,
          steps: record.steps,
          trainLoss: record.trainLoss,
          seconds: record.seconds,
          network: this.network,
          boundRule: this.boundRule,
        });
      }
    }
    return { epochs: records, stopped: false, trainSeconds, samples };
  }

  /** Mean loss and (for one-hot targets) accuracy on a data set, in batches, in inference mode. */
  evaluate(data: TrainData, batchSize = 500): { loss: number; accuracy: number } {
    let lossSum = 0;
    let correct = 0;
    for (const { start, n } of this.evalBatches(data, batchSize)) {
      const [l, c] = tf.tidy(() => {
        const { loss, hits } = this.evalBatch(data, start, n);
        return [loss.dataSync()[0] * n, hits ? hits.dataSync()[0] : 0];
      });
      lossSum += l;
      correct += c;
    }
    return { loss: lossSum / Math.max(1, data.count), accuracy: correct / Math.max(1, data.count) };
  }

  /**
   * `evaluate` for backends that cannot read tensors synchronously (WebGPU in Node): each batch's loss and hit count
   * are read with `await data()`. The same computation and the same arithmetic, so the same numbers bit for bit.
   */
  async evaluateAsync(data: TrainData, batchSize = 500): Promise<{ loss: number; accuracy: number }> {
    let lossSum = 0;
    let correct = 0;
    for (const { start, n } of this.evalBatches(data, batchSize)) {
      const { loss, hits } = tf.tidy(() => this.evalBatch(data, start, n));
      try {
        lossSum += (await loss.data())[0] * n;
        correct += hits ? (await hits.data())[0] : 0;
      } finally {
        tf.dispose(hits ? [loss, hits] : [loss]);
      }
    }
    return { loss: lossSum / Math.max(1, data.count), accuracy: correct / Math.max(1, data.count) };
  }

  private *evalBatches(data: TrainData, batchSize: number): Generator<{ start: number; n: number }> {
    checkNumber('evaluate batchSize', batchSize, { min: 1, integer: true });
    for (let start = 0; start < data.count; start += batchSize) yield { start, n: Math.min(batchSize, data.count - start) };
  }

  /** One evaluation batch's mean loss and (for more than one output) its count of correct argmax predictions. */
  private evalBatch(data: TrainData, start: number, n: number): { loss: Tensor; hits: Tensor | undefined } {
    const inSize = this.network.inputShape.reduce((a, b) => a * b, 1);
    const outSize = this.network.outputShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(data.x.subarray(start * inSize, (start + n) * inSize), [n, ...this.network.inputShape]);
    const y = tf.tensor(data.y.subarray(start * outSize, (start + n) * outSize), [n, ...this.network.outputShape]);
    const out = this.network.forward(x, { training: false, random: this.random.stream('eval') }).output;
    const loss = this.loss.value(out, y);
    const hits = outSize > 1 ? tf.sum(tf.cast(tf.equal(tf.argMax(tf.reshape(out, [n, outSize]), 1), tf.argMax(tf.reshape(y, [n, outSize]), 1)), 'float32')) : undefined;
    return { loss, hits };
  }

  dispose(): void {
    this.boundRule.dispose();
    this.optimizer.dispose();
  }
}

/**
 * Copies a batch's rows into arrays reused from step to step (a fresh 400 KB array per MNIST batch cost its zero
 * fill, page faults and GC). Backends may keep the array as the tensor's storage, so an array is refilled only when
 * the tensors made on it are gone and the step left no tensor behind (nothing kept a view of it); otherwise the
 * next batch gets fresh arrays.
 */
class BatchGatherer {
  /** Arrays free for the next batch. */
  private free: { x: Float32Array; y: Float32Array } | null = null;
  /** Arrays handed out for the current batch. */
  private lent: { x: Float32Array; y: Float32Array } | null = null;

  constructor(
    private readonly data: TrainData,
    private readonly inSize: number,
    private readonly outSize: number,
  ) {}

  batch(idx: Int32Array): { x: Float32Array; y: Float32Array } {
    const { data, inSize, outSize } = this;
    const n = idx.length;
    const reuse = this.free !== null && this.free.x.length === n * inSize;
    const x = reuse ? this.free!.x : new Float32Array(n * inSize);
    const y = reuse ? this.free!.y : new Float32Array(n * outSize);
    this.free = null;
    for (let i = 0; i < n; i++) {
      const j = idx[i];
      x.set(data.x.subarray(j * inSize, (j + 1) * inSize), i * inSize);
      y.set(data.y.subarray(j * outSize, (j + 1) * outSize), i * outSize);
    }
    this.lent = { x, y };
    return this.lent;
  }

  /** After the step, with the tensors made on the arrays disposed: `clean` when the step left no tensor behind. */
  release(tensors: readonly Tensor[], clean: boolean): void {
    const alive = tf.engine().state.tensorInfo;
    if (clean && !tensors.some((t) => alive.has(t.dataId))) this.free = this.lent;
    this.lent = null;
  }
}

/** Bind a network, a loss, a rule and an optimizer into a trainer. */
export function createTrainer(options: TrainerOptions): Trainer {
  return new Trainer(options);
}

/** Every tensor in a nested object or array (what `tf.tidy` keeps when it returns one). */
function collectTensors(value: unknown, out: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (value instanceof tf.Tensor) out.push(value);
  else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    for (const v of Object.values(value)) collectTensors(v, out, seen);
  }
  return out;
}
