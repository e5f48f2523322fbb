import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { ConvGeometry, NativeAddon, PoolGeometry } from './native.js';
import {
  type BinaryPlan,
  type ReducePlan,
  planBinary as planBinaryShapes,
  planMatMul as planMatMulShapes,
  planReduce as planReduceShapes,
  planTranspose as planTransposeShapes,
} from './plan.js';

/** The tfjs backend name this package registers. */
export const BACKEND_NAME = 'blas';

/**
 * The fused Adam kernel `@bioprop/core`'s `adam` runs when the active backend registers it (core exports the same
 * name as `ADAM_STEP_KERNEL`; this package does not depend on core at run time, so it spells it out).
 */
export const ADAM_STEP_KERNEL = 'BiopropAdamStep';
/**
 * The fused SGD / momentum kernel core's `sgd` and `momentum` run when the active backend registers it (core's
 * `SGD_STEP_KERNEL`): inputs `{ w, g }` (SGD) or `{ w, g, v }` (momentum), attrs `{ lr, momentum, nesterov, decay,
 * inPlace? }`, outputs `[w', step]` or `[w', v', step]`. With `inPlace` (the caller assigns w' and v' back to the
 * variables w and v) w and v are overwritten where nothing else refers to them, and w', v' share their data.
 */
export const SGD_STEP_KERNEL = 'BiopropSgdStep';

/**
 * Core's fused batch norm (training mode), run by its `batchNorm` module when the active backend registers it:
 * inputs `{ x, gamma, beta }` (x `[..., C]`), attrs `{ epsilon }`, outputs `[y, xhat, mean, variance, invStd]`.
 */
export const BATCH_NORM_TRAIN_KERNEL = 'BiopropBatchNormTrain';
/** Its VJP: inputs `{ dy, xhat, gamma, invStd }`, outputs `[dx, dGamma, dBeta]`. */
export const BATCH_NORM_GRAD_KERNEL = 'BiopropBatchNormGrad';
/** The relu activation's VJP `dy · 1_{x>0}`: inputs `{ dy, x }`, one output. */
export const RELU_GRAD_KERNEL = 'BiopropReluGrad';
/**
 * The VJP of relu followed by max pooling (core's conv blocks): inputs `{ dy, input, output }` as `MaxPoolGrad` takes
 * them (input = the relu's output, output = the pool's), attrs `{ filterSize, strides, pad }`; returns the gradient at
 * the relu's input, `ReluGrad(MaxPoolGrad(dy))`.
 */
export const MAX_POOL_RELU_GRAD_KERNEL = 'BiopropMaxPoolReluGrad';
/** The tanh activation's VJP `dy · (1 − y²)` from its output y: inputs `{ dy, y }`, one output. */
export const TANH_GRAD_KERNEL = 'BiopropTanhGrad';
/**
 * Core's softmax cross-entropy loss on logits: inputs `{ logits, labels }` (float32, the same shape, classes on the last
 * axis); `BiopropSoftmaxCrossEntropy` returns the scalar `−mean(Σ labels · logSoftmax(logits))`,
 * `BiopropSoftmaxCrossEntropyGrad` the output error `(softmax(logits) − labels) / N` (N = the first dimension).
 */
/**
 * Core's locally connected layer (`locallyConnected2d`): a convolution without weight sharing. Attrs of all three:
 * `{ kernelSize: [kh, kw], strides: [sh, sw], pad: [top, left], outShape: [outH, outW] }` (core's patch geometry).
 * `BiopropLocallyConnected2d`: inputs `{ x: [N, H, W, C], kernel: [outH·outW, kh·kw·C, F] }` → `[N, outH, outW, F]`
 * (no bias). `…BackpropInput`: inputs `{ dy: [N, outH, outW, F], kernel }`, attr `inputShape: [N, H, W, C]` → dx.
 * `…BackpropFilter`: inputs `{ x, dy }` → the kernel's gradient.
 */
export const LOCALLY_CONNECTED_KERNEL = 'BiopropLocallyConnected2d';
export const LOCALLY_CONNECTED_INPUT_GRAD_KERNEL = 'BiopropLocallyConnected2dBackpropInput';
export const LOCALLY_CONNECTED_FILTER_GRAD_KERNEL = 'BiopropLocallyConnected2dBackpropFilter';
export const SOFTMAX_CE_KERNEL = 'BiopropSoftmaxCrossEntropy';
export const SOFTMAX_CE_GRAD_KERNEL = 'BiopropSoftmaxCrossEntropyGrad';

// op codes shared with native/addon.cc
const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const;
const COMPARE = { Greater: 7, GreaterEqual: 8, Less: 9, LessEqual: 10, Equal: 11, NotEqual: 12 } as const;
const UNARY = {
  Tanh: 0,
  Sigmoid: 1,
  Relu: 2,
  Relu6: 3,
  Exp: 4,
  Neg: 5,
  Square: 6,
  Sqrt: 7,
  Abs: 8,
  Reciprocal: 9,
  Rsqrt: 10,
  LeakyRelu: 11,
  Elu: 12,
  Log: 13,
  Sign: 14,
  ClipByValue: 15,
  Step: 16,
} as const;
const REDUCE = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

type Backend = MathBackendCPU;
/** A kernel's arguments as the native kernels read them (inputs may backend missing: the cpu kernel reports that). */
interface Args {
  inputs: Record<string, TensorInfo>;
  backend: Backend;
  attrs: NamedAttrMap;
}

/** The float32 values of a tensor when it is plain float32 data on this backend; null otherwise (fall back). */
function f32(backend: Backend, t: TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId)?.values;
  return values instanceof Float32Array ? values : null;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

interface LazyTransposes {
  makeLazyTranspose(src: Float32Array, rows: number, cols: number, outShape: number[]): TensorInfo;
  lazyTransposeSource(t: TensorInfo): Float32Array | null;
}
const lazyCapable = (backend: Backend): (Backend & LazyTransposes) | null =>
  typeof (backend as Backend & Partial<LazyTransposes>).makeLazyTranspose === 'function' ? (backend as Backend & LazyTransposes) : null;

/** Where the blas backend lets a kernel overwrite an input in place (see `BlasBackend.overwritable`); null elsewhere. */
function overwritable(backend: Backend, t: TensorInfo): Float32Array | null {
  const b = backend as Backend & { overwritable?: (t: TensorInfo) => Float32Array | null };
  return typeof b.overwritable === 'function' ? b.overwritable(t) : null;
}

interface Deferring {
  makeDeferred(shape: number[], length: number, sources: Float32Array[], compute: (out: Float32Array) => void): TensorInfo;
}
/** The blas backend, which can hand out values computed on first read; null elsewhere. */
function deferring(backend: Backend): (Backend & Deferring) | null {
  return typeof (backend as Backend & Partial<Deferring>).makeDeferred === 'function' ? (backend as Backend & Deferring) : null;
}

/** A kernel output sharing an input's data (updated in place): one more tensor handle on it, as the cpu backend's reshape. */
function sameData(backend: Backend, t: TensorInfo): TensorInfo {
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape: [...t.shape], dtype: t.dtype };
}

/** An output buffer the native kernel overwrites completely: recycled by the blas backend, fresh otherwise. */
function alloc(backend: Backend, length: number): Float32Array {
  const pooled = (backend as Backend & { allocFloat32?: (n: number) => Float32Array }).allocFloat32;
  return pooled ? pooled.call(backend, length) : new Float32Array(length);
}

/** Calls per kernel that ran natively, and that fell back to the cpu kernel (since start or the last reset). */
export interface KernelStats {
  native: Record<string, number>;
  fallback: Record<string, number>;
}

const stats: KernelStats = { native: {}, fallback: {} };

/** How often each replaced kernel ran natively or fell back: shows whether a workload stays on the native path. */
export function kernelStats(): KernelStats {
  return { native: { ...stats.native }, fallback: { ...stats.fallback } };
}

export function resetKernelStats(): void {
  stats.native = {};
  stats.fallback = {};
}

/**
 * Builds the kernel configs that replace the cpu backend's kernels on the `blas` backend. Each native kernel
 * handles float32 data in the shapes it plans for and hands every other case to the cpu kernel it replaces.
 */
export function nativeKernels(addon: NativeAddon, cpuKernel: (name: string) => KernelFunc): KernelConfig[] {
  const configs: KernelConfig[] = [];
  // a training step repeats the same few shapes every step: plans are kept by their arguments (and never mutated)
  const cached = <A extends unknown[], P>(plan: (...args: A) => P): ((...args: A) => P) => {
    const plans = new Map<string, P>();
    return (...args: A) => {
      const key = args.map((a) => (Array.isArray(a) ? a.join(',') : String(a))).join('|');
      let p = plans.get(key);
      if (p === undefined && !plans.has(key)) {
        if (plans.size >= 512) plans.clear();
        p = plan(...args);
        plans.set(key, p);
      }
      return p as P;
    };
  };
  const planBinary = cached(planBinaryShapes);
  const planReduce = cached(planReduceShapes);
  const planTranspose = cached(planTransposeShapes);
  const planMatMul = cached(planMatMulShapes);
  const add = (kernelName: string, native: (args: Args) => TensorInfo | null) => {
    const fallback = cpuKernel(kernelName);
    const kernelFunc: KernelFunc = (args) => {
      const out = native({ inputs: args.inputs as Record<string, TensorInfo>, backend: args.backend as unknown as Backend, attrs: args.attrs ?? {} });
      if (out) {
        stats.native[kernelName] = (stats.native[kernelName] ?? 0) + 1;
        return out;
      }
      stats.fallback[kernelName] = (stats.fallback[kernelName] ?? 0) + 1;
      return fallback(args);
    };
    configs.push({ kernelName, backendName: BACKEND_NAME, kernelFunc });
  };

  // ---- binary elementwise with broadcasting
  const binaryInto = (backend: Backend, op: number, a: TensorInfo, b: TensorInfo): { values: Float32Array; shape: number[] } | null => {
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return null;
    const plan = planBinary(a.shape, b.shape);
    if (!plan) return null;
    const values = alloc(backend, sizeOf(plan.outShape));
    addon.binary(op, av, bv, values, plan.dims, plan.aStrides, plan.bStrides);
    return { values, shape: plan.outShape };
  };
  for (const [name, op] of Object.entries(BINARY)) {
    add(name, ({ inputs, backend }) => {
      const r = binaryInto(backend, op, inputs.a, inputs.b);
      return r && backend.makeTensorInfo(r.shape, 'float32', r.values);
    });
  }
  for (const [name, op] of Object.entries(COMPARE)) {
    add(name, ({ inputs, backend }) => {
      const av = f32(backend, inputs.a);
      const bv = f32(backend, inputs.b);
      if (!av || !bv) return null;
      const plan = planBinary(inputs.a.shape, inputs.b.shape);
      if (!plan) return null;
      const values = new Uint8Array(sizeOf(plan.outShape));
      addon.binary(op, av, bv, values, plan.dims, plan.aStrides, plan.bStrides);
      return backend.makeTensorInfo(plan.outShape, 'bool', values);
    });
  }

  add('AddN', ({ inputs, backend }) => {
    const list = Object.values(inputs) as TensorInfo[];
    if (list.length === 0) return null;
    const shape = list[0].shape;
    const values: Float32Array[] = [];
    for (const t of list) {
      const v = f32(backend, t);
      if (!v || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) return null;
      values.push(v);
    }
    const out = alloc(backend, sizeOf(shape));
    addon.addN(values, out);
    return backend.makeTensorInfo(shape, 'float32', out);
  });

  // bool/int32 → float32: the cpu kernel relabels the int buffer as float32 (no copy), which would push every later
  // op on it (relu's derivative mask, say) off the native path; converting once keeps them native
  add('Cast', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (attrs.dtype !== 'float32' || !x) return null;
    const values = backend.data.get(x.dataId)?.values;
    if (x.dtype === 'float32' && values instanceof Float32Array) {
      // float32 → float32 shares the buffer, as the cpu kernel does
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: 'float32' };
    }
    if (x.dtype !== 'bool' && x.dtype !== 'int32') return null;
    if (!(values instanceof Uint8Array || values instanceof Int32Array)) return null;
    return backend.makeTensorInfo(x.shape, 'float32', new Float32Array(values));
  });

  // ---- unary elementwise
  const unaryInto = (backend: Backend, op: number, x: TensorInfo, alpha = 0, beta = 0): TensorInfo | null => {
    const xv = f32(backend, x);
    if (!xv) return null;
    const out = alloc(backend, xv.length);
    addon.unary(op, xv, out, alpha, beta);
    return backend.makeTensorInfo(x.shape, 'float32', out);
  };
  for (const [name, op] of Object.entries(UNARY)) {
    add(name, ({ inputs, backend, attrs }) => {
      const a = attrs;
      if (name === 'LeakyRelu' || name === 'Step') return unaryInto(backend, op, inputs.x, Number(a.alpha ?? 0));
      if (name === 'ClipByValue') return unaryInto(backend, op, inputs.x, Number(a.clipValueMin), Number(a.clipValueMax));
      return unaryInto(backend, op, inputs.x);
    });
  }

  // ---- reductions
  for (const [name, op] of Object.entries(REDUCE)) {
    add(name, ({ inputs, backend, attrs }) => {
      const xv = f32(backend, inputs.x);
      if (!xv) return null;
      const a = attrs;
      // Max and Min name their axes reductionIndices
      const axis = (name === 'Max' ? a.reductionIndices : a.axis) as number | number[] | undefined;
      const plan = planReduce(inputs.x.shape, axis, Boolean(a.keepDims));
      if (!plan) return null;
      const out = alloc(backend, plan.outer * plan.inner);
      addon.reduce(op, xv, out, plan.outer, plan.r, plan.inner);
      return backend.makeTensorInfo(plan.outShape, 'float32', out);
    });
  }

  add('Softmax', ({ inputs, backend, attrs }) => {
    const x = inputs.logits;
    const xv = f32(backend, x);
    if (!xv || x.shape.length === 0) return null;
    const rank = x.shape.length;
    const dim = Number(attrs.dim ?? -1);
    if (dim !== -1 && dim !== rank - 1) return null;
    const cols = x.shape[rank - 1];
    if (cols === 0) return null;
    const out = alloc(backend, xv.length);
    addon.softmax(xv, out, xv.length / cols, cols, false);
    return backend.makeTensorInfo(x.shape, 'float32', out);
  });

  add('Transpose', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    const xv = f32(backend, x);
    if (!xv) return null;
    const plan = planTranspose(x.shape, attrs.perm as number[]);
    if (!plan) return null;
    // a plain matrix transpose: deferred, so a matrix product can use the source with a transpose flag
    const lazy = lazyCapable(backend);
    if (lazy && plan.dims && plan.perm && plan.dims.length === 2 && plan.perm[0] === 1) return lazy.makeLazyTranspose(xv, plan.dims[0], plan.dims[1], plan.outShape);
    const out = alloc(backend, xv.length);
    if (!plan.dims) out.set(xv);
    if (plan.dims && plan.perm) addon.transpose(xv, out, plan.dims, plan.perm);
    return backend.makeTensorInfo(plan.outShape, 'float32', out);
  });

  // ---- matrix multiply
  const matMul = (backend: Backend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { values: Float32Array; shape: number[] } | null => {
    if (a?.dtype !== 'float32' || b?.dtype !== 'float32') return null;
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    if (!plan) return null;
    // an operand that is a pending transpose: multiply its source with the flag flipped (single matrices only)
    const lazy = plan.batch === 1 ? lazyCapable(backend) : null;
    const aSrc = lazy?.lazyTransposeSource(a) ?? null;
    const bSrc = lazy?.lazyTransposeSource(b) ?? null;
    const av = aSrc ?? f32(backend, a);
    const bv = bSrc ?? f32(backend, b);
    if (!av || !bv) return null;
    const ta = aSrc ? !transposeA : transposeA;
    const tb = bSrc ? !transposeB : transposeB;
    const values = alloc(backend, plan.batch * plan.m * plan.n);
    addon.sgemmBatched(ta, tb, plan.m, plan.n, plan.k, av, bv, values, plan.batch, plan.aOffsets, plan.bOffsets);
    return { values, shape: plan.outShape };
  };

  add('BatchMatMul', ({ inputs, backend, attrs }) => {
    const a = attrs;
    const r = matMul(backend, inputs.a, inputs.b, Boolean(a.transposeA), Boolean(a.transposeB));
    return r && backend.makeTensorInfo(r.shape, 'float32', r.values);
  });

  const fusedActivation: Record<string, { op: number; alpha?: (a: NamedAttrMap) => number; beta?: number }> = {
    relu: { op: UNARY.Relu },
    relu6: { op: UNARY.Relu6 },
    sigmoid: { op: UNARY.Sigmoid },
    elu: { op: UNARY.Elu },
    leakyrelu: { op: UNARY.LeakyRelu, alpha: (a) => Number(a.leakyreluAlpha ?? 0.2) },
  };
  const prelu = cpuKernel('Prelu');
  add('_FusedMatMul', ({ inputs, backend, attrs }) => {
    const a = attrs;
    const activation = (a.activation as string | undefined) ?? 'linear';
    if (activation !== 'linear' && activation !== 'prelu' && !fusedActivation[activation]) return null;
    if (inputs.bias && !f32(backend, inputs.bias)) return null;
    const r = matMul(backend, inputs.a, inputs.b, Boolean(a.transposeA), Boolean(a.transposeB));
    if (!r) return null;
    const { values, shape } = r;
    if (inputs.bias) {
      // the bias must broadcast into the product's shape (tfjs requires it)
      const plan = planBinary(shape, inputs.bias.shape);
      if (!plan || plan.outShape.length !== shape.length || plan.outShape.some((d, i) => d !== shape[i])) return null;
      // in place: the product buffer is ours alone
      addon.binary(BINARY.Add, values, f32(backend, inputs.bias)!, values, plan.dims, plan.aStrides, plan.bStrides);
    }
    const act = fusedActivation[activation];
    if (act) addon.unary(act.op, values, values, act.alpha?.(a) ?? 0, 0);
    const out = backend.makeTensorInfo(shape, 'float32', values);
    if (activation === 'prelu') {
      const res = prelu({ inputs: { x: out, alpha: inputs.preluActivationWeights }, backend, attrs: {} }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(out);
      return res;
    }
    return out;
  });

  // ---- convolutions: im2col + one sgemm (NHWC, dilation 1; NCHW and dilated convolutions stay on the cpu kernels)
  /** The addon's geometry for an NHWC convolution of x by filter, or null when the native path does not cover it. */
  const convGeometry = (xShape: readonly number[], filterShape: readonly number[], attrs: NamedAttrMap, dilations: unknown): ConvGeometry | null => {
    const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
    if (dataFormat !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4 || filterShape[2] !== xShape[3]) return null;
    if (sizeOf(xShape) === 0 || sizeOf(filterShape) === 0) return null;
    const info = backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      attrs.strides as number | [number, number],
      dilations as number | [number, number],
      attrs.pad as 'valid' | 'same' | number | backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    );
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
    const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, strideHeight, strideWidth, padInfo, outHeight, outWidth } = info;
    return [batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, strideHeight, strideWidth, padInfo.top, padInfo.left, outHeight, outWidth];
  };

  add('Conv2D', ({ inputs, backend, attrs }) => {
    const xv = f32(backend, inputs.x);
    const wv = f32(backend, inputs.filter);
    if (!xv || !wv) return null;
    const g = convGeometry(inputs.x.shape, inputs.filter.shape, attrs, attrs.dilations ?? 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const out = alloc(backend, n * outH * outW * outC);
    addon.conv2d(xv, wv, out, ...g);
    return backend.makeTensorInfo([n, outH, outW, outC], 'float32', out);
  });

  // conv2d + bias (+ activation) in place on the product, as _FusedMatMul: core's conv2d layer runs its linear map
  // through it here, saving the separate pass of the bias add
  add('FusedConv2D', ({ inputs, backend, attrs }) => {
    const xv = f32(backend, inputs.x);
    const wv = f32(backend, inputs.filter);
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    if (!xv || !wv || (activation !== 'linear' && !fusedActivation[activation])) return null;
    const biasValues = inputs.bias ? f32(backend, inputs.bias) : null;
    if (inputs.bias && !biasValues) return null;
    const g = convGeometry(inputs.x.shape, inputs.filter.shape, attrs, attrs.dilations ?? 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const shape = [n, outH, outW, outC];
    const bias = inputs.bias ? planBinary(shape, inputs.bias.shape) : null;
    if (inputs.bias && (!bias || !sameShape(bias.outShape, shape))) return null;
    const out = alloc(backend, n * outH * outW * outC);
    addon.conv2d(xv, wv, out, ...g);
    if (bias) addon.binary(BINARY.Add, out, biasValues!, out, bias.dims, bias.aStrides, bias.bStrides);
    const act = fusedActivation[activation];
    if (act) addon.unary(act.op, out, out, act.alpha?.({ leakyreluAlpha: attrs.leakyreluAlpha } as NamedAttrMap) ?? 0, 0);
    return backend.makeTensorInfo(shape, 'float32', out);
  });

  add('Conv2DBackpropInput', ({ inputs, backend, attrs }) => {
    const dyv = f32(backend, inputs.dy);
    const wv = f32(backend, inputs.filter);
    if (!dyv || !wv) return null;
    const inputShape = attrs.inputShape as number[];
    // the kernel has no dilations (the cpu kernel assumes 1)
    const g = convGeometry(inputShape, inputs.filter.shape, attrs, 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const dy = inputs.dy.shape;
    if (dy.length !== 4 || dy[0] !== n || dy[1] !== outH || dy[2] !== outW || dy[3] !== outC) return null;
    const dx = alloc(backend, sizeOf(inputShape));
    addon.conv2dBackpropInput(dyv, wv, dx, ...g);
    return backend.makeTensorInfo([...inputShape], 'float32', dx);
  });

  add('Conv2DBackpropFilter', ({ inputs, backend, attrs }) => {
    const xv = f32(backend, inputs.x);
    const dyv = f32(backend, inputs.dy);
    if (!xv || !dyv) return null;
    const filterShape = attrs.filterShape as number[];
    // the kernel has no dilations (the cpu kernel assumes 1)
    const g = convGeometry(inputs.x.shape, filterShape, attrs, 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const dy = inputs.dy.shape;
    if (dy.length !== 4 || dy[0] !== n || dy[1] !== outH || dy[2] !== outW || dy[3] !== outC) return null;
    const dw = alloc(backend, sizeOf(filterShape));
    addon.conv2dBackpropFilter(xv, dyv, dw, ...g);
    return backend.makeTensorInfo([...filterShape], 'float32', dw);
  });

  // ---- pooling (NHWC, the only layout tfjs pools in)
  const poolGeometry = (xShape: readonly number[], attrs: NamedAttrMap): PoolGeometry | null => {
    if (xShape.length !== 4 || sizeOf(xShape) === 0) return null;
    const info = backend_util.computePool2DInfo(
      xShape as [number, number, number, number],
      attrs.filterSize as number | [number, number],
      attrs.strides as number | [number, number],
      1,
      attrs.pad as 'valid' | 'same' | number | backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    );
    const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, strideHeight, strideWidth, padInfo, outHeight, outWidth } = info;
    if (outHeight <= 0 || outWidth <= 0) return null;
    return [batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, strideHeight, strideWidth, padInfo.top, padInfo.left, outHeight, outWidth];
  };
  // a 1×1 window that keeps the shape: the cpu kernel returns the input itself (no copy)
  const isIdentityPool = (g: PoolGeometry) => g[4] === 1 && g[5] === 1 && g[10] === g[1] && g[11] === g[2];

  /**
   * Where each max-pooled output element's maximum sits in its window, as MaxPool recorded it, by the output's data:
   * MaxPoolGrad (which receives that output) then reads one byte per output element instead of searching x again.
   * Valid only for the same input data and geometry, which are stored with it.
   */
  const argmaxOf = new WeakMap<object, { input: object; geometry: string; buffer: ArgmaxBuffer; use: number }>();
  /**
   * The records' buffers by length, each with the output it was made for: a buffer is reused once that output's data
   * is gone (a fresh 150 KB array per pooling call cost more, in page faults and GC, than the search it saves).
   */
  interface ArgmaxBuffer {
    owner: object;
    argmax: Uint8Array;
    /** Bumped on every reuse: a record made for an earlier use is stale (its output may have come back from another backend). */
    use: number;
  }
  const argmaxBuffers = new Map<number, ArgmaxBuffer[]>();
  const ARGMAX_BUFFERS_PER_LENGTH = 32;
  const argmaxBuffer = (backend: Backend, length: number): ArgmaxBuffer => {
    let list = argmaxBuffers.get(length);
    if (!list) argmaxBuffers.set(length, (list = []));
    for (const e of list) {
      if (!backend.data.has(e.owner as TensorInfo['dataId'])) {
        e.use++;
        return e;
      }
    }
    const fresh = { owner: {}, argmax: new Uint8Array(length), use: 0 };
    if (list.length < ARGMAX_BUFFERS_PER_LENGTH) list.push(fresh);
    return fresh;
  };

  add('MaxPool', ({ inputs, backend, attrs }) => {
    const xv = f32(backend, inputs.x);
    if (!xv) return null;
    const g = poolGeometry(inputs.x.shape, attrs);
    if (!g || isIdentityPool(g)) return null;
    const size = g[0] * g[10] * g[11] * g[3];
    const out = alloc(backend, size);
    const record = g[4] * g[5] < 255 ? argmaxBuffer(backend, size) : null;
    addon.maxPool(xv, out, ...g, record?.argmax ?? null);
    const result = backend.makeTensorInfo([g[0], g[10], g[11], g[3]], 'float32', out);
    if (record) {
      record.owner = result.dataId;
      argmaxOf.set(result.dataId, { input: inputs.x.dataId, geometry: g.join(), buffer: record, use: record.use });
    }
    return result;
  });

  add('AvgPool', ({ inputs, backend, attrs }) => {
    const xv = f32(backend, inputs.x);
    if (!xv) return null;
    const g = poolGeometry(inputs.x.shape, attrs);
    if (!g || isIdentityPool(g)) return null;
    const out = alloc(backend, g[0] * g[10] * g[11] * g[3]);
    addon.avgPool(xv, out, ...g);
    return backend.makeTensorInfo([g[0], g[10], g[11], g[3]], 'float32', out);
  });

  add('MaxPoolGrad', ({ inputs, backend, attrs }) => {
    const dyv = f32(backend, inputs.dy);
    if (!dyv || inputs.input?.dtype !== 'float32') return null;
    const g = poolGeometry(inputs.input.shape, attrs);
    if (!g || !sameShape(inputs.dy.shape, [g[0], g[10], g[11], g[3]])) return null;
    const recorded = inputs.output ? argmaxOf.get(inputs.output.dataId) : undefined;
    const valid = recorded && recorded.input === inputs.input.dataId && recorded.geometry === g.join() && recorded.buffer.use === recorded.use;
    const argmax = valid ? recorded.buffer.argmax : null;
    // with the record, x is not read (an empty array stands in for it)
    const xv = argmax ? new Float32Array(0) : f32(backend, inputs.input);
    if (!xv) return null;
    const dx = alloc(backend, sizeOf(inputs.input.shape));
    addon.maxPoolGrad(dyv, xv, dx, ...g, argmax);
    return backend.makeTensorInfo([...inputs.input.shape], 'float32', dx);
  });


  add('AvgPoolGrad', ({ inputs, backend, attrs }) => {
    const dyv = f32(backend, inputs.dy);
    // the cpu kernel sizes its loops ignoring dimRoundingMode (dy may be larger than it reads): leave those to it
    if (!dyv || !inputs.input || attrs.dimRoundingMode != null) return null;
    const g = poolGeometry(inputs.input.shape, attrs);
    if (!g || !sameShape(inputs.dy.shape, [g[0], g[10], g[11], g[3]])) return null;
    const dx = alloc(backend, sizeOf(inputs.input.shape));
    addon.avgPoolGrad(dyv, dx, ...g);
    return backend.makeTensorInfo([...inputs.input.shape], 'float32', dx);
  });

  // ---- padding and tiling
  add('PadV2', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    const xv = f32(backend, x);
    const paddings = attrs.paddings as Array<[number, number]>;
    if (!xv || x.shape.length === 0 || !Array.isArray(paddings) || paddings.length !== x.shape.length) return null;
    const outShape = paddings.map((p, i) => p[0] + x.shape[i] + p[1]);
    if (paddings.some((p) => p[0] < 0 || p[1] < 0)) return null;
    // an unpadded last dim merges into the one before it (the copies become longer runs): [N, H, W, 1] padded in H, W
    // copies rows of W, not single pixels
    const dims = [...x.shape];
    const before = paddings.map((p) => p[0]);
    const outDims = [...outShape];
    while (dims.length > 1 && paddings[dims.length - 1][0] === 0 && paddings[dims.length - 1][1] === 0) {
      const inner = dims.pop()!;
      before.pop();
      outDims.pop();
      const d = dims.length - 1;
      dims[d] *= inner;
      before[d] *= inner;
      outDims[d] *= inner;
    }
    const out = alloc(backend, sizeOf(outShape));
    addon.pad(xv, out, Int32Array.from(dims), Int32Array.from(before), Int32Array.from(outDims), Number(attrs.constantValue ?? 0));
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  add('Tile', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    const xv = f32(backend, x);
    const reps = attrs.reps as number[];
    if (!xv || x.shape.length === 0 || !Array.isArray(reps) || reps.length !== x.shape.length) return null;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    if (sizeOf(outShape) === 0) return null;
    const out = alloc(backend, sizeOf(outShape));
    addon.tile(xv, out, Int32Array.from(x.shape), Int32Array.from(reps));
    return backend.makeTensorInfo(outShape, 'float32', out);
  });

  // ---- core's fused layer kernels: no cpu counterpart (core calls them only where registered), float32 only
  const need = (kernel: string, backend: Backend, named: Record<string, TensorInfo | undefined>): Float32Array[] =>
    Object.entries(named).map(([name, t]) => {
      if (!t) throw new Error(`${kernel}: missing input ${name}`);
      const data = f32(backend, t);
      if (!data) throw new Error(`${kernel} on ${BACKEND_NAME}: input ${name} is not float32 data on this backend (${t.dtype})`);
      return data;
    });
  const custom = (kernelName: string, run: (args: Args) => TensorInfo | TensorInfo[]) => {
    const kernelFunc: KernelFunc = (args) => {
      const out = run({ inputs: args.inputs as Record<string, TensorInfo>, backend: args.backend as unknown as Backend, attrs: args.attrs ?? {} });
      stats.native[kernelName] = (stats.native[kernelName] ?? 0) + 1;
      return out;
    };
    configs.push({ kernelName, backendName: BACKEND_NAME, kernelFunc });
  };
  /** The channel count of a `[..., C]` tensor and a `[C]` companion, checked. */
  const channels = (kernel: string, x: TensorInfo, perChannel: Record<string, TensorInfo>): { m: number; c: number } => {
    const c = x.shape[x.shape.length - 1];
    if (x.shape.length === 0 || !(c > 0) || sizeOf(x.shape) === 0) throw new Error(`${kernel}: input of shape [${x.shape}] has no channels`);
    for (const [name, t] of Object.entries(perChannel)) {
      if (sizeOf(t.shape) !== c) throw new Error(`${kernel}: ${name} has shape [${t.shape}], expected [${c}]`);
    }
    return { m: sizeOf(x.shape) / c, c };
  };

  custom(BATCH_NORM_TRAIN_KERNEL, ({ inputs, backend, attrs }) => {
    const [xv, gv, bv] = need(BATCH_NORM_TRAIN_KERNEL, backend, { x: inputs.x, gamma: inputs.gamma, beta: inputs.beta });
    const { m, c } = channels(BATCH_NORM_TRAIN_KERNEL, inputs.x, { gamma: inputs.gamma, beta: inputs.beta });
    const epsilon = attrs.epsilon;
    if (typeof epsilon !== 'number' || !(epsilon >= 0)) throw new Error(`${BATCH_NORM_TRAIN_KERNEL}: attr epsilon must be a number ≥ 0, got ${String(epsilon)}`);
    const y = alloc(backend, xv.length);
    const xhat = alloc(backend, xv.length);
    const stats3 = [alloc(backend, c), alloc(backend, c), alloc(backend, c)];
    addon.batchNormTrain(xv, gv, bv, y, xhat, stats3[0], stats3[1], stats3[2], m, c, epsilon);
    const shape = [...inputs.x.shape];
    return [backend.makeTensorInfo(shape, 'float32', y), backend.makeTensorInfo(shape, 'float32', xhat), ...stats3.map((v) => backend.makeTensorInfo([c], 'float32', v))];
  });

  custom(BATCH_NORM_GRAD_KERNEL, ({ inputs, backend }) => {
    const [dyv, hv, gv, sv] = need(BATCH_NORM_GRAD_KERNEL, backend, { dy: inputs.dy, xhat: inputs.xhat, gamma: inputs.gamma, invStd: inputs.invStd });
    const { m, c } = channels(BATCH_NORM_GRAD_KERNEL, inputs.dy, { gamma: inputs.gamma, invStd: inputs.invStd });
    if (!sameShape(inputs.dy.shape, inputs.xhat.shape)) throw new Error(`${BATCH_NORM_GRAD_KERNEL}: dy [${inputs.dy.shape}] and xhat [${inputs.xhat.shape}] differ`);
    const dx = alloc(backend, dyv.length);
    const dGamma = alloc(backend, c);
    const dBeta = alloc(backend, c);
    addon.batchNormGrad(dyv, hv, gv, sv, dx, dGamma, dBeta, m, c);
    return [backend.makeTensorInfo([...inputs.dy.shape], 'float32', dx), backend.makeTensorInfo([c], 'float32', dGamma), backend.makeTensorInfo([c], 'float32', dBeta)];
  });

  custom(RELU_GRAD_KERNEL, ({ inputs, backend }) => {
    const [dyv, xv] = need(RELU_GRAD_KERNEL, backend, { dy: inputs.dy, x: inputs.x });
    if (dyv.length !== xv.length) throw new Error(`${RELU_GRAD_KERNEL}: dy [${inputs.dy.shape}] and x [${inputs.x.shape}] differ in size`);
    const out = alloc(backend, dyv.length);
    addon.reluGrad(dyv, xv, out);
    return backend.makeTensorInfo([...inputs.dy.shape], 'float32', out);
  });

  custom(TANH_GRAD_KERNEL, ({ inputs, backend }) => {
    const [dyv, yv] = need(TANH_GRAD_KERNEL, backend, { dy: inputs.dy, y: inputs.y });
    if (dyv.length !== yv.length) throw new Error(`${TANH_GRAD_KERNEL}: dy [${inputs.dy.shape}] and y [${inputs.y.shape}] differ in size`);
    const out = alloc(backend, dyv.length);
    addon.tanhGrad(dyv, yv, out);
    return backend.makeTensorInfo([...inputs.dy.shape], 'float32', out);
  });

  // ---- core's locally connected layer: one sgemm per location over the batch (native/conv.cc)
  const intPair = (kernel: string, attrs: NamedAttrMap, name: string, min: number): [number, number] => {
    const v = attrs[name] as unknown;
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= min)) {
      throw new Error(`${kernel}: attr ${name} must be two integers ≥ ${min}, got ${JSON.stringify(v)}`);
    }
    return [v[0] as number, v[1] as number];
  };
  /** The addon's geometry from an NHWC image shape, the filter count and the attrs, every input shape checked against it. */
  const lcGeometry = (kernel: string, image: readonly number[], filters: number, attrs: NamedAttrMap, shapes: Record<string, readonly number[]>): ConvGeometry => {
    if (image.length !== 4 || !image.every((d) => Number.isInteger(d) && d >= 0) || image.slice(1).some((d) => d < 1)) {
      throw new Error(`${kernel}: the image must be [N, H, W, C] with H, W, C ≥ 1, got [${image}]`);
    }
    const [kh, kw] = intPair(kernel, attrs, 'kernelSize', 1);
    const [sh, sw] = intPair(kernel, attrs, 'strides', 1);
    const [top, left] = intPair(kernel, attrs, 'pad', 0);
    const [outH, outW] = intPair(kernel, attrs, 'outShape', 1);
    const [n, h, w, c] = image;
    const want: Record<string, readonly number[]> = { kernel: [outH * outW, kh * kw * c, filters], dy: [n, outH, outW, filters] };
    for (const [name, shape] of Object.entries(shapes)) {
      if (!sameShape(shape, want[name])) throw new Error(`${kernel}: ${name} has shape [${shape}], expected [${want[name]}]`);
    }
    return [n, h, w, c, kh, kw, filters, sh, sw, top, left, outH, outW];
  };

  custom(LOCALLY_CONNECTED_KERNEL, ({ inputs, backend, attrs }) => {
    const k = LOCALLY_CONNECTED_KERNEL;
    const [xv, wv] = need(k, backend, { x: inputs.x, kernel: inputs.kernel });
    const filters = inputs.kernel.shape[inputs.kernel.shape.length - 1];
    const g = lcGeometry(k, inputs.x.shape, filters, attrs, { kernel: inputs.kernel.shape });
    const out = alloc(backend, g[0] * g[11] * g[12] * filters);
    addon.locallyConnected2d(xv, wv, out, ...g);
    return backend.makeTensorInfo([g[0], g[11], g[12], filters], 'float32', out);
  });

  custom(LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, ({ inputs, backend, attrs }) => {
    const k = LOCALLY_CONNECTED_INPUT_GRAD_KERNEL;
    const [dyv, wv] = need(k, backend, { dy: inputs.dy, kernel: inputs.kernel });
    const image = attrs.inputShape as number[];
    const filters = inputs.kernel.shape[inputs.kernel.shape.length - 1];
    const g = lcGeometry(k, Array.isArray(image) ? image : [], filters, attrs, { kernel: inputs.kernel.shape, dy: inputs.dy.shape });
    const dx = alloc(backend, sizeOf(image));
    addon.locallyConnected2dBackpropInput(dyv, wv, dx, ...g);
    return backend.makeTensorInfo([...image], 'float32', dx);
  });

  custom(LOCALLY_CONNECTED_FILTER_GRAD_KERNEL, ({ inputs, backend, attrs }) => {
    const k = LOCALLY_CONNECTED_FILTER_GRAD_KERNEL;
    const [xv, dyv] = need(k, backend, { x: inputs.x, dy: inputs.dy });
    const filters = inputs.dy.shape[inputs.dy.shape.length - 1];
    const g = lcGeometry(k, inputs.x.shape, filters, attrs, { dy: inputs.dy.shape });
    const shape = [g[11] * g[12], g[4] * g[5] * g[3], filters];
    const dw = alloc(backend, sizeOf(shape));
    addon.locallyConnected2dBackpropFilter(xv, dyv, dw, ...g);
    return backend.makeTensorInfo(shape, 'float32', dw);
  });

  // core's VJP of relu then max pooling (a conv block's relu → maxPool2d): MaxPoolGrad and ReluGrad in one pass, the
  // relu's factor read from the pool's output at each window's maximum (relu(a) > 0 exactly where a > 0)
  custom(MAX_POOL_RELU_GRAD_KERNEL, ({ inputs, backend, attrs }) => {
    const k = MAX_POOL_RELU_GRAD_KERNEL;
    const [dyv, xv, pv] = need(k, backend, { dy: inputs.dy, input: inputs.input, output: inputs.output });
    const g = poolGeometry(inputs.input.shape, attrs);
    const outShape = g ? [g[0], g[10], g[11], g[3]] : [];
    if (!g || !sameShape(inputs.dy.shape, outShape) || !sameShape(inputs.output.shape, outShape)) {
      throw new Error(`${k}: dy [${inputs.dy.shape}] and output [${inputs.output.shape}] do not match pooling [${inputs.input.shape}]`);
    }
    const recorded = argmaxOf.get(inputs.output.dataId);
    const valid = recorded && recorded.input === inputs.input.dataId && recorded.geometry === g.join() && recorded.buffer.use === recorded.use;
    const dx = alloc(backend, xv.length);
    addon.maxPoolReluGrad(dyv, xv, pv, dx, ...g, valid ? recorded.buffer.argmax : null);
    return backend.makeTensorInfo([...inputs.input.shape], 'float32', dx);
  });

  // ---- softmax cross-entropy: the kernels of core's tf-op path (logSoftmax as tfjs composes it: max, sub, exp, sum,
  // log, sub; then mul, sum, mean, neg; the error: softmax, sub, div) run back to back on scratch arrays, each the same
  // native call with the same plan as that kernel, so the values are identical, without an engine round trip per op
  const lossInputs = (kernel: string, backend: Backend, inputs: Record<string, TensorInfo>) => {
    const [zv, yv] = need(kernel, backend, { logits: inputs.logits, labels: inputs.labels });
    const shape = inputs.logits.shape;
    if (!sameShape(shape, inputs.labels.shape)) throw new Error(`${kernel}: logits [${shape}] and labels [${inputs.labels.shape}] differ`);
    if (shape.length === 0 || zv.length === 0) throw new Error(`${kernel}: logits of shape [${shape}] have no classes`);
    return { zv, yv, shape };
  };
  const planned = <P>(kernel: string, plan: P | null): P => {
    if (!plan) throw new Error(`${kernel}: no native plan for these shapes`);
    return plan;
  };
  /** Every op's plan for logits of one shape, and scratch arrays for the intermediates (kernels run one at a time). */
  interface LossPlan {
    zMax: ReducePlan;
    shift: BinaryPlan;
    sums: ReducePlan;
    lsm: BinaryPlan;
    same: BinaryPlan;
    perSample: ReducePlan;
    mean: ReducePlan;
    byN: BinaryPlan;
    rows: Float32Array[];
    full: Float32Array[];
  }
  const lossPlans = new Map<string, LossPlan>();
  const lossPlan = (kernel: string, shape: readonly number[]): LossPlan => {
    const key = shape.join();
    let p = lossPlans.get(key);
    if (!p) {
      const last = shape.length - 1;
      const zMax = planned(kernel, planReduceShapes(shape, last, true));
      const sums = planned(kernel, planReduceShapes(shape, last, true));
      const perSample = planned(kernel, planReduceShapes(shape, -1, false));
      const n = sizeOf(shape);
      const rows = zMax.outer * zMax.inner;
      if (lossPlans.size >= 64) lossPlans.clear();
      p = {
        zMax,
        shift: planned(kernel, planBinaryShapes(shape, zMax.outShape)),
        sums,
        lsm: planned(kernel, planBinaryShapes(shape, sums.outShape)),
        same: planned(kernel, planBinaryShapes(shape, shape)),
        perSample,
        mean: planned(kernel, planReduceShapes(perSample.outShape, undefined, false)),
        byN: planned(kernel, planBinaryShapes(shape, [])),
        rows: [0, 1, 2, 3].map(() => new Float32Array(rows)),
        full: [0, 1, 2, 3].map(() => new Float32Array(n)),
      };
      lossPlans.set(key, p);
    }
    return p;
  };
  const reduceInto = (op: number, plan: ReducePlan, x: Float32Array, out: Float32Array) => addon.reduce(op, x, out, plan.outer, plan.r, plan.inner);
  const binaryInto2 = (op: number, plan: BinaryPlan, a: Float32Array, b: Float32Array, out: Float32Array) =>
    addon.binary(op, a, b, out, plan.dims, plan.aStrides, plan.bStrides);
  custom(SOFTMAX_CE_KERNEL, ({ inputs, backend }) => {
    const k = SOFTMAX_CE_KERNEL;
    const { zv, yv, shape } = lossInputs(k, backend, inputs);
    const p = lossPlan(k, shape);
    const [zMax, sums, logs, perSample] = p.rows;
    const [shifted, exps, logSoftmax, products] = p.full;
    // logSoftmax(z) = (z − max) − log(Σ exp(z − max)), over the last axis
    reduceInto(REDUCE.Max, p.zMax, zv, zMax);
    binaryInto2(BINARY.Sub, p.shift, zv, zMax, shifted);
    addon.unary(UNARY.Exp, shifted, exps, 0, 0);
    reduceInto(REDUCE.Sum, p.sums, exps, sums);
    addon.unary(UNARY.Log, sums, logs, 0, 0);
    binaryInto2(BINARY.Sub, p.lsm, shifted, logs, logSoftmax);
    // −mean(Σ labels · logSoftmax)
    binaryInto2(BINARY.Multiply, p.same, yv, logSoftmax, products);
    reduceInto(REDUCE.Sum, p.perSample, products, perSample);
    const mean = new Float32Array(1);
    reduceInto(REDUCE.Mean, p.mean, perSample, mean);
    const out = new Float32Array(1);
    addon.unary(UNARY.Neg, mean, out, 0, 0);
    return backend.makeTensorInfo([], 'float32', out);
  });
  custom(SOFTMAX_CE_GRAD_KERNEL, ({ inputs, backend }) => {
    const k = SOFTMAX_CE_GRAD_KERNEL;
    const { zv, yv, shape } = lossInputs(k, backend, inputs);
    const p = lossPlan(k, shape);
    const [softmax, diff] = p.full;
    const cols = shape[shape.length - 1];
    // (softmax(z) − labels) / N
    addon.softmax(zv, softmax, zv.length / cols, cols, false);
    binaryInto2(BINARY.Sub, p.same, softmax, yv, diff);
    const out = alloc(backend, zv.length);
    binaryInto2(BINARY.RealDiv, p.byN, diff, Float32Array.of(shape[0]), out);
    return backend.makeTensorInfo([...shape], 'float32', out);
  });

  // ---- fused Adam step (core's BiopropAdamStep): no cpu kernel to fall back to, core calls it only where registered
  const adamStep: KernelFunc = (args) => {
    const { w, g, m, v } = args.inputs as Record<string, TensorInfo>;
    const backend = args.backend as unknown as Backend;
    const a = (args.attrs ?? {}) as NamedAttrMap;
    const named = { w, g, m, v };
    const values: Float32Array[] = [];
    for (const [name, t] of Object.entries(named)) {
      if (!t) throw new Error(`${ADAM_STEP_KERNEL}: missing input ${name}`);
      if (t.dtype !== 'float32') throw new Error(`${ADAM_STEP_KERNEL} on ${BACKEND_NAME}: input ${name} is ${t.dtype}; only float32 is supported`);
      const data = f32(backend, t);
      if (!data) throw new Error(`${ADAM_STEP_KERNEL} on ${BACKEND_NAME}: input ${name} holds no float32 data on this backend`);
      if (t.shape.length !== w.shape.length || t.shape.some((d, i) => d !== w.shape[i])) {
        throw new Error(`${ADAM_STEP_KERNEL}: input ${name} has shape [${t.shape}], w has [${w.shape}]`);
      }
      values.push(data);
    }
    const attr = (name: string): number => {
      const x = a[name];
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${ADAM_STEP_KERNEL}: attr ${name} must be a finite number, got ${String(x)}`);
      return x;
    };
    const n = values[0].length;
    // in place (w, m and v overwritten; outputs share their data) when the caller assigns the outputs back and
    // nothing else refers to any of the three
    const own = a.inPlace === true ? [w, m, v].map((t) => overwritable(backend, t)) : [];
    const inPlace = own.length === 3 && own.every((x) => x !== null);
    const outs = inPlace ? [values[0], values[2], values[3], alloc(backend, n)] : [alloc(backend, n), alloc(backend, n), alloc(backend, n), alloc(backend, n)];
    addon.adamStep(values[0], values[1], values[2], values[3], outs[0], outs[1], outs[2], outs[3], attr('lr'), attr('beta1'), attr('beta2'), attr('epsilon'), attr('c1'), attr('c2'), attr('decay'));
    stats.native[ADAM_STEP_KERNEL] = (stats.native[ADAM_STEP_KERNEL] ?? 0) + 1;
    if (inPlace) return [sameData(backend, w), sameData(backend, m), sameData(backend, v), backend.makeTensorInfo(w.shape, 'float32', outs[3])];
    return outs.map((o) => backend.makeTensorInfo(w.shape, 'float32', o));
  };
  configs.push({ kernelName: ADAM_STEP_KERNEL, backendName: BACKEND_NAME, kernelFunc: adamStep });

  // ---- fused SGD / momentum step (core's BiopropSgdStep): like Adam's, core calls it only where registered
  const sgdStep: KernelFunc = (args) => {
    const { w, g, v } = args.inputs as Record<string, TensorInfo | undefined>;
    const backend = args.backend as unknown as Backend;
    const a = (args.attrs ?? {}) as NamedAttrMap;
    const read = (name: string, t: TensorInfo | undefined): Float32Array => {
      if (!t) throw new Error(`${SGD_STEP_KERNEL}: missing input ${name}`);
      if (t.dtype !== 'float32') throw new Error(`${SGD_STEP_KERNEL} on ${BACKEND_NAME}: input ${name} is ${t.dtype}; only float32 is supported`);
      const data = f32(backend, t);
      if (!data) throw new Error(`${SGD_STEP_KERNEL} on ${BACKEND_NAME}: input ${name} holds no float32 data on this backend`);
      if (w && !sameShape(t.shape, w.shape)) throw new Error(`${SGD_STEP_KERNEL}: input ${name} has shape [${t.shape}], w has [${w.shape}]`);
      return data;
    };
    const wv = read('w', w);
    const gv = read('g', g);
    const vv = v ? read('v', v) : null;
    const attr = (name: string): number => {
      const x = a[name];
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${SGD_STEP_KERNEL}: attr ${name} must be a finite number, got ${String(x)}`);
      return x;
    };
    const n = wv.length;
    const lr = attr('lr');
    const mu = vv ? attr('momentum') : 0;
    const nesterov = Boolean(a.nesterov);
    const decay = attr('decay');
    // in place (w and v overwritten; outputs share their data) as Adam's
    const inPlace = a.inPlace === true && overwritable(backend, w!) !== null && (!v || overwritable(backend, v) !== null);
    const outW = inPlace ? wv : alloc(backend, n);
    const outV = vv ? (inPlace ? vv : alloc(backend, n)) : null;
    // the step is computed on first read, from g and v' (most callers never read it: one array less to write)
    const defer = deferring(backend);
    const outStep = defer ? null : alloc(backend, n);
    addon.sgdStep(wv, gv, vv, outW, outV, outStep, lr, mu, nesterov, decay);
    stats.native[SGD_STEP_KERNEL] = (stats.native[SGD_STEP_KERNEL] ?? 0) + 1;
    const shape = w!.shape;
    const step = defer
      ? defer.makeDeferred([...shape], n, outV ? [gv, outV] : [gv], (out) => addon.sgdStepValues(gv, outV, out, lr, mu, nesterov, decay))
      : backend.makeTensorInfo(shape, 'float32', outStep!);
    if (inPlace) return v ? [sameData(backend, w!), sameData(backend, v), step] : [sameData(backend, w!), step];
    return outV ? [backend.makeTensorInfo(shape, 'float32', outW), backend.makeTensorInfo(shape, 'float32', outV), step] : [backend.makeTensorInfo(shape, 'float32', outW), step];
  };
  configs.push({ kernelName: SGD_STEP_KERNEL, backendName: BACKEND_NAME, kernelFunc: sgdStep });

  return configs;
}

/** Names of the kernels the blas backend runs natively (for float32 inputs), for reports and tests. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  ...Object.keys(BINARY),
  ...Object.keys(COMPARE),
  'AddN',
  'Cast',
  ...Object.keys(UNARY),
  ...Object.keys(REDUCE),
  'Softmax',
  'Transpose',
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'MaxPool',
  'MaxPoolGrad',
  'AvgPool',
  'AvgPoolGrad',
  'PadV2',
  'Tile',
];
