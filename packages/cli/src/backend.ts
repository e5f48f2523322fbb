import { resolveBackend, BACKENDS, type BackendChoice, type BackendName } from '@bioprop/core';
import type * as BlasPackage from '@bioprop/tfjs-backend-blas';

export const BACKEND_CHOICES = ['auto', 'cpu', 'wasm', 'blas', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendPreference = (typeof BACKEND_CHOICES)[number];

/** `bench --backend all`: every backend that loads, slowest first, so a table reads as a ladder. */
export const ALL_BACKENDS: readonly BackendName[] = ['cpu', 'wasm', 'blas', 'tensorflow', 'tensorflow-gpu'];

/** Loads a backend package by name. */
export type Importer = (pkg: string) => Promise<unknown>;

/**
 * Backend packages are imported from here, so they resolve from the CLI's own dependencies (wasm, cpu, and the
 * optional blas; tfjs-node when the user installs it next to the CLI).
 */
const importFromCli: Importer = (pkg) => import(/* @vite-ignore */ pkg);

/** Activate a backend and say which and why (stderr). `importer` is for tests (simulate a package that fails to load). */
export async function useBackend(preference: BackendPreference, note: (line: string) => void, importer: Importer = importFromCli): Promise<BackendChoice> {
  const choice = await resolveBackend(preference as BackendName | 'auto', { importer });
  note(`backend: ${choice.name} (${choice.reason})`);
  return choice;
}

/** The raw sgemm rate of this machine, or why it could not be measured. */
export type SgemmPeak = { gflops: number; openblas: string } | { gflops: null; why: string };

/**
 * Measure OpenBLAS' sgemm peak through `@bioprop/tfjs-backend-blas` (best of `reps` 1024² products, single
 * measurement per run). When the package is missing or its addon did not build, say why instead.
 */
export async function measureSgemmPeak(options: { reps?: number } = {}, importer: Importer = importFromCli): Promise<SgemmPeak> {
  const pkg = BACKENDS.blas.pkg;
  let blas: typeof BlasPackage;
  try {
    blas = (await importer(pkg)) as typeof BlasPackage;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = e?.code === 'ERR_MODULE_NOT_FOUND' ? `${pkg} is not installed` : (e?.message ?? String(err)).split('\n')[0];
    return { gflops: null, why };
  }
  const gflops = blas.measureSgemmPeak({ size: 1024, reps: options.reps ?? 10 });
  const info = blas.blasInfo();
  return { gflops, openblas: `${info.openblasCoretype}, ${info.openblasThreads} OpenBLAS thread(s)` };
}
