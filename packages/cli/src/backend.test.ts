import { describe, expect, it } from 'vitest';
import type { BackendLoaders } from '@bioprop/core';
import { autoLoaders } from './backend.js';

describe('auto backend on a machine without a GPU', () => {
  const calls: string[] = [];
  const loaders: BackendLoaders = {
    webgpu: async () => void calls.push('webgpu'),
    cpu: async () => void calls.push('cpu'),
  };

  it('does not start Dawn on Linux without a GPU device node (its driver warnings), and says why', async () => {
    const auto = autoLoaders(loaders, 'linux', () => []);
    await expect(auto.webgpu!()).rejects.toThrow(/no GPU device here: no \/dev\/dri\/renderD\* or \/dev\/nvidia\*, so only a software adapter; ask for "webgpu" by name/);
    expect(calls).toEqual([]);
    expect(auto.cpu).toBe(loaders.cpu);
  });

  it('tries WebGPU where a render node or an NVIDIA device exists, and off Linux', () => {
    expect(autoLoaders(loaders, 'linux', () => ['/dev/dri/renderD128'])).toBe(loaders);
    expect(autoLoaders(loaders, 'linux', () => ['/dev/nvidia0'])).toBe(loaders);
    expect(autoLoaders(loaders, 'darwin', () => [])).toBe(loaders);
    expect(autoLoaders(loaders, 'win32', () => [])).toBe(loaders);
  });
});
