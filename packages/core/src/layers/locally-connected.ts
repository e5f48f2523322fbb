import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError, checkNumber } from '../errors.js';
import { initParams } from './params.js';
import { KernelModuleBase, kernelLayerSpec, type KernelLayerOptions } from './kernel-spec.js';
import type { KernelModule, LayerSpec, ModuleConfig, Tensor, TensorMap, VariableMap } from '../types.js';
import { fusedKernels } from '../fused-kernels.js';

export type Padding = 'valid' | 'same';

/** Where every patch of a 2-D sliding window reads its pixels (shared by conv2d and locallyConnected2d). */
export interface PatchGeometry {
  readonly inH: number;
  readonly inW: number;
  readonly inC: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly outH: number;
  readonly outW: number;
  readonly padTop: number;
  readonly padLeft: number;
  /** Patch length `kh·kw·inC`, ordered (ky, kx, c) like a conv kernel `[kh, kw, inC, F]`. */
  readonly patchSize: number;
  /**
   * For location p = oy·outW + ox and offset k = ky·kw + kx, entry `p·kh·kw + k` is the pixel `y·inW + x` read,
   * or `inH·inW` (a zero pixel appended to the image) where the window hangs over the padding.
   */
  readonly indices: Int32Array;
  /** Whether any window reads padding (then the zero pixel is appended). */
  readonly readsPadding: boolean;
  readonly padding: Padding;
}

/** A pair `[h, w]` from a number or a pair, validated as positive integers. */
export function pair(where: string, v: number | readonly [number, number] | readonly number[]): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2) throw new OptionError(`${where} must be a number or [h, w], got ${JSON.stringify(v)}`);
  return [checkNumber(`${where}[0]`, p[0], { min: 1, integer: true }), checkNumber(`${where}[1]`, p[1], { min: 1, integer: true })];
}

/** TensorFlow's window arithmetic: output size and the padding before the first row/column. */
function axis(size: number, k: number, s: number, padding: Padding): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - k) / s) + 1, before: 0 };
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** The patch geometry of a `kernelSize`/`strides`/`padding` window over an NHWC sample of shape `inputShape`. */
export function patchGeometry(
  where: string,
  inputShape: readonly number[],
  kernelSize: readonly [number, number],
  strides: readonly [number, number],
  padding: Padding,
): PatchGeometry {
  if (inputShape.length !== 3) {
    throw new ShapeError(`${where}: expects an image input [height, width, channels] (NHWC), got [${inputShape.join(', ')}]`);
  }
  if (padding !== 'valid' && padding !== 'same') throw new OptionError(`${where}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
  const [inH, inW, inC] = inputShape;
  const [kh, kw] = kernelSize;
  const [sh, sw] = strides;
  if (padding === 'valid' && (kh > inH || kw > inW)) {
    throw new ShapeError(`${where}: kernel ${kh}×${kw} is larger than the ${inH}×${inW} input with 'valid' padding`);
  }
  const ay = axis(inH, kh, sh, padding);
  const ax = axis(inW, kw, sw, padding);
  const outH = ay.out;
  const outW = ax.out;
  const zero = inH * inW;
  const indices = new Int32Array(outH * outW * kh * kw);
  let readsPadding = false;
  let i = 0;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          const y = oy * sh + ky - ay.before;
          const x = ox * sw + kx - ax.before;
          const inside = y >= 0 && y < inH && x >= 0 && x < inW;
          if (!inside) readsPadding = true;
          indices[i++] = inside ? y * inW + x : zero;
        }
      }
    }
  }
  return { inH, inW, inC, kh, kw, sh, sw, outH, outW, padTop: ay.before, padLeft: ax.before, patchSize: kh * kw * inC, indices, readsPadding, padding };
}

const identityBanks = new WeakMap<PatchGeometry, Float32Array>();

/** The one-hot filter bank `[kh, kw, C, kh·kw·C]` whose output channel (ky, kx, c) copies that tap. */
function identityBank(g: PatchGeometry): Float32Array {
  let bank = identityBanks.get(g);
  if (!bank) {
    bank = new Float32Array(g.patchSize * g.patchSize);
    for (let j = 0; j < g.patchSize; j++) bank[j * g.patchSize + j] = 1;
    identityBanks.set(g, bank);
  }
  return bank;
}

/**
 * im2col: `[N, H, W, C]` (or flat) → `[N, P, kh·kw·C]`, extracted ONCE by a convolution with an identity filter
 * bank (on wasm a native convolution is several times faster than a gather; both are exact copies).
 */
export function extractPatches(input: Tensor, g: PatchGeometry): Tensor {
  const n = input.shape[0];
  const image = tf.reshape(input, [n, g.inH, g.inW, g.inC]) as tf.Tensor4D;
  const bank = tf.tensor4d(identityBank(g), [g.kh, g.kw, g.inC, g.patchSize]);
  return tf.reshape(tf.conv2d(image, bank, [g.sh, g.sw], g.padding), [n, g.outH * g.outW, g.patchSize]);
}

/**
 * The transpose of `extractPatches`, from patches laid out `[P, N, kh·kw·C]`: every patch entry is added back
 * onto the pixel it was read from (one scatter-add), padding reads are dropped. Returns `[N, H, W, C]`.
 */
export function scatterPatches(patchesPNK: Tensor, g: PatchGeometry): Tensor {
  const p = g.outH * g.outW;
  const n = patchesPNK.shape[1] as number;
  const taps = g.kh * g.kw;
  // rows ordered (p, k) like `indices`, each row one pixel's N·C values
  const rows = tf.reshape(tf.transpose(tf.reshape(patchesPNK, [p, n, taps, g.inC]), [0, 2, 1, 3]), [p * taps, n * g.inC]);
  const pixelCount = g.inH * g.inW + (g.readsPadding ? 1 : 0);
  let image = tf.scatterND(tf.tensor2d(g.indices, [g.indices.length, 1], 'int32'), rows, [pixelCount, n * g.inC]);
  if (g.readsPadding) image = tf.slice(image, [0, 0], [g.inH * g.inW, n * g.inC]);
  return tf.transpose(tf.reshape(image, [g.inH, g.inW, n, g.inC]), [2, 0, 1, 3]);
}

/** Options of the patch-based layers, `conv2d` and `locallyConnected2d`. */
export interface PatchLayerOptions extends KernelLayerOptions {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
}

export type LocallyConnected2dOptions = PatchLayerOptions;

type PatchLayerConstructor = new (
  name: string,
  inputShape: number[],
  filters: number,
  kernelSize: [number, number],
  strides: [number, number],
  padding: Padding,
  params: VariableMap,
) => KernelModule;

/**
 * The spec of a patch-based layer: options validated once, then at build the geometry, the conv fans (Glorot with
 * `kh·kw·inC` and `kh·kw·filters` unless told otherwise) and seeded params whose shapes `shapes` gives for the kind.
 */
export function patchLayerSpec(
  kind: string,
  options: PatchLayerOptions,
  shapes: (g: PatchGeometry, filters: number) => { kernel: number[]; bias: number[] },
  Make: PatchLayerConstructor,
): LayerSpec {
  if (!options || typeof options !== 'object') throw new OptionError(`${kind}: options must be { filters, kernelSize, … }`);
  checkNumber(`${kind} filters`, options.filters, { min: 1, integer: true });
  const kernelSize = pair(`${kind} kernelSize`, options.kernelSize);
  const strides = pair(`${kind} strides`, options.strides ?? 1);
  const padding = options.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new OptionError(`${kind}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
  const geometry = { filters: options.filters, kernelSize, strides, padding };
  return kernelLayerSpec(kind, geometry, options, (ctx) => {
    const g = patchGeometry(`${kind} ${ctx.name}`, ctx.inputShape, kernelSize, strides, padding);
    const fan = { fanIn: g.patchSize, fanOut: g.kh * g.kw * options.filters };
    const { kernel, bias } = shapes(g, options.filters);
    const params = initParams(kernel, options.useBias !== false ? bias : null, fan, options, ctx.random);
    return new Make(ctx.name, [...ctx.inputShape], options.filters, kernelSize, strides, padding, params);
  });
}

/**
 * A 2-D locally connected layer: a convolution WITHOUT weight sharing, every output location has its own filter
 * bank. NHWC; kernel `[outH·outW, kh·kw·inC, filters]` (patch entries ordered (ky, kx, c)), bias `[outH, outW, filters]`.
 */
export function locallyConnected2d(options: LocallyConnected2dOptions): LayerSpec {
  return patchLayerSpec(
    'locallyConnected2d',
    options,
    (g, f) => ({ kernel: [g.outH * g.outW, g.patchSize, f], bias: [g.outH, g.outW, f] }),
    LocallyConnected2dLayer,
  );
}

/**
 * Native locally connected kernels a backend may register (blas does), run in place of the tf-op path (patches by
 * an identity convolution, a batched matmul over locations, a scatter back) when no gradient tape is recording (they
 * have no gradient). Attrs of all three: `{ kernelSize: [kh, kw], strides: [sh, sw], pad: [top, left], outShape:
 * [outH, outW] }`. `BiopropLocallyConnected2d`: inputs `{ x: [N, H, W, C], kernel }` → `[N, outH, outW, F]`, no
 * bias; `…BackpropInput`: inputs `{ dy: [N, outH, outW, F], kernel }`, attr `inputShape` → `[N, H, W, C]`;
 * `…BackpropFilter`: inputs `{ x, dy }` → `[outH·outW, kh·kw·C, F]`. They compute the same sums as the tf-op path;
 * only the order of the additions may differ.
 */
export const LOCALLY_CONNECTED_KERNEL = 'BiopropLocallyConnected2d';
export const LOCALLY_CONNECTED_INPUT_GRAD_KERNEL = 'BiopropLocallyConnected2dBackpropInput';
export const LOCALLY_CONNECTED_FILTER_GRAD_KERNEL = 'BiopropLocallyConnected2dBackpropFilter';
const LOCALLY_CONNECTED_KERNELS = [LOCALLY_CONNECTED_KERNEL, LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, LOCALLY_CONNECTED_FILTER_GRAD_KERNEL];

export class LocallyConnected2dLayer extends KernelModuleBase implements KernelModule {
  readonly kind = 'locallyConnected2d';
  readonly kernelName = 'kernel';
  readonly outputShape: number[];
  readonly fan: { fanIn: number; fanOut: number };
  readonly geometry: PatchGeometry;
  readonly inputShapes: readonly (readonly number[])[];

  constructor(
    readonly name: string,
    readonly inputShape: number[],
    readonly filters: number,
    readonly kernelSize: [number, number],
    readonly strides: [number, number],
    readonly padding: Padding,
    readonly params: VariableMap,
  ) {
    super();
    this.inputShapes = [inputShape];
    this.geometry = patchGeometry(`locallyConnected2d ${name}`, inputShape, kernelSize, strides, padding);
    const g = this.geometry;
    this.outputShape = [g.outH, g.outW, filters];
    this.fan = { fanIn: g.patchSize, fanOut: g.kh * g.kw * filters };
  }

  private locations(): number {
    return this.geometry.outH * this.geometry.outW;
  }

  /** `[N, ...]` → patches laid out `[P, N, K]` for the batched matmul over locations. */
  private patchesPNK(input: Tensor): Tensor {
    return tf.transpose(extractPatches(this.image(input), this.geometry), [1, 0, 2]);
  }

  /** `[N, outH, outW, F]` (or flat) → `[P, N, F]`. */
  private deltaPNF(delta: Tensor): Tensor {
    return tf.transpose(tf.reshape(delta, [delta.shape[0], this.locations(), this.filters]), [1, 0, 2]);
  }

  /** The native kernels' attrs: core's patch geometry. */
  private kernelAttrs(): tf.NamedAttrMap {
    const g = this.geometry;
    return { kernelSize: [g.kh, g.kw], strides: [g.sh, g.sw], pad: [g.padTop, g.padLeft], outShape: [g.outH, g.outW] };
  }

  /** `[N, ...]` (flat or an image) → `[N, H, W, C]`, checked. */
  private image(input: Tensor): Tensor {
    const size = input.shape.slice(1).reduce((a, b) => a * b, 1);
    const want = this.inputShape.reduce((a, b) => a * b, 1);
    if (size !== want) {
      throw new ShapeError(`layer ${this.name}: expected input [N, ${this.inputShape.join(', ')}], got [${input.shape.join(', ')}]`);
    }
    return tf.reshape(input, [input.shape[0], ...this.inputShape]);
  }

  linear(input: Tensor, params?: TensorMap): Tensor {
    const kernel = params?.kernel ?? this.params.kernel;
    const bias = params?.bias ?? this.params.bias;
    const n = input.shape[0];
    let out: Tensor;
    if (fusedKernels(...LOCALLY_CONNECTED_KERNELS)) {
      out = tf.engine().runKernel(LOCALLY_CONNECTED_KERNEL, { x: this.image(input), kernel }, this.kernelAttrs()) as Tensor;
    } else {
      // one batched matmul over locations: [P, N, K] × [P, K, F] → [P, N, F]
      const z = tf.matMul(this.patchesPNK(input), kernel);
      out = tf.reshape(tf.transpose(z, [1, 0, 2]), [n, ...this.outputShape]);
    }
    return bias ? tf.add(out, bias) : out;
  }

  backwardInput(delta: Tensor, kernel: Tensor): Tensor {
    if (fusedKernels(...LOCALLY_CONNECTED_KERNELS)) {
      const dy = tf.reshape(delta, [delta.shape[0], ...this.outputShape]);
      return tf.engine().runKernel(LOCALLY_CONNECTED_INPUT_GRAD_KERNEL, { dy, kernel }, { ...this.kernelAttrs(), inputShape: [delta.shape[0], ...this.inputShape] }) as Tensor;
    }
    // explicit transpose: wasm's matMul is 5–15× slower with transpose flags
    const dPatches = tf.matMul(this.deltaPNF(delta), tf.transpose(kernel, [0, 2, 1]));
    return scatterPatches(dPatches, this.geometry);
  }

  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    if (fusedKernels(...LOCALLY_CONNECTED_KERNELS)) {
      const dy = tf.reshape(delta, [delta.shape[0], ...this.outputShape]);
      const grads: TensorMap = { kernel: tf.engine().runKernel(LOCALLY_CONNECTED_FILTER_GRAD_KERNEL, { x: this.image(input), dy }, this.kernelAttrs()) as Tensor };
      if (this.params.bias) grads.bias = tf.sum(dy, 0);
      return grads;
    }
    const d = this.deltaPNF(delta);
    const grads: TensorMap = { kernel: tf.matMul(tf.transpose(this.patchesPNK(input), [0, 2, 1]), d) };
    if (this.params.bias) grads.bias = tf.reshape(tf.sum(d, 1), this.outputShape);
    return grads;
  }

  config(): ModuleConfig {
    return patchConfig(this);
  }
}

/** The config of a patch-based kernel module (conv2d, locally connected). */
export function patchConfig(m: KernelModule & { filters: number; kernelSize: [number, number]; strides: [number, number]; padding: Padding }): ModuleConfig {
  return {
    kind: m.kind,
    name: m.name,
    filters: m.filters,
    kernelSize: [...m.kernelSize],
    strides: [...m.strides],
    padding: m.padding,
    useBias: m.params.bias !== undefined,
  };
}
