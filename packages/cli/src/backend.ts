import { readdirSync } from 'node:fs';
import { resolveBackend, BACKENDS, type BackendChoice, type BackendLoader, type BackendLoaders, type BackendName } from '@bioprop/core';
import type * as BlasPackage from '@bioprop/tfjs-backend-blas';
import type * as WebGPUPackage from '@bioprop/tfjs-backend-webgpu';

export const BACKEND_CHOICES = ['auto', 'cpu', 'wasm', 'blas', 'webgpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendPreference = (typeof BACKEND_CHOICES)[number];

/**
 * `bench --backend all`: every backend that loads, slowest first, so a table reads as a ladder (webgpu only on a
 * hardware adapter, as `auto` takes it; a software one is timed when named).
 */
export const ALL_BACKENDS: readonly Exclude<BackendPreference, 'auto'>[] = ['cpu', 'wasm', 'blas', 'webgpu', 'tensorflow', 'tensorflow-gpu'];

/** Loads a package by name (kept for API compatibility; the CLI now passes loaders). */
export type Importer = (pkg: string) => Promise<unknown>;

/** tfjs-node is not a dependency: it is imported by name, so it resolves when the user installs it next to the CLI. */
const userInstalled =
  (pkg: string): BackendLoader =>
  () =>
    import(/* @vite-ignore */ pkg);

const loadBlasPackage: BackendLoader = () => import('@bioprop/tfjs-backend-blas');

/**
 * The optional WebGPU package (Dawn): it registers the backend on any adapter and reports it, and the resolver
 * decides (`auto` skips a software adapter, `--backend webgpu` takes it).
 */
const loadWebGPUPackage: BackendLoader = async () => {
  const pkg = (await import('@bioprop/tfjs-backend-webgpu')) as typeof WebGPUPackage;
  return pkg.webgpuLoader()();
};

/**
 * The backend packages the CLI depends on (cpu, wasm, and the optional blas), and tfjs-node / tfjs-node-gpu when
 * the user installs them next to it.
 */
export const CLI_LOADERS: BackendLoaders = {
  'tensorflow-gpu': userInstalled(BACKENDS['tensorflow-gpu'].pkg),
  tensorflow: userInstalled(BACKENDS.tensorflow.pkg),
  webgpu: loadWebGPUPackage,
  blas: loadBlasPackage,
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
  cpu: () => import('@tensorflow/tfjs-backend-cpu'),
};

/** Device nodes a GPU driver makes on Linux: DRM render nodes (Mesa, AMD, Intel) and NVIDIA's. */
function linuxGpuNodes(): string[] {
  const list = (dir: string, pattern: RegExp) => {
    try {
      return readdirSync(dir).filter((n) => pattern.test(n)).map((n) => `${dir}/${n}`);
    } catch {
      return [];
    }
  };
  return [...list('/dev/dri', /^renderD\d+$/), ...list('/dev', /^nvidia\d+$/)];
}

/**
 * The loaders `auto` tries. On Linux without a GPU device node, Dawn can only offer a software adapter, which `auto`
 * skips anyway; creating its instance just to find that out prints Dawn's driver warnings (Vulkan missing) on every
 * command, so `auto` does not load it there. `--backend webgpu` still does.
 */
export function autoLoaders(loaders: BackendLoaders, platform: string = process.platform, gpuNodes: () => string[] = linuxGpuNodes): BackendLoaders {
  if (platform !== 'linux' || !loaders.webgpu || gpuNodes().length > 0) return loaders;
  return {
    ...loaders,
    webgpu: async () => {
      throw new Error('no GPU device here: no /dev/dri/renderD* or /dev/nvidia*, so only a software adapter; ask for "webgpu" by name to use it');
    },
  };
}

/** Activate a backend and say which and why (stderr). `loaders` is for tests (simulate a package that fails to load). */
export async function useBackend(preference: BackendPreference, note: (line: string) => void, loaders: BackendLoaders = CLI_LOADERS): Promise<BackendChoice> {
  const choice = await resolveBackend(preference as BackendName | 'auto', { loaders: preference === 'auto' ? autoLoaders(loaders) : loaders });
  note(`backend: ${choice.name} (${choice.reason})`);
  return choice;
}

/** Backends whose tensors cannot be read synchronously here (WebGPU in Node): steps go through `stepAsync`. */
export function readsAsynchronously(backend: string): boolean {
  return backend === 'webgpu';
}

/** The raw sgemm rate of this machine, or why it could not be measured. */
export type SgemmPeak = { gflops: number; openblas: string } | { gflops: null; why: string };

/**
 * Measure OpenBLAS' sgemm peak through `@bioprop/tfjs-backend-blas` (best of `reps` 1024² products, single
 * measurement per run). When the package is missing or its addon did not build, say why instead.
 */
export async function measureSgemmPeak(options: { reps?: number } = {}, loadBlas: BackendLoader = loadBlasPackage): Promise<SgemmPeak> {
  const pkg = BACKENDS.blas.pkg;
  let blas: typeof BlasPackage;
  try {
    blas = (await loadBlas()) as typeof BlasPackage;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = e?.code === 'ERR_MODULE_NOT_FOUND' ? `${pkg} is not installed` : (e?.message ?? String(err)).split('\n')[0];
    return { gflops: null, why };
  }
  const gflops = blas.measureSgemmPeak({ size: 1024, reps: options.reps ?? 10 });
  const info = blas.blasInfo();
  return { gflops, openblas: `${info.openblasCoretype}, ${info.openblasThreads} OpenBLAS thread(s)` };
}
