import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { BACKEND_NAME, NATIVE_KERNEL_NAMES, nativeKernels } from './kernels.js';
import type { NativeAddon } from './native.js';

type DataId = TensorInfo['dataId'];
type BackendValues = Parameters<MathBackendCPU['write']>[0];

/**
 * Pool limits: enough for every output of a training step to be recycled (a ResNet-20 step at batch 128 frees ~100
 * buffers of 8 MB and ~1 GB in all; with a 128 MB pool most of them were fresh arrays, whose zero-filling and page
 * faults cost 2–3 ns per float), bounded so an idle pool stays a small share of the machine: 1 GiB or an eighth of
 * its memory, whichever is less.
 */
export const POOL_PER_LENGTH = 512;
/** Outputs of at most this many floats are plain fresh arrays, never pooled. */
const SMALL_FLOATS = 16;
export const POOL_MAX_BYTES = Math.min(1024 * 1024 * 1024, Math.floor(totalmem() / 8));

/** The data entry of a deferred tensor: the cpu backend's `{ values, dtype, refCount }`, values computed on first read. */
class DeferredEntry {
  refCount = 1;
  readonly dtype = 'float32';
  private computed: BackendValues | null = null;

  constructor(
    private readonly owner: BlasBackend,
    private readonly dataId: DataId,
  ) {}

  get values(): BackendValues {
    return (this.computed ??= this.owner.materializeDeferred(this.dataId));
  }

  set values(v: BackendValues) {
    this.computed = v;
  }
}

/** Values computed on first read (see `BlasBackend.makeDeferred`). */
interface Deferred {
  length: number;
  sources: Float32Array[];
  compute(out: Float32Array): void;
  transpose?: { src: Float32Array; rows: number; cols: number };
}

/**
 * The cpu backend with its hot kernels replaced by native ones. Tensor storage is the cpu backend's (plain
 * TypedArrays), so every cpu kernel runs unchanged on it and data moves to and from `cpu` without conversion.
 *
 * It also recycles the float32 buffers of native kernel outputs: a disposed output's buffer goes back to a
 * pool by length and the next native kernel of that length writes into it. That saves the zero-filling and
 * first-touch page faults of a fresh multi-megabyte Float32Array and the GC work of freeing it (a 784×1000
 * gradient is 3 MB, several per step). A buffer is recycled only when no tensor data references it any more
 * (cpu kernels may make views of it: every reference is counted) and it never left the backend (`dataSync`,
 * `data`, `arraySync`… all go through `readSync`, which marks the buffer as escaped for good).
 */
export class BlasBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private readonly users = new WeakMap<ArrayBufferLike, number>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private hits = 0;
  private misses = 0;
  /**
   * Values not computed yet: what computes them (into a fresh array of `length`) from `sources`, which stay retained
   * (never recycled nor overwritten in place) until then. A pending 2-D transpose also names its source matrix
   * `[rows, cols]`, which a matrix product reads with the transpose flag instead.
   */
  private readonly lazy = new WeakMap<DataId, Deferred>();

  /**
   * The standard tfjs kernels this backend runs natively (for float32 data). Core reads it to choose between paths
   * that every backend can run and one that is fast only here: `tf.conv2dBackpropFilter` is native on blas but a slow
   * JavaScript loop on cpu, and missing on wasm.
   */
  readonly nativeKernels: ReadonlySet<string> = new Set(NATIVE_KERNEL_NAMES);

  constructor(readonly addon: NativeAddon) {
    super();
    // the cpu backend's first write prints "install the node backend to speed things up": not true of this one
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** A float32 buffer for a native kernel to overwrite completely (recycled when one of this length is free). */
  allocFloat32(length: number): Float32Array {
    // a few floats: not worth pooling
    if (length <= SMALL_FLOATS) return new Float32Array(length);
    const hit = this.pool.get(length)?.pop();
    if (hit) {
      this.pooledBytes -= hit.byteLength;
      this.hits++;
      return hit;
    }
    this.misses++;
    const fresh = new Float32Array(length);
    this.owned.add(fresh.buffer);
    return fresh;
  }

  /**
   * The values of `t` when a kernel may overwrite them in place: float32 data that only `t` refers to (one tensor
   * handle on its data, no view or pending transpose of its buffer), in a buffer this backend allocated and that never
   * left it (no `dataSync` caller holds it). The fused optimizer kernels update variables this way when the caller
   * asks, saving the traffic of fresh output arrays; null when any of that does not hold.
   */
  overwritable(t: TensorInfo): Float32Array | null {
    if (t.dtype !== 'float32' || this.lazy.has(t.dataId) || !this.data.has(t.dataId)) return null;
    const entry = this.data.get(t.dataId);
    const values = entry.values;
    if (entry.refCount !== 1 || !(values instanceof Float32Array)) return null;
    const buffer = values.buffer;
    if (!this.owned.has(buffer) || this.escaped.has(buffer) || this.users.get(buffer) !== 1) return null;
    return values.byteOffset === 0 && values.byteLength === buffer.byteLength ? values : null;
  }

  /** Buffers and bytes waiting in the pool, and how many allocations it served or missed (for tests and reports). */
  poolStats(): { buffers: number; bytes: number; hits: number; misses: number } {
    let buffers = 0;
    for (const list of this.pool.values()) buffers += list.length;
    return { buffers, bytes: this.pooledBytes, hits: this.hits, misses: this.misses };
  }

  /**
   * A 2-D transpose whose values are computed on first read. A matrix product reading it passes the source to
   * sgemm with the transpose flag instead (core's dense layer transposes explicitly, for wasm's sake; here the
   * flag is free), so `matMul(transpose(x), δ)` costs no transpose at all.
   */
  makeLazyTranspose(src: Float32Array, rows: number, cols: number, outShape: number[]): TensorInfo {
    const compute = (out: Float32Array) => this.addon.transpose(src, out, Int32Array.of(rows, cols), Int32Array.of(1, 0));
    return this.makeDeferred(outShape, rows * cols, [src], compute, { src, rows, cols });
  }

  /**
   * A float32 tensor of `shape` whose `length` values `compute` writes on first read, from `sources` (which must not
   * change until then: they stay retained, so no kernel recycles or overwrites them in place). Disposed unread, it is
   * never computed. The fused SGD kernel returns its step this way: most callers never read it.
   */
  makeDeferred(shape: number[], length: number, sources: Float32Array[], compute: (out: Float32Array) => void, transpose?: Deferred['transpose']): TensorInfo {
    // an entry of its own class (a getter on its prototype, not one defined per entry: that cost ~5 µs a tensor)
    const dataId = { id: (this as unknown as { nextDataId(): number }).nextDataId() };
    this.data.set(dataId, new DeferredEntry(this, dataId) as never);
    for (const src of sources) this.retain(src);
    this.lazy.set(dataId, { length, sources, compute, transpose });
    return { dataId, shape, dtype: 'float32' };
  }

  /** The source of a pending 2-D transpose when `t` is one (of shape `[cols, rows]`, leading dims all 1). */
  lazyTransposeSource(t: TensorInfo): Float32Array | null {
    const lz = this.lazy.get(t.dataId)?.transpose;
    if (!lz || t.shape.length < 2) return null;
    const r = t.shape.length;
    for (let d = 0; d < r - 2; d++) if (t.shape[d] !== 1) return null;
    return t.shape[r - 2] === lz.cols && t.shape[r - 1] === lz.rows ? lz.src : null;
  }

  /** The values of a deferred entry, computed now (once: the entry keeps them). */
  materializeDeferred(dataId: DataId): Float32Array {
    const lz = this.lazy.get(dataId)!;
    this.lazy.delete(dataId);
    const out = this.allocFloat32(lz.length);
    lz.compute(out);
    this.retain(out);
    for (const src of lz.sources) this.release(src);
    return out;
  }

  private retain(values: BackendValues | undefined): void {
    if (values && ArrayBuffer.isView(values) && this.owned.has(values.buffer)) {
      this.users.set(values.buffer, (this.users.get(values.buffer) ?? 0) + 1);
    }
  }

  private release(values: BackendValues | undefined): void {
    if (!values || !ArrayBuffer.isView(values)) return;
    const buffer = values.buffer;
    if (!this.owned.has(buffer)) return;
    const left = (this.users.get(buffer) ?? 1) - 1;
    this.users.set(buffer, left);
    if (left > 0 || this.escaped.has(buffer)) return;
    if (!(values instanceof Float32Array) || values.byteOffset !== 0 || values.byteLength !== buffer.byteLength) return;
    const list = this.pool.get(values.length) ?? [];
    if (list.length >= POOL_PER_LENGTH || this.pooledBytes + values.byteLength > POOL_MAX_BYTES) return;
    list.push(values);
    this.pool.set(values.length, list);
    this.pooledBytes += values.byteLength;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    this.retain(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    if (this.data.has(dataId)) this.release(this.data.get(dataId).values);
    this.retain(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const entry = this.data.has(dataId) ? this.data.get(dataId) : undefined;
    const done = super.disposeData(dataId, force);
    if (entry && !this.data.has(dataId)) {
      // values never read: dropped without computing them
      const lz = this.lazy.get(dataId);
      if (lz) {
        this.lazy.delete(dataId);
        for (const src of lz.sources) this.release(src);
      } else {
        this.release(entry.values);
      }
    }
    return done;
  }

  override readSync(dataId: DataId): BackendValues {
    // the caller may keep the array: its buffer must never be recycled
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    if (values && ArrayBuffer.isView(values)) this.escaped.add(values.buffer);
    return super.readSync(dataId);
  }

  override dispose(): void {
    this.pool.clear();
    this.pooledBytes = 0;
    super.dispose();
  }
}

/** Priority above wasm (2) and cpu (1): importing this package makes it tfjs' default backend. */
export const BACKEND_PRIORITY = 3;

/**
 * Register the `blas` backend and its kernels: every cpu kernel is copied under the name `blas`, then the
 * native ones replace the hot kernels (each falls back to the cpu kernel for what it does not handle).
 * Idempotent: a second call (a second copy of the module) changes nothing.
 */
export function registerBlas(addon: NativeAddon): void {
  if (tf.getKernelsForBackend(BACKEND_NAME).length === 0) {
    const cpuConfigs = tf.getKernelsForBackend('cpu');
    if (cpuConfigs.length === 0) throw new Error('@tensorflow/tfjs-backend-cpu registered no kernels; the blas backend builds on them');
    const cpuKernel = (name: string) => {
      const config = tf.getKernel(name, 'cpu');
      if (!config) throw new Error(`the cpu backend has no ${name} kernel`);
      return config.kernelFunc;
    };
    const native = nativeKernels(addon, cpuKernel);
    const replaced = new Set(native.map((k) => k.kernelName));
    for (const config of cpuConfigs) {
      if (!replaced.has(config.kernelName)) tf.registerKernel({ ...config, backendName: BACKEND_NAME });
    }
    for (const config of native) tf.registerKernel(config);
  }
  if (!tf.findBackendFactory(BACKEND_NAME)) tf.registerBackend(BACKEND_NAME, () => new BlasBackend(addon), BACKEND_PRIORITY);
}
