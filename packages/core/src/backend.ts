import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';

/** Backends by the name `--backend` takes, with the package each needs and the tfjs backend name it registers. */
export const BACKENDS = {
  'tensorflow-gpu': { pkg: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow' },
  tensorflow: { pkg: '@tensorflow/tfjs-node', tfName: 'tensorflow' },
  blas: { pkg: '@bioprop/tfjs-backend-blas', tfName: 'blas' },
  wasm: { pkg: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm' },
  cpu: { pkg: '@tensorflow/tfjs-backend-cpu', tfName: 'cpu' },
} as const;

export type BackendName = keyof typeof BACKENDS;
/** `auto` tries, in order: tensorflow-gpu, tensorflow, blas, wasm, cpu. */
export const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'blas', 'wasm', 'cpu'];

export interface BackendChoice {
  /** The name it was selected by (`wasm`), and the tfjs backend name now active. */
  name: BackendName;
  tfBackend: string;
  /** Why this one: what was tried before it and why each failed. */
  reason: string;
  tried: { name: BackendName; ok: boolean; why: string }[];
}

export interface ResolveBackendOptions {
  /** For tests: replace the module loader (simulate a package that fails to load). */
  importer?: (pkg: string) => Promise<unknown>;
}

const defaultImporter = (pkg: string): Promise<unknown> => import(/* @vite-ignore */ pkg);

let current: BackendChoice | null = null;

/** The backend chosen by the last `resolveBackend` call, if any. */
export function currentBackend(): BackendChoice | null {
  return current;
}

/**
 * Load and activate a TensorFlow.js backend: a named one (an error naming the package to install when it is
 * missing), or `auto`, the fastest one installed. Says which it took and why.
 */
export async function resolveBackend(preference: BackendName | 'auto' = 'auto', options: ResolveBackendOptions = {}): Promise<BackendChoice> {
  const importer = options.importer ?? defaultImporter;
  if (preference !== 'auto' && !(preference in BACKENDS)) {
    throw new BackendError(`unknown backend "${preference}" (known: auto, ${Object.keys(BACKENDS).join(', ')})`);
  }
  const order = preference === 'auto' ? AUTO_ORDER : [preference];
  const tried: BackendChoice['tried'] = [];
  for (const name of order) {
    const { pkg, tfName } = BACKENDS[name];
    try {
      await importer(pkg);
      const ok = await tf.setBackend(tfName);
      if (!ok) throw new Error(`tf.setBackend('${tfName}') returned false`);
      await tf.ready();
      tried.push({ name, ok: true, why: `loaded ${pkg}` });
      const before = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.why}`);
      current = {
        name,
        tfBackend: tf.getBackend(),
        reason: preference === 'auto' ? `auto: ${name} is the first that loaded${before.length ? ` (${before.join('; ')})` : ''}` : `asked for ${name}`,
        tried,
      };
      return current;
    } catch (err) {
      const why = describeLoadError(err, pkg);
      tried.push({ name, ok: false, why });
      if (preference !== 'auto') {
        throw new BackendError(`backend "${name}" is not available: ${why}. Install it with \`pnpm add ${pkg}\`.`);
      }
    }
  }
  throw new BackendError(`no TensorFlow.js backend could be loaded: ${tried.map((t) => `${t.name}: ${t.why}`).join('; ')}`);
}

function describeLoadError(err: unknown, pkg: string): string {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)|Could not resolve|Failed to (load|resolve)/.test(e?.message ?? '')) return `${pkg} is not installed`;
  return (e?.message ?? String(err)).split('\n')[0];
}

