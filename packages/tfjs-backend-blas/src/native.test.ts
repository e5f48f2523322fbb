import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBackend } from '@bioprop/core';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeAddonError, loadNativeAddon } from './native.js';
import { nativeProblem } from './test-helpers.js';

const dirs: string[] = [];
/** A fake package root whose build/ holds the given files. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'blas-native-'));
  dirs.push(root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, 'build', name, '..'), { recursive: true });
    writeFileSync(join(root, 'build', name), text);
  }
  return root;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const notFound = (pkg: string) => Object.assign(new Error(`Cannot find package '${pkg}'`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('loading the native addon', () => {
  it('reports the reason the build recorded, with how to fix it', () => {
    const root = fakeRoot({ 'native-status.json': JSON.stringify({ ok: false, reason: 'OpenBLAS was not found (no `pkg-config openblas`)' }) });
    expect(() => loadNativeAddon({ root })).toThrow(NativeAddonError);
    expect(() => loadNativeAddon({ root })).toThrow(
      /^native addon not built: OpenBLAS was not found \(no `pkg-config openblas`\); install libopenblas-dev \(and a C\+\+ compiler\) and rebuild with `pnpm --filter @bioprop\/tfjs-backend-blas build:native`$/,
    );
  });

  it('says the build has not run when there is neither addon nor status', () => {
    expect(() => loadNativeAddon({ root: fakeRoot({}) })).toThrow(/native addon not built: .*bioprop_blas\.node does not exist \(the package build has not run\)/);
  });

  it('says the addon failed to load when the file is not a loadable library', () => {
    const root = fakeRoot({ 'Release/bioprop_blas.node': 'not an ELF file', 'native-status.json': JSON.stringify({ ok: true }) });
    expect(() => loadNativeAddon({ root })).toThrow(/native addon not built: .*bioprop_blas\.node failed to load \(/);
  });

  it.skipIf(nativeProblem !== null)('loads the real addon, which links OpenBLAS', () => {
    const info = loadNativeAddon().info();
    expect(info.openblasConfig).toMatch(/OpenBLAS/);
    expect(info.openblasThreads).toBeGreaterThanOrEqual(1);
  });
});

describe('the backend resolver', () => {
  it('auto falls back to wasm, saying why, when the addon failed to build', async () => {
    const root = fakeRoot({ 'native-status.json': JSON.stringify({ ok: false, reason: 'no C++ compiler (c++ --version failed)' }) });
    const loaders = {
      'tensorflow-gpu': async () => Promise.reject(notFound('@tensorflow/tfjs-node-gpu')),
      tensorflow: async () => Promise.reject(notFound('@tensorflow/tfjs-node')),
      blas: async () => loadNativeAddon({ root }),
      wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    };
    const choice = await resolveBackend('auto', { loaders, environment: 'node' });
    expect(choice.name).toBe('wasm');
    expect(choice.tfBackend).toBe('wasm');
    const blas = choice.tried.find((t) => t.name === 'blas');
    expect(blas).toMatchObject({ ok: false });
    expect(blas!.why).toMatch(/^native addon not built: no C\+\+ compiler \(c\+\+ --version failed\); install libopenblas-dev/);
    expect(choice.reason).toMatch(/auto: wasm is the first that loaded .*blas: native addon not built: no C\+\+ compiler/);
  });

  it.skipIf(nativeProblem !== null)('auto picks blas when the package loads, before wasm and cpu', async () => {
    const loaders = {
      'tensorflow-gpu': async () => Promise.reject(notFound('@tensorflow/tfjs-node-gpu')),
      tensorflow: async () => Promise.reject(notFound('@tensorflow/tfjs-node')),
      blas: () => import('./index.js'),
      wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    };
    const choice = await resolveBackend('auto', { loaders, environment: 'node' });
    expect(choice).toMatchObject({ name: 'blas', tfBackend: 'blas' });
    expect(tf.getBackend()).toBe('blas');
    // and it computes: a product through OpenBLAS
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(y.dataSync())).toEqual([11]);
    y.dispose();
  });
});
