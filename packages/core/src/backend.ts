import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';

/**
 * Backends by the name `resolveBackend` takes: the package that provides each, the tfjs backend name it registers,
 * and where it runs. Core imports none of them: the application passes loaders (see {@link ResolveBackendOptions}).
 */
export const BACKENDS = {
  'tensorflow-gpu': { pkg: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow', runsIn: 'node' },
  tensorflow: { pkg: '@tensorflow/tfjs-node', tfName: 'tensorflow', runsIn: 'node' },
  // in Node, tfjs's WebGPU backend needs a WebGPU implementation: @bioprop/tfjs-backend-webgpu brings Dawn's
  webgpu: { pkg: '@tensorflow/tfjs-backend-webgpu', nodePkg: '@bioprop/tfjs-backend-webgpu', tfName: 'webgpu', runsIn: 'any' },
  webgl: { pkg: '@tensorflow/tfjs-backend-webgl', tfName: 'webgl', runsIn: 'browser' },
  blas: { pkg: '@bioprop/tfjs-backend-blas', tfName: 'blas', runsIn: 'node' },
  wasm: { pkg: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm', runsIn: 'any' },
  cpu: { pkg: '@tensorflow/tfjs-backend-cpu', tfName: 'cpu', runsIn: 'any' },
} as const;

export type BackendName = keyof typeof BACKENDS;
export type BackendEnvironment = 'node' | 'browser';

/**
 * What `auto` tries, in order. Node: tensorflow-gpu, tensorflow, webgpu (hardware adapters only), blas, wasm, cpu.
 * Browser: webgpu (hardware adapters only), webgl, wasm, cpu.
 */
export const AUTO_ORDER: Readonly<Record<BackendEnvironment, readonly BackendName[]>> = {
  node: ['tensorflow-gpu', 'tensorflow', 'webgpu', 'blas', 'wasm', 'cpu'],
  browser: ['webgpu', 'webgl', 'wasm', 'cpu'],
};

/** The device behind a WebGPU backend; `auto` skips software adapters (SwiftShader, llvmpipe, fallback adapters). */
export interface BackendAdapterInfo {
  isSoftware: boolean;
  /** One line naming the device (vendor, architecture, device, driver). */
  description: string;
  /** `GPUAdapterInfo` fields, where the loader or `navigator.gpu` gave them. */
  vendor?: string;
  architecture?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Imports a backend package, which registers its tfjs backend: `() => import('@tensorflow/tfjs-backend-wasm')`.
 * It may resolve to anything (a module namespace); when the value has an `adapter` (a {@link BackendAdapterInfo},
 * or a function returning one or a promise of one) it describes the device, which is how a WebGPU package for
 * Node says whether its adapter is hardware.
 */
export type BackendLoader = () => Promise<unknown>;
export type BackendLoaders = Partial<Record<BackendName, BackendLoader>>;

export interface ResolveBackendOptions {
  /**
   * Loaders of the backend packages the application installed, by backend name. A backend whose tfjs backend
   * is already registered (the application imported its package) needs none.
   */
  loaders?: BackendLoaders;
  /** Which `auto` order to use; detected by default (a `window` with a `document`, or no Node `process`: browser). */
  environment?: BackendEnvironment;
  /**
   * Describes the WebGPU adapter when no loader result does. Default: `navigator.gpu.requestAdapter()`, or no
   * adapter where `navigator.gpu` is absent.
   */
  webgpuAdapter?: () => Promise<BackendAdapterInfo | null>;
}

export interface BackendChoice {
  /** The name it was selected by (`wasm`), and the tfjs backend name now active. */
  name: BackendName;
  tfBackend: string;
  /** Why this one: what was tried before it and why each failed. */
  reason: string;
  tried: { name: BackendName; ok: boolean; why: string }[];
  environment: BackendEnvironment;
  /** The WebGPU adapter, when webgpu was taken and its adapter is known. */
  adapter?: BackendAdapterInfo;
}

let current: BackendChoice | null = null;

/** The backend chosen by the last `resolveBackend` call, if any. */
export function currentBackend(): BackendChoice | null {
  return current;
}

/** Browser (a `window` with a `document`, or a worker: `navigator` without Node's `process`) or Node. */
export function detectEnvironment(): BackendEnvironment {
  const g = globalThis as { window?: { document?: unknown }; process?: { versions?: { node?: unknown } }; navigator?: unknown };
  if (typeof g.window !== 'undefined' && typeof g.window?.document !== 'undefined') return 'browser';
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return typeof g.navigator !== 'undefined' ? 'browser' : 'node';
}

/** A failed try: the reason, and whether it is worth saying how to install the package. */
class TryFailure extends Error {
  constructor(
    message: string,
    readonly missing = false,
  ) {
    super(message);
  }
}

/**
 * Activate a TensorFlow.js backend and say which and why: a named one, or `auto`, the first in
 * {@link AUTO_ORDER} that is registered or has a loader and initializes. Core imports no backend package: pass
 * `loaders` for the ones the application installed (or import them first). A failed try leaves the backend that
 * was active before it active (or none), so later tfjs calls keep working.
 */
export async function resolveBackend(preference: BackendName | 'auto' = 'auto', options: ResolveBackendOptions = {}): Promise<BackendChoice> {
  if (preference !== 'auto' && !Object.hasOwn(BACKENDS, preference)) {
    throw new BackendError(`unknown backend "${String(preference)}" (known: auto, ${Object.keys(BACKENDS).join(', ')})`);
  }
  const environment = options.environment ?? detectEnvironment();
  const auto = preference === 'auto';
  const order = auto ? AUTO_ORDER[environment] : [preference];
  const tried: BackendChoice['tried'] = [];
  for (const name of order) {
    try {
      const { why, adapter } = await tryBackend(name, auto, options, environment);
      tried.push({ name, ok: true, why });
      const before = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.why}`);
      current = {
        name,
        tfBackend: tf.getBackend(),
        reason: auto
          ? `auto: ${name} is the first that loaded${before.length ? ` (${before.join('; ')})` : ''}${adapter ? `, on ${adapterPhrase(adapter)}` : ''}`
          : `asked for ${name} (${why})`,
        tried,
        environment,
        ...(adapter ? { adapter } : {}),
      };
      return current;
    } catch (err) {
      const why = err instanceof TryFailure ? err.message : firstLine(err);
      tried.push({ name, ok: false, why });
      if (!auto) throw new BackendError(`backend "${name}" is not available: ${why}.${err instanceof TryFailure && err.missing ? ` ${howToInstall(name, environment)}` : ''}`);
    }
  }
  throw new BackendError(
    `no TensorFlow.js backend could be loaded (${environment}): ${tried.map((t) => `${t.name}: ${t.why}`).join('; ')}. ` +
      `Pass loaders for the backend packages the application installed, e.g. ` +
      `resolveBackend('auto', { loaders: { cpu: () => import('${BACKENDS.cpu.pkg}') } }).`,
  );
}

/** The package that provides a backend where the application runs (Node's WebGPU comes from our Dawn wrapper). */
function packageFor(name: BackendName, environment: BackendEnvironment): string {
  const b = BACKENDS[name];
  return environment === 'node' && 'nodePkg' in b ? b.nodePkg : b.pkg;
}

function howToInstall(name: BackendName, environment: BackendEnvironment): string {
  const { runsIn } = BACKENDS[name];
  const pkg = packageFor(name, environment);
  if (pkg !== BACKENDS[name].pkg) {
    // the Dawn wrapper registers nothing on import: its loader finds the adapter first
    return (
      `Install ${pkg} (\`pnpm add ${pkg}\` or \`npm install ${pkg}\`) and pass its loader: ` +
      `resolveBackend('${name}', { loaders: { '${name}': webgpuLoader() } }) with webgpuLoader imported from ${pkg}.`
    );
  }
  const where = runsIn !== 'any' && runsIn !== environment ? ` (${name} runs in ${runsIn === 'node' ? 'Node' : 'browsers'} only)` : '';
  return (
    `Install ${pkg} (\`pnpm add ${pkg}\` or \`npm install ${pkg}\`) and pass a loader, ` +
    `resolveBackend('${name}', { loaders: { '${name}': () => import('${pkg}') } }), or import it before resolving${where}.`
  );
}

async function tryBackend(
  name: BackendName,
  auto: boolean,
  options: ResolveBackendOptions,
  environment: BackendEnvironment,
): Promise<{ why: string; adapter?: BackendAdapterInfo }> {
  const { tfName } = BACKENDS[name];
  const pkg = packageFor(name, environment);
  const loader = options.loaders?.[name];
  let loaded: unknown;
  let why: string;
  if (loader) {
    try {
      loaded = await loader();
    } catch (err) {
      throw new TryFailure(describeLoadError(err, pkg), isNotFound(err));
    }
    if (!tf.findBackendFactory(tfName)) {
      throw new TryFailure(`loaded ${pkg}, but no "${tfName}" backend is registered (is a second copy of @tensorflow/tfjs-core installed?)`);
    }
    why = `loaded ${pkg}`;
  } else if (name === 'tensorflow-gpu' && auto) {
    // the GPU and CPU builds of tfjs-node both register "tensorflow": without a loader it counts as tensorflow
    throw new TryFailure(
      tf.findBackendFactory(tfName) ? 'no loader passed (the registered "tensorflow" backend is tried as tensorflow)' : `no loader passed and no "${tfName}" backend registered`,
      true,
    );
  } else if (tf.findBackendFactory(tfName)) {
    why = `"${tfName}" backend already registered`;
  } else {
    throw new TryFailure(`no loader passed and no "${tfName}" backend registered`, true);
  }

  let adapter: BackendAdapterInfo | undefined;
  if (name === 'webgpu') {
    adapter = (await adapterOf(loaded)) ?? (await (options.webgpuAdapter ?? navigatorAdapter)()) ?? undefined;
    if (auto && !adapter) throw new TryFailure('no WebGPU adapter (navigator.gpu is absent or gave none)');
    if (auto && adapter?.isSoftware) throw new TryFailure(`${adapterPhrase(adapter)} skipped; ask for "webgpu" by name to use it`);
    if (adapter) why += `, ${adapterPhrase(adapter)}`;
  }

  await activate(tfName);
  return { why, adapter };
}

/**
 * `tf.setBackend` that cannot leave the engine broken: a failed init otherwise leaves tfjs pointing at a backend
 * with no instance, so the next op without an explicit `setBackend` throws or re-runs the failed init. The
 * warnings tfjs prints for the failure become the reason.
 */
async function activate(tfName: string): Promise<void> {
  const engine = tf.engine();
  const previous = engine.backendName as string | undefined;
  const previousReady = previous != null && engine.registry[previous] != null && previous !== tfName;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(' '));
  };
  let ok = false;
  let error: unknown;
  try {
    ok = await tf.setBackend(tfName);
    if (ok) await tf.ready();
  } catch (err) {
    error = err;
  } finally {
    console.warn = warn;
  }
  // tfjs reports a failed init as two warnings: "Initialization of backend <name> failed", then the error
  const at = ok ? -1 : warnings.findIndex((w) => w.includes(`Initialization of backend ${tfName} failed`));
  warnings.forEach((w, i) => {
    if (at < 0 || (i !== at && i !== at + 1)) warn(w);
  });
  if (ok && !error && tf.getBackend() === tfName) return;
  // back to what was active before (or to nothing chosen)
  if (previousReady) await tf.setBackend(previous);
  else engine.backendName = previous as string;
  const cause = error ? firstLine(error) : at >= 0 && warnings[at + 1] ? warnings[at + 1].split('\n')[0] : `tf.setBackend('${tfName}') returned false`;
  throw new TryFailure(`initialization failed: ${cause}`);
}

const adapterPhrase = (a: BackendAdapterInfo) => `${a.isSoftware ? 'software' : 'hardware'} adapter ${a.description}`;

async function adapterOf(loaded: unknown): Promise<BackendAdapterInfo | null> {
  const a = (loaded as { adapter?: unknown } | null | undefined)?.adapter;
  const value = typeof a === 'function' ? await (a as () => unknown)() : await a;
  const info = value as Partial<BackendAdapterInfo> | null | undefined;
  if (!info || typeof info.isSoftware !== 'boolean') return null;
  const out: BackendAdapterInfo = { isSoftware: info.isSoftware, description: String(info.description ?? 'unnamed adapter') };
  for (const k of ['vendor', 'architecture', 'device'] as const) if (typeof info[k] === 'string') out[k] = info[k];
  if (typeof info.isFallbackAdapter === 'boolean') out.isFallbackAdapter = info.isFallbackAdapter;
  return out;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; vendor?: string; architecture?: string; device?: string; description?: string };
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

/** The WebGPU adapter `navigator.gpu` offers (browsers; a Node WebGPU package may install `navigator.gpu`). */
async function navigatorAdapter(): Promise<BackendAdapterInfo | null> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } }).navigator?.gpu;
  if (!gpu) return null;
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unnamed adapter';
  const isFallbackAdapter = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
  const isSoftware = isFallbackAdapter || SOFTWARE_ADAPTER.test(description);
  return { isSoftware, description, vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', isFallbackAdapter };
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return (
    e?.code === 'ERR_MODULE_NOT_FOUND' ||
    e?.code === 'MODULE_NOT_FOUND' ||
    /Cannot find (module|package)|Could not resolve|Failed to (load|resolve|fetch dynamically imported)/.test(e?.message ?? '')
  );
}

function describeLoadError(err: unknown, pkg: string): string {
  return isNotFound(err) ? `${pkg} is not installed` : firstLine(err);
}

function firstLine(err: unknown): string {
  const e = err as { message?: string } | null;
  return (e?.message ?? String(err)).split('\n')[0];
}
