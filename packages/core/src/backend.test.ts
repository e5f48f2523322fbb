import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendError } from './errors.js';
import { resolveBackend } from './backend.js';

describe('backend resolver', () => {
  it('auto takes the first backend that loads and says why the ones before it failed', async () => {
    const choice = await resolveBackend('auto');
    // tfjs-node cannot install here and the native blas backend may be absent: wasm or blas is taken
    expect(['wasm', 'blas', 'tensorflow', 'tensorflow-gpu']).toContain(choice.name);
    expect(tf.getBackend()).toBe(choice.tfBackend);
    expect(choice.reason).toMatch(/^auto: /);
    if (choice.name === 'wasm') expect(choice.reason).toMatch(/tensorflow: @tensorflow\/tfjs-node is not installed/);
  });

  it('a simulated failed load of a backend falls back and reports the failure', async () => {
    const importer = async (pkg: string) => {
      if (pkg === '@bioprop/tfjs-backend-blas') throw new Error('native addon not built: libopenblas missing');
      if (pkg.startsWith('@tensorflow/tfjs-node')) throw Object.assign(new Error(`Cannot find package '${pkg}'`), { code: 'ERR_MODULE_NOT_FOUND' });
      return import(/* @vite-ignore */ pkg);
    };
    const choice = await resolveBackend('auto', { importer });
    expect(choice.name).toBe('wasm');
    expect(choice.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['blas', false],
      ['wasm', true],
    ]);
    expect(choice.reason).toMatch(/blas: native addon not built: libopenblas missing/);
  });

  it('a named backend that is not installed is an error naming the package to install', async () => {
    await expect(resolveBackend('tensorflow-gpu')).rejects.toThrow(BackendError);
    await expect(resolveBackend('tensorflow-gpu')).rejects.toThrow(/pnpm add @tensorflow\/tfjs-node-gpu/);
    await expect(resolveBackend('gpu' as never)).rejects.toThrow(/unknown backend "gpu"/);
  });

  it('cpu and wasm compute the same matmul', async () => {
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    await resolveBackend('cpu');
    const cpu = tf.matMul(a, a).arraySync();
    await resolveBackend('wasm');
    const b = tf.tensor2d([[1, 2], [3, 4]]);
    expect(tf.matMul(b, b).arraySync()).toEqual(cpu);
  });
});
