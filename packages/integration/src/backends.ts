/**
 * The backends the benches and tests run on, each when it is present here: cpu and wasm always (dependencies of
 * this package), blas when its native addon loads, tensorflow when `@tensorflow/tfjs-node` is installed.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

export type BackendId = 'cpu' | 'wasm' | 'blas' | 'tensorflow';
export const BACKEND_IDS: readonly BackendId[] = ['cpu', 'wasm', 'blas', 'tensorflow'];

let blasLoad: Promise<string | null> | null = null;

/**
 * Why the blas backend cannot load here, or null when it can. Importing the package registers the backend, or
 * throws saying why (no OpenBLAS, no compiler, addon not built); loaded once per process.
 */
export function blasProblem(): Promise<string | null> {
  blasLoad ??= import('@bioprop/tfjs-backend-blas').then(
    () => null,
    (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0],
  );
  return blasLoad;
}

/**
 * `blasProblem()` for tests: tests that need the addon skip with this reason on a machine without it, except under
 * CI=true, where a missing addon is a failure (the import of the test file throws).
 */
export async function blasProblemForTests(): Promise<string | null> {
  const problem = await blasProblem();
  if (problem === null) return null;
  if (process.env.CI === 'true') throw new Error(`CI=true and the blas addon is unavailable: ${problem}`);
  console.warn(`[@bioprop/integration] skipping the tests that need the blas addon: ${problem}`);
  return problem;
}

let tensorflowLoad: Promise<string | null> | null = null;

/** Why `@tensorflow/tfjs-node` cannot load here (not a dependency: used when the machine has it), or null. */
function tensorflowProblem(): Promise<string | null> {
  const pkg = '@tensorflow/tfjs-node';
  tensorflowLoad ??= import(/* @vite-ignore */ pkg).then(
    () => null,
    (err: unknown) => (/Cannot find|ERR_MODULE_NOT_FOUND|Failed to (load|resolve)/.test(String(err)) ? `${pkg} is not installed` : String(err).split('\n')[0]),
  );
  return tensorflowLoad;
}

/**
 * Make `name` the active backend, or throw saying why it is not available. This package is the application: it
 * imports the backends it has (cpu and wasm above, blas and tensorflow when they load) and activates them itself.
 */
export async function useBackend(name: BackendId): Promise<void> {
  const problem = name === 'blas' ? await blasProblem() : name === 'tensorflow' ? await tensorflowProblem() : null;
  if (problem !== null) throw new Error(`backend "${name}" is not available: ${problem}`);
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

/** Which of `names` load here (in that order), and why each other one does not. Leaves the last one tried active. */
export async function presentBackends(names: readonly BackendId[] = BACKEND_IDS): Promise<{ present: BackendId[]; absent: { name: BackendId; why: string }[] }> {
  const present: BackendId[] = [];
  const absent: { name: BackendId; why: string }[] = [];
  for (const name of names) {
    try {
      await useBackend(name);
      present.push(name);
    } catch (err) {
      absent.push({ name, why: (err as Error).message.split('\n')[0] });
    }
  }
  return { present, absent };
}
