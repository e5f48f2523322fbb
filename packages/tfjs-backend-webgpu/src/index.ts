import * as tf from '@tensorflow/tfjs-core';

/** The device the "webgpu" backend runs on, as the resolver and `bioprop bench` report it. */
export interface WebGPUAdapterInfo {
  /** Software rasterizers (Mesa llvmpipe/lavapipe, SwiftShader) and fallback adapters: `auto` never takes these. */
  isSoftware: boolean;
  /** One line: vendor, architecture, device and driver, e.g. `llvmpipe-llvm-15-0-6-256-bits-, OpenGL version 4.5 Core Profile Mesa 22.3.6`. */
  description: string;
  vendor: string;
  architecture: string;
  device: string;
  /** The driver's own description (Dawn puts the GL/Vulkan version here). */
  driver: string;
  /** What the adapter itself says (`GPUAdapterInfo.isFallbackAdapter`). */
  isFallbackAdapter: boolean;
  /** The Dawn toggles the instance was created with (`[]`: Dawn's default backend, `['backend=opengl']`, …). */
  dawnOptions: readonly string[];
  /** The `requestAdapter` options that found it (`{ featureLevel: 'compatibility' }` for OpenGL). */
  adapterOptions: Readonly<Record<string, unknown>>;
}

export interface RegisterWebGPUOptions {
  /**
   * Accept a software adapter when no hardware one is found (default false: then `registerWebGPU` throws). The
   * CLI's loader passes true and lets the resolver decide: `auto` skips software, `--backend webgpu` takes it.
   */
  allowSoftware?: boolean;
  /**
   * Dawn instance toggles to use instead of the default search (`[]` first, which finds Vulkan/Metal/D3D, then
   * `['backend=opengl']` with `featureLevel: 'compatibility'`, which finds EGL/OpenGL, including Mesa's llvmpipe).
   */
  dawnOptions?: readonly string[];
  /** `requestAdapter` options used with `dawnOptions` (default `{ featureLevel: 'compatibility' }` when they select OpenGL). */
  adapterOptions?: Record<string, unknown>;
  /** Priority the "webgpu" backend is registered with (default 0: never picked implicitly; the resolver sets it). */
  priority?: number;
}

/** No usable WebGPU adapter, or one the options refuse. */
export class WebGPUUnavailableError extends Error {
  override readonly name = 'WebGPUUnavailableError';
  constructor(
    message: string,
    /** The adapters found and refused (software ones when `allowSoftware` is false). */
    readonly found: readonly WebGPUAdapterInfo[] = [],
  ) {
    super(message);
  }
}

/** A synchronous read (`dataSync`, `arraySync`) of a tensor that lives on the GPU, where Node cannot do one. */
export class WebGPUSyncReadError extends Error {
  override readonly name = 'WebGPUSyncReadError';
}

// Minimal shapes of the WebGPU objects used here (the `webgpu` package types them fully through @webgpu/types).
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor?: unknown): Promise<DeviceLike>;
}
interface DeviceLike {
  lost?: Promise<{ message?: string; reason?: string }>;
  features: { has(name: string): boolean };
}
interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
  wgslLanguageFeatures?: unknown;
}
interface WebGPUModule {
  create(options: string[]): GpuLike;
  globals: Record<string, unknown>;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/** The default search: Dawn's native backend for the platform, then OpenGL (EGL), where Mesa or a GL driver lives. */
const SEARCH: readonly { dawnOptions: readonly string[]; adapterOptions: Record<string, unknown> }[] = [
  { dawnOptions: [], adapterOptions: { powerPreference: 'high-performance' } },
  { dawnOptions: ['backend=opengl'], adapterOptions: { featureLevel: 'compatibility' } },
];

let registered: { info: WebGPUAdapterInfo; adapter: AdapterLike } | null = null;
/**
 * Every Dawn object made here, held for the life of the process: when V8 collects a GPU instance (or adapter) whose
 * device is still in use, Dawn's event processing later locks a freed mutex and aborts the process.
 */
const alive: unknown[] = [];
let registering: Promise<WebGPUAdapterInfo> | null = null;

/** The adapter the "webgpu" backend was registered with, or null before `registerWebGPU`. */
export function webgpuAdapterInfo(): WebGPUAdapterInfo | null {
  return registered?.info ?? null;
}

/**
 * Find a WebGPU adapter through Dawn (the npm package `webgpu`), install `navigator.gpu`, import
 * `@tensorflow/tfjs-backend-webgpu` and register its "webgpu" backend on that adapter. Activate it yourself
 * (`tf.setBackend('webgpu')` or `resolveBackend('webgpu')`). Resolves to the adapter; a hardware adapter is
 * preferred, a software one taken only with `allowSoftware`. Calling it again returns the first registration's
 * adapter (a software one is upgraded to nothing: one adapter per process).
 */
export async function registerWebGPU(options: RegisterWebGPUOptions = {}): Promise<WebGPUAdapterInfo> {
  if (registered) return checkAllowed(registered.info, options);
  registering ??= doRegister(options).finally(() => {
    registering = null;
  });
  return checkAllowed(await registering, options);
}

function checkAllowed(info: WebGPUAdapterInfo, options: RegisterWebGPUOptions): WebGPUAdapterInfo {
  if (info.isSoftware && !options.allowSoftware) {
    throw new WebGPUUnavailableError(`only a software WebGPU adapter is available (${info.description}); pass allowSoftware: true to use it`, [info]);
  }
  return info;
}

async function doRegister(options: RegisterWebGPUOptions): Promise<WebGPUAdapterInfo> {
  // Mesa's EGL needs no display server with the surfaceless platform; a user's own choice wins
  process.env.EGL_PLATFORM ??= 'surfaceless';
  let dawn: WebGPUModule;
  try {
    dawn = (await import('webgpu')) as unknown as WebGPUModule;
  } catch (err) {
    throw new WebGPUUnavailableError(`the webgpu package (Dawn) could not be loaded: ${firstLine(err)}`);
  }
  // GPUBufferUsage, GPUMapMode, … are globals in a browser; tfjs's backend uses them as such
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;

  const search = options.dawnOptions
    ? [{ dawnOptions: options.dawnOptions, adapterOptions: options.adapterOptions ?? (options.dawnOptions.includes('backend=opengl') ? { featureLevel: 'compatibility' } : {}) }]
    : SEARCH;
  let software: { info: WebGPUAdapterInfo; adapter: AdapterLike; gpu: GpuLike } | null = null;
  let chosen: { info: WebGPUAdapterInfo; adapter: AdapterLike; gpu: GpuLike } | null = null;
  const failures: string[] = [];
  for (const s of search) {
    let adapter: AdapterLike | null = null;
    let gpu: GpuLike;
    try {
      gpu = dawn.create([...s.dawnOptions]);
      alive.push(gpu);
      adapter = await gpu.requestAdapter(s.adapterOptions);
      alive.push(adapter);
    } catch (err) {
      failures.push(`${label(s.dawnOptions)}: ${firstLine(err)}`);
      continue;
    }
    if (!adapter) {
      failures.push(`${label(s.dawnOptions)}: no adapter`);
      continue;
    }
    const info = describeAdapter(adapter, s.dawnOptions, s.adapterOptions);
    if (!info.isSoftware) {
      chosen = { info, adapter, gpu };
      break;
    }
    software ??= { info, adapter, gpu };
  }
  chosen ??= software;
  if (!chosen) {
    throw new WebGPUUnavailableError(
      `no WebGPU adapter found (${failures.join('; ')}). On Linux, Dawn needs a Vulkan driver (libvulkan1) or EGL/OpenGL ` +
        '(Debian: libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri for Mesa\'s software llvmpipe; Dawn loads the unversioned libEGL.so)',
    );
  }

  // tfjs's backend module checks navigator.gpu at import (and in its constructor): the shim comes first
  installNavigatorGpu(chosen.gpu, chosen.adapter);
  const webgpu = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (device: DeviceLike, adapterInfo?: AdapterInfoLike) => tf.KernelBackend;
  };
  // our factory replaces tfjs's (which asks for an adapter without featureLevel and finds none on OpenGL)
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  const adapter = chosen.adapter;
  tf.registerBackend(
    'webgpu',
    async () => {
      const device = await adapter.requestDevice(deviceDescriptor(adapter));
      alive.push(device);
      const backend = new webgpu.WebGPUBackend(device, adapter.info);
      guardSyncReads(backend);
      return backend;
    },
    options.priority ?? 0,
  );
  registered = { info: chosen.info, adapter };
  return chosen.info;
}

/** `navigator.gpu` for tfjs: it hands out the adapter chosen here whatever options it asks with. */
function installNavigatorGpu(gpu: GpuLike, adapter: AdapterLike): void {
  const shim = {
    requestAdapter: async () => adapter,
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
  const g = globalThis as { navigator?: object };
  // Node 20 has no navigator; Node 21+ has one whose gpu is absent
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: shim }, configurable: true, writable: true });
  else Object.defineProperty(g.navigator, 'gpu', { value: shim, configurable: true, writable: true });
}

/** What tfjs's own factory asks for: the adapter's limits (its defaults are too small for large matmuls), timestamp queries if offered. */
function deviceDescriptor(adapter: AdapterLike): Record<string, unknown> {
  const keys = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  const requiredLimits: Record<string, number> = {};
  for (const k of keys) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
  return { requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [], requiredLimits };
}

/**
 * tfjs reads a GPU tensor synchronously through an OffscreenCanvas, which Node lacks; say so plainly instead of
 * "OffscreenCanvas is not defined". Values already on the host (tensors made from arrays, not yet used) still read.
 */
function guardSyncReads(backend: tf.KernelBackend): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const b = backend as unknown as { readSync(dataId: object): unknown; tensorMap: { get(dataId: object): { values?: unknown; dtype: string } | undefined } };
  const readSync = b.readSync.bind(backend);
  b.readSync = (dataId: object) => {
    const data = b.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== 'string' && data.dtype !== 'complex64') {
      throw new WebGPUSyncReadError(
        'the webgpu backend cannot read a tensor synchronously in Node (dataSync/arraySync need an OffscreenCanvas): ' +
          'read with `await tensor.data()`, train with `trainer.stepAsync` or `fit({ async: true })`, evaluate with `evaluateAsync`',
      );
    }
    return readSync(dataId);
  };
}

function describeAdapter(adapter: AdapterLike, dawnOptions: readonly string[], adapterOptions: Record<string, unknown>): WebGPUAdapterInfo {
  const i = adapter.info ?? {};
  const vendor = i.vendor ?? '';
  const architecture = i.architecture ?? '';
  const device = i.device ?? '';
  const driver = i.description ?? '';
  const isFallbackAdapter = Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter);
  const name = [vendor, architecture, device].filter((s) => s).join(' ');
  // one line without parentheses: the resolver quotes it inside its own parenthesized reasons
  const description = [name, driver].filter((s) => s).join(', ').replace(/[()]/g, '').replace(/\s+/g, ' ').trim() || 'unnamed adapter';
  return {
    isSoftware: isFallbackAdapter || SOFTWARE.test(`${name} ${driver}`),
    description,
    vendor,
    architecture,
    device,
    driver,
    isFallbackAdapter,
    dawnOptions: [...dawnOptions],
    adapterOptions: { ...adapterOptions },
  };
}

const label = (dawnOptions: readonly string[]) => (dawnOptions.length ? dawnOptions.join(' ') : 'Dawn default backend');

function firstLine(err: unknown): string {
  const e = err as { message?: string } | null;
  return (e?.message ?? String(err)).split('\n')[0];
}

/**
 * A loader for core's resolver: `resolveBackend('webgpu', { loaders: { webgpu: webgpuLoader() } })`. It registers
 * the backend on any adapter (software included) and hands the resolver the adapter, so `auto` can skip software.
 */
export function webgpuLoader(options: Omit<RegisterWebGPUOptions, 'allowSoftware'> = {}): () => Promise<{ adapter: WebGPUAdapterInfo }> {
  return async () => ({ adapter: await registerWebGPU({ ...options, allowSoftware: true }) });
}
