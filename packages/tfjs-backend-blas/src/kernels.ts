import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { ConvGeometry, NativeAddon } from './native.js';
import { planBinary, planMatMul, planReduce, planTranspose } from './plan.js';

/** The tfjs backend name this package registers. */
export const BACKEND_NAME = 'blas';

/**
 * The fused Adam kernel `@bioprop/core`'s `adam` runs when the active backend registers it (core exports the same
 * name as `ADAM_STEP_KERNEL`; this package does not depend on core at run time, so it spells it out).
 */
export const ADAM_STEP_KERNEL = 'BiopropAdamStep';

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

interface LazyTransposes {
  makeLazyTranspose(src: Float32Array, rows: number, cols: number, outShape: number[]): TensorInfo;
  lazyTransposeSource(t: TensorInfo): Float32Array | null;
}
const lazyCapable = (backend: Backend): (Backend & LazyTransposes) | null =>
  typeof (backend as Backend & Partial<LazyTransposes>).makeLazyTranspose === 'function' ? (backend as Backend & LazyTransposes) : null;

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
  const convGeometry = (xShape: readonly number[], filter: TensorInfo, attrs: NamedAttrMap, dilations: unknown): ConvGeometry | null => {
    const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
    if (dataFormat !== 'NHWC' || xShape.length !== 4 || filter.shape.length !== 4 || filter.shape[2] !== xShape[3]) return null;
    if (sizeOf(xShape) === 0 || sizeOf(filter.shape) === 0) return null;
    const info = backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filter.shape as [number, number, number, number],
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
    const g = convGeometry(inputs.x.shape, inputs.filter, attrs, attrs.dilations ?? 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const out = alloc(backend, n * outH * outW * outC);
    addon.conv2d(xv, wv, out, ...g);
    return backend.makeTensorInfo([n, outH, outW, outC], 'float32', out);
  });

  add('Conv2DBackpropInput', ({ inputs, backend, attrs }) => {
    const dyv = f32(backend, inputs.dy);
    const wv = f32(backend, inputs.filter);
    if (!dyv || !wv) return null;
    const inputShape = attrs.inputShape as number[];
    // the kernel has no dilations (the cpu kernel assumes 1)
    const g = convGeometry(inputShape, inputs.filter, attrs, 1);
    if (!g) return null;
    const [n, , , , , , outC, , , , , outH, outW] = g;
    const dy = inputs.dy.shape;
    if (dy.length !== 4 || dy[0] !== n || dy[1] !== outH || dy[2] !== outW || dy[3] !== outC) return null;
    const dx = alloc(backend, sizeOf(inputShape));
    addon.conv2dBackpropInput(dyv, wv, dx, ...g);
    return backend.makeTensorInfo([...inputShape], 'float32', dx);
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
    const outs = [alloc(backend, n), alloc(backend, n), alloc(backend, n), alloc(backend, n)];
    addon.adamStep(values[0], values[1], values[2], values[3], outs[0], outs[1], outs[2], outs[3], attr('lr'), attr('beta1'), attr('beta2'), attr('epsilon'), attr('c1'), attr('c2'), attr('decay'));
    stats.native[ADAM_STEP_KERNEL] = (stats.native[ADAM_STEP_KERNEL] ?? 0) + 1;
    return outs.map((o) => backend.makeTensorInfo(w.shape, 'float32', o));
  };
  configs.push({ kernelName: ADAM_STEP_KERNEL, backendName: BACKEND_NAME, kernelFunc: adamStep });

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
  'Conv2DBackpropInput',
];
