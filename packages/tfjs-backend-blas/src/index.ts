/**
 * @bioprop/tfjs-backend-blas: importing this module registers the TensorFlow.js backend `blas` (the cpu
 * backend with OpenBLAS sgemm and native elementwise kernels). When the native addon is not built the import
 * throws a `NativeAddonError` saying why, so `resolveBackend('auto')` falls back to wasm or cpu.
 */
import '@tensorflow/tfjs-backend-cpu';
import { availableParallelism } from 'node:os';
import { registerBlas } from './backend.js';
import { loadNativeAddon } from './native.js';
import type { NativeAddon } from './native.js';

/** Environment variables through which a user sets OpenBLAS' thread count; when one is set, it is left alone. */
const OPENBLAS_THREAD_VARS = ['OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS', 'OMP_NUM_THREADS'];

/**
 * Thread defaults. OpenBLAS starts one thread per core and its workers spin between calls; on a machine with at
 * most 2 cores that was slower for a batch-128 training step (measured in the README), so there it runs on the
 * calling thread alone unless the user set one of OPENBLAS_THREAD_VARS. `BIOPROP_BLAS_THREADS` sets the
 * elementwise kernels' threads (default 1: splitting memory-bound loops did not pay on 2 cores).
 */
function applyThreadEnv(a: NativeAddon): void {
  const env = process.env;
  if (!OPENBLAS_THREAD_VARS.some((k) => env[k]) && availableParallelism() <= 2) a.setThreads(1, null);
  const n = env.BIOPROP_BLAS_THREADS === undefined ? NaN : Number(env.BIOPROP_BLAS_THREADS);
  if (Number.isInteger(n) && n >= 1) a.setThreads(null, n);
}

// on import: load the addon (throws, saying why, when it is not built), apply thread defaults, register `blas`
const addon: NativeAddon = loadNativeAddon();
applyThreadEnv(addon);
registerBlas(addon);

export interface BlasInfo {
  /** OpenBLAS' build string, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH … Cooperlake MAX_THREADS=64`. */
  openblasConfig: string;
  /** The kernel set OpenBLAS picked for this CPU. */
  openblasCoretype: string;
  /** Threads OpenBLAS uses for sgemm (OPENBLAS_NUM_THREADS; default all cores, but 1 on machines with ≤ 2 cores). */
  openblasThreads: number;
  /** Threads of the native elementwise kernels (BIOPROP_BLAS_THREADS, default 1). */
  elementwiseThreads: number;
  /** The elementwise kernel set in use: `avx2+fma` when the CPU has both, else `baseline`. */
  elementwiseKernels: string;
}

/** What the native side runs on. */
export function blasInfo(): BlasInfo {
  return addon.info();
}

/** Change thread counts at run time: `openblas` for sgemm, `elementwise` for the native elementwise kernels. */
export function setBlasThreads(threads: { openblas?: number; elementwise?: number }): void {
  for (const [k, v] of Object.entries(threads)) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 256)) throw new RangeError(`setBlasThreads: ${k} must be an integer in [1, 256], got ${v}`);
  }
  addon.setThreads(threads.openblas ?? null, threads.elementwise ?? null);
}

/** The elementwise kernel sets the addon carries (`avx2+fma` only where the CPU supports it). */
export type ElementwiseKernelSet = 'baseline' | 'avx2+fma';

/** Switch the elementwise kernel set (for comparisons and tests); returns false when the CPU lacks it. */
export function useElementwiseKernels(set: ElementwiseKernelSet): boolean {
  return addon.useKernels(set);
}

export interface SgemmPeakOptions {
  /** Matrix side (default 1024: a 1024×1024 by 1024×1024 product, 2.15 GFLOP). */
  size?: number;
  /** Timed repetitions after one warm-up; the best is reported (default 5). */
  reps?: number;
}

/** The raw sgemm rate through the addon, in GFLOP/s (best of `reps` n³ products): the peak efficiencies divide by. */
export function measureSgemmPeak(options: SgemmPeakOptions = {}): number {
  const size = options.size ?? 1024;
  const reps = options.reps ?? 5;
  if (!Number.isInteger(size) || size < 1 || size > 8192) throw new RangeError(`measureSgemmPeak: size must be an integer in [1, 8192], got ${size}`);
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`measureSgemmPeak: reps must be a positive integer, got ${reps}`);
  return addon.sgemmPeak(size, reps);
}

export {
  ADAM_STEP_KERNEL,
  BACKEND_NAME,
  MAX_POOL_RELU_GRAD_KERNEL,
  BATCH_NORM_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  LOCALLY_CONNECTED_FILTER_GRAD_KERNEL,
  LOCALLY_CONNECTED_INPUT_GRAD_KERNEL,
  LOCALLY_CONNECTED_KERNEL,
  NATIVE_KERNEL_NAMES,
  RELU_GRAD_KERNEL,
  SGD_STEP_KERNEL,
  SOFTMAX_CE_GRAD_KERNEL,
  SOFTMAX_CE_KERNEL,
  TANH_GRAD_KERNEL,
  kernelStats,
  resetKernelStats,
} from './kernels.js';
export type { KernelStats } from './kernels.js';
export { BlasBackend, BACKEND_PRIORITY } from './backend.js';
export { NativeAddonError, loadNativeAddon } from './native.js';
export type { NativeAddon, LoadOptions } from './native.js';
