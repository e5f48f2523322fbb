import { createRng, type Rng } from './prng';
import { applyLimit } from './split';
import type { DatasetSplits, LabeledData } from './types';

/** Options of {@link linearTask}. */
export interface LinearTaskOptions {
  /** PRNG seed: the same seed (and sizes) gives identical arrays. */
  seed: number;
  /** Input dimension (default 30). */
  inputs?: number;
  /** Output dimension (default 10). */
  outputs?: number;
  /** Training samples (default 1000). */
  trainCount?: number;
  /** Test samples (default 200). */
  testCount?: number;
}

/** A linear regression task and its teacher matrix. */
export interface LinearTask extends DatasetSplits {
  /** The teacher `T` (`outputs × inputs`, row-major), entries ~ U[-1, 1]; targets are `y = T x`. */
  T: Float32Array;
  /** Input dimension. */
  inputs: number;
  /** Output dimension. */
  outputs: number;
}

/** Options of {@link nonlinearRegressionTask}. */
export interface NonlinearRegressionTaskOptions extends LinearTaskOptions {
  /** Hidden units of the teacher network (default 20). */
  hidden?: number;
}

/** A nonlinear regression task and its teacher network. */
export interface NonlinearRegressionTask extends DatasetSplits {
  /** First teacher layer (`hidden × inputs`, row-major), entries ~ N(0, 2.25 / inputs). */
  W1: Float32Array;
  /** Second teacher layer (`outputs × hidden`, row-major), entries ~ N(0, 2.25 / hidden). */
  W2: Float32Array;
  /** Input dimension. */
  inputs: number;
  /** Hidden units of the teacher. */
  hidden: number;
  /** Output dimension. */
  outputs: number;
}

// Independent PRNG streams per role, so changing one size never changes the other arrays.
const STREAM_TEACHER = 1;
const STREAM_TRAIN = 2;
const STREAM_TEST = 3;
const TEACHER_GAIN = 1.5;

function dims(opts: LinearTaskOptions) {
  const inputs = opts.inputs ?? 30;
  const outputs = opts.outputs ?? 10;
  for (const [k, v] of [
    ['inputs', inputs],
    ['outputs', outputs],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  const trainCount = applyLimit(opts.trainCount ?? 1000, Number.MAX_SAFE_INTEGER, 'trainCount');
  const testCount = applyLimit(opts.testCount ?? 200, Number.MAX_SAFE_INTEGER, 'testCount');
  return { inputs, outputs, trainCount, testCount };
}

function normals(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** `out[i] = W x_i` for each row `x_i` of `x` (`count × cols`), with `W` `rows × cols`. */
function matmulRows(x: Float32Array, count: number, W: Float32Array, rows: number, cols: number, act?: (v: number) => number): Float32Array {
  const out = new Float32Array(count * rows);
  for (let s = 0; s < count; s++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += W[r * cols + c] * x[s * cols + c];
      out[s * rows + r] = act ? act(acc) : acc;
    }
  }
  return out;
}

function regressionSplit(name: string, x: Float32Array, y: Float32Array, count: number, inputs: number, outputs: number): LabeledData {
  return { name, x, y, count, sampleShape: [inputs], targetShape: [outputs] };
}

/**
 * Lillicrap et al.'s Task 1 (feedback alignment): inputs `x ~ N(0, I)`, targets `y = T x` for a fixed
 * teacher `T ~ U[-1, 1]^(outputs × inputs)`. Deterministic in `seed`.
 */
export function linearTask(opts: LinearTaskOptions): LinearTask {
  const { inputs, outputs, trainCount, testCount } = dims(opts);
  const teacher = createRng(opts.seed, STREAM_TEACHER);
  const T = new Float32Array(outputs * inputs);
  for (let i = 0; i < T.length; i++) T[i] = teacher.uniformRange(-1, 1);
  const make = (name: string, stream: number, count: number) => {
    const x = normals(createRng(opts.seed, stream), count * inputs);
    return regressionSplit(name, x, matmulRows(x, count, T, outputs, inputs), count, inputs, outputs);
  };
  return {
    train: make('linear/train', STREAM_TRAIN, trainCount),
    test: make('linear/test', STREAM_TEST, testCount),
    source: `synthetic:linear(seed=${opts.seed})`,
    T,
    inputs,
    outputs,
  };
}

/**
 * A small nonlinear regression: `x ~ N(0, I)`, `y = tanh(W2 tanh(W1 x))` from a fixed random teacher network
 * (default 30 → 20 → 10, weights ~ N(0, 2.25 / fan-in), so both tanh layers work in their nonlinear range without saturating).
 * Deterministic in `seed`.
 */
export function nonlinearRegressionTask(opts: NonlinearRegressionTaskOptions): NonlinearRegressionTask {
  const { inputs, outputs, trainCount, testCount } = dims(opts);
  const hidden = opts.hidden ?? 20;
  if (!Number.isInteger(hidden) || hidden < 1) throw new RangeError(`hidden must be a positive integer, got ${hidden}`);
  const teacher = createRng(opts.seed, STREAM_TEACHER);
  const W1 = normals(teacher, hidden * inputs, TEACHER_GAIN / Math.sqrt(inputs));
  const W2 = normals(teacher, outputs * hidden, TEACHER_GAIN / Math.sqrt(hidden));
  const make = (name: string, stream: number, count: number) => {
    const x = normals(createRng(opts.seed, stream), count * inputs);
    const h = matmulRows(x, count, W1, hidden, inputs, Math.tanh);
    return regressionSplit(name, x, matmulRows(h, count, W2, outputs, hidden, Math.tanh), count, inputs, outputs);
  };
  return {
    train: make('nonlinear/train', STREAM_TRAIN, trainCount),
    test: make('nonlinear/test', STREAM_TEST, testCount),
    source: `synthetic:nonlinear(seed=${opts.seed})`,
    W1,
    W2,
    inputs,
    hidden,
    outputs,
  };
}
