import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions the N-API addon exports (native/addon.cc). Shapes are planned and validated on the JS side. */
export interface NativeAddon {
  sgemmBatched(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    batch: number,
    aOffsets: Int32Array | null,
    bOffsets: Int32Array | null,
  ): void;
  sgemmPeak(n: number, reps: number): number;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array | Uint8Array, dims: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number, beta: number): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, r: number, inner: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number, log: boolean): void;
  transpose(x: Float32Array, out: Float32Array, dims: Int32Array, perm: Int32Array): void;
  adamStep(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    outW: Float32Array,
    outM: Float32Array,
    outV: Float32Array,
    outStep: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    c1: number,
    c2: number,
    decay: number,
  ): void;
  /**
   * One SGD step: with v (momentum) v' = μ·v + g and d = v' (Nesterov: g + μ·v'), else d = g; step = −lr·d,
   * w' = (1−decay)·w + step (w + step when decay is 0). outV is written only with v, outStep only when given; outW = w
   * and outV = v update in place.
   */
  sgdStep(
    w: Float32Array,
    g: Float32Array,
    v: Float32Array | null,
    outW: Float32Array,
    outV: Float32Array | null,
    outStep: Float32Array | null,
    lr: number,
    momentum: number,
    nesterov: boolean,
    decay: number,
  ): void;
  /** The step `sgdStep` writes, from g and the velocity after its update (null without momentum). */
  sgdStepValues(g: Float32Array, newV: Float32Array | null, out: Float32Array, lr: number, momentum: number, nesterov: boolean, decay: number): void;
  /** out[N·outH·outW, F] = im2col(x) · filter[kh·kw·C, F] (NHWC input, HWIO filter, dilation 1). */
  conv2d(x: Float32Array, filter: Float32Array, out: Float32Array, ...geometry: ConvGeometry): void;
  /** dx[N, H, W, C] = col2im(dy[N·outH·outW, F] · filterᵀ): the input gradient of `conv2d` with the same geometry. */
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, ...geometry: ConvGeometry): void;
  /** dw[kh·kw·C, F] = im2col(x)ᵀ · dy[N·outH·outW, F]: the filter gradient of `conv2d` with the same geometry. */
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, ...geometry: ConvGeometry): void;
  /**
   * A locally connected layer (a convolution without weight sharing): out[n, p, :] = patches(x)[n, p, :] · w[p] for every
   * location p of the geometry, w `[outH·outW, kh·kw·C, F]` with patch entries in (ky, kx, c) order, out `[N, outH, outW, F]`.
   */
  locallyConnected2d(x: Float32Array, w: Float32Array, out: Float32Array, ...geometry: ConvGeometry): void;
  /** dx[N, H, W, C]: the input gradient of `locallyConnected2d` (each location's dy · w[p]ᵀ added back onto its pixels). */
  locallyConnected2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, ...geometry: ConvGeometry): void;
  /** dw[p] = patches(x)[:, p, :]ᵀ · dy[:, p, :]: the kernel gradient of `locallyConnected2d`. */
  locallyConnected2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, ...geometry: ConvGeometry): void;
  /** Max pooling; when `argmax` is given (one byte per output element), also where each maximum is in its window (255: none). */
  maxPool(x: Float32Array, out: Float32Array, ...args: [...PoolGeometry, Uint8Array | null]): void;
  /**
   * dx of max pooling: each window's gradient to its first maximum (the cpu kernel's rule); x is the pooled input,
   * not read when `argmax` (maxPool's record for that x) is given.
   */
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, ...args: [...PoolGeometry, Uint8Array | null]): void;
  /** maxPoolGrad then dx·1_{x>0} (x: the pool's input, a relu's output; pooled: the pool's output), in one pass. */
  maxPoolReluGrad(dy: Float32Array, x: Float32Array, pooled: Float32Array, dx: Float32Array, ...args: [...PoolGeometry, Uint8Array | null]): void;
  avgPool(x: Float32Array, out: Float32Array, ...geometry: PoolGeometry): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, ...geometry: PoolGeometry): void;
  /** out (shape outDims) = value everywhere, x (shape inDims) copied in at offset `before`. */
  pad(x: Float32Array, out: Float32Array, inDims: Int32Array, before: Int32Array, outDims: Int32Array, value: number): void;
  tile(x: Float32Array, out: Float32Array, inDims: Int32Array, reps: Int32Array): void;
  /** Batch norm of x [M, C] with the batch's statistics; fills y, xhat [M, C] and mean, variance, invStd [C]. */
  batchNormTrain(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    xhat: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    invStd: Float32Array,
    m: number,
    c: number,
    epsilon: number,
  ): void;
  /** The training-mode batch-norm VJP: dx [M, C], dGamma, dBeta [C]. */
  batchNormGrad(
    dy: Float32Array,
    xhat: Float32Array,
    gamma: Float32Array,
    invStd: Float32Array,
    dx: Float32Array,
    dGamma: Float32Array,
    dBeta: Float32Array,
    m: number,
    c: number,
  ): void;
  /** out = dy · 1_{x > 0}. */
  reluGrad(dy: Float32Array, x: Float32Array, out: Float32Array): void;
  /** out = dy · (1 − y²), y = tanh(x). */
  tanhGrad(dy: Float32Array, y: Float32Array, out: Float32Array): void;
  info(): { openblasConfig: string; openblasThreads: number; openblasCoretype: string; elementwiseThreads: number; elementwiseKernels: string };
  useKernels(name: string): boolean;
  setThreads(openblas: number | null, elementwise: number | null): void;
}

/** N, H, W, C, kh, kw, F, strideH, strideW, padTop, padLeft, outH, outW: a convolution's geometry as the addon reads it. */
export type ConvGeometry = [number, number, number, number, number, number, number, number, number, number, number, number, number];

/** N, H, W, C, filterH, filterW, strideH, strideW, padTop, padLeft, outH, outW: a 2-D pooling's geometry (NHWC). */
export type PoolGeometry = [number, number, number, number, number, number, number, number, number, number, number, number];

/** Thrown on import when the addon is missing or does not load; its message says why and how to fix it. */
export class NativeAddonError extends Error {
  override readonly name = 'NativeAddonError';
  constructor(readonly reason: string) {
    super(
      `native addon not built: ${reason}; install libopenblas-dev (and a C++ compiler) and rebuild with ` +
        '`pnpm --filter @bioprop/tfjs-backend-blas build:native`',
    );
  }
}

/** The package root: src/ and dist/ both sit one level below it. */
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export interface LoadOptions {
  /** Where build/Release/bioprop_blas.node and build/native-status.json live (default: this package). */
  root?: string;
}

/** Load the addon, or throw a `NativeAddonError` naming the reason (build failure recorded at build time, or load error). */
export function loadNativeAddon(options: LoadOptions = {}): NativeAddon {
  const root = options.root ?? packageRoot;
  const addonPath = join(root, 'build', 'Release', 'bioprop_blas.node');
  const statusPath = join(root, 'build', 'native-status.json');
  // the build records why it failed; that reason wins over a stale addon
  if (existsSync(statusPath)) {
    let status: { ok?: boolean; reason?: string } = {};
    try {
      status = JSON.parse(readFileSync(statusPath, 'utf8')) as typeof status;
    } catch {
      /* unreadable: judge by the addon file alone */
    }
    if (status.ok === false) throw new NativeAddonError(status.reason ?? 'the native build failed');
  }
  if (!existsSync(addonPath)) throw new NativeAddonError(`${addonPath} does not exist (the package build has not run)`);
  try {
    const require = createRequire(import.meta.url);
    return require(addonPath) as NativeAddon;
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    throw new NativeAddonError(`${addonPath} failed to load (${message.split('\n')[0]})`);
  }
}
