import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError } from './errors.js';
import { resolveBackend, type BackendLoaders } from './backend.js';

const notFound = (pkg: string) => Object.assign(new Error(`Cannot find package '${pkg}' imported from /app/main.js`), { code: 'ERR_MODULE_NOT_FOUND' });

/** Imports a package that is not installed here (a variable, so the test's bundler leaves it alone). */
const absent = (pkg: string) => () => import(/* @vite-ignore */ pkg);

/** What an application on this machine passes: the packages it installed (tfjs-node is absent here). */
const installed: BackendLoaders = {
  'tensorflow-gpu': absent('@tensorflow/tfjs-node-gpu'),
  tensorflow: absent('@tensorflow/tfjs-node'),
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
  cpu: () => import('@tensorflow/tfjs-backend-cpu'),
};

/** Registers a fake backend under a real name, the way a package's import would, and removes it after the test. */
const fakes: string[] = [];
function registerFake(name: string, factory: () => tf.KernelBackend | Promise<tf.KernelBackend>, priority = 10): void {
  tf.registerBackend(name, factory, priority);
  fakes.push(name);
}
afterEach(async () => {
  if (!['cpu', 'wasm'].includes(tf.getBackend())) await tf.setBackend('cpu');
  for (const name of fakes.splice(0)) tf.removeBackend(name);
});

/** An op with no explicit setBackend works and leaves nothing behind. */
function opsWork(): boolean {
  const a = tf.tensor1d([1, 2, 3]);
  const s = tf.sum(a);
  const ok = s.dataSync()[0] === 6;
  tf.dispose([a, s]);
  return ok;
}

describe('backend resolver', () => {
  it('auto takes the first backend that loads and says why the ones before it failed', async () => {
    const choice = await resolveBackend('auto', { loaders: installed, environment: 'node' });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.tfBackend).toBe('wasm');
    expect(choice.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['webgpu', false],
      ['blas', false],
      ['wasm', true],
    ]);
    expect(choice.reason).toMatch(/^auto: wasm is the first that loaded/);
    expect(choice.reason).toMatch(/tensorflow: @tensorflow\/tfjs-node is not installed/);
    expect(choice.reason).toMatch(/blas: no loader passed and no "blas" backend registered/);
  });

  it('a backend already registered (the application imported it) needs no loader', async () => {
    // the test set-up imported @tensorflow/tfjs-backend-cpu and -wasm, as an application would
    const choice = await resolveBackend('cpu');
    expect(choice).toMatchObject({ name: 'cpu', tfBackend: 'cpu' });
    expect(choice.reason).toBe('asked for cpu ("cpu" backend already registered)');
    const auto = await resolveBackend('auto', { environment: 'node' });
    expect(auto.name).toBe('wasm');
  });

  it('simulated failures fall back, report each reason, and leave tfjs usable', async () => {
    await tf.setBackend('cpu');
    const loaders: BackendLoaders = {
      ...installed,
      // tfjs-node-gpu installed, but its init fails (no CUDA): a sync throw in the factory
      'tensorflow-gpu': async () =>
        registerFake('tensorflow', () => {
          throw new Error('libcudart.so.11.0: cannot open shared object file');
        }),
      // a WebGPU package whose adapter is hardware, but whose device request fails asynchronously
      webgpu: async () => {
        registerFake('webgpu', () => Promise.reject(new Error('requestDevice failed: device lost')));
        return { adapter: { isSoftware: false, description: 'Fake GPU' } };
      },
      blas: async () => {
        throw new Error('native addon not built: libopenblas missing');
      },
    };
    const choice = await resolveBackend('auto', { loaders, environment: 'node' });
    expect(choice.name).toBe('wasm');
    expect(choice.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['webgpu', false],
      ['blas', false],
      ['wasm', true],
    ]);
    const why = Object.fromEntries(choice.tried.map((t) => [t.name, t.why]));
    expect(why['tensorflow-gpu']).toMatch(/initialization failed: .*libcudart/);
    // the tensorflow loader is the tfjs-node one, absent here; the failed GPU build registered "tensorflow"
    expect(why.tensorflow).toMatch(/not installed/);
    expect(why.webgpu).toMatch(/initialization failed: .*requestDevice failed: device lost/);
    expect(why.blas).toBe('native addon not built: libopenblas missing');
    expect(opsWork()).toBe(true);
  });

  it('a named backend that fails to initialize leaves the previous backend active', async () => {
    await tf.setBackend('cpu');
    const loaders: BackendLoaders = {
      tensorflow: async () =>
        registerFake('tensorflow', async () => {
          throw new Error('libtensorflow.so.2: cannot open shared object file');
        }),
    };
    await expect(resolveBackend('tensorflow', { loaders })).rejects.toThrow(/backend "tensorflow" is not available: initialization failed: .*libtensorflow/);
    expect(tf.getBackend()).toBe('cpu');
    expect(opsWork()).toBe(true);
    // the next try works too
    await resolveBackend('wasm');
    expect(opsWork()).toBe(true);
  });

  it('auto skips a software WebGPU adapter; asked for by name it is taken', async () => {
    registerFake('webgpu', () => new MathBackendCPU());
    const software = { adapter: { isSoftware: true, description: 'Google SwiftShader' } };
    const auto = await resolveBackend('auto', { environment: 'browser', loaders: { webgpu: async () => software } });
    expect(auto.tried[0]).toEqual({ name: 'webgpu', ok: false, why: 'software adapter Google SwiftShader skipped; ask for "webgpu" by name to use it' });
    expect(auto.tried.map((t) => t.name)).toEqual(['webgpu', 'webgl', 'wasm']);
    const named = await resolveBackend('webgpu', { loaders: { webgpu: async () => software } });
    expect(named).toMatchObject({ name: 'webgpu', tfBackend: 'webgpu', adapter: software.adapter });
    // a hardware adapter (here described by the probe, as navigator.gpu would) is what auto takes
    const hardware = await resolveBackend('auto', {
      environment: 'browser',
      webgpuAdapter: async () => ({ isSoftware: false, description: 'NVIDIA Ampere' }),
    });
    expect(hardware.name).toBe('webgpu');
    expect(hardware.reason).toBe('auto: webgpu is the first that loaded, on hardware adapter NVIDIA Ampere');
  });

  it('the browser order is webgpu, webgl, wasm, cpu; no navigator.gpu means no adapter', async () => {
    const choice = await resolveBackend('auto', {
      environment: 'browser',
      loaders: { webgl: async () => Promise.reject(notFound('@tensorflow/tfjs-backend-webgl')) },
    });
    expect(choice.environment).toBe('browser');
    expect(choice.tried).toEqual([
      { name: 'webgpu', ok: false, why: 'no loader passed and no "webgpu" backend registered' },
      { name: 'webgl', ok: false, why: '@tensorflow/tfjs-backend-webgl is not installed' },
      { name: 'wasm', ok: true, why: '"wasm" backend already registered' },
    ]);
    registerFake('webgpu', () => new MathBackendCPU());
    const again = await resolveBackend('auto', { environment: 'browser' });
    expect(again.tried[0]).toMatchObject({ name: 'webgpu', ok: false, why: expect.stringMatching(/no WebGPU adapter/) });
  });

  it('a loader that registers nothing says so', async () => {
    await expect(resolveBackend('webgl', { loaders: { webgl: async () => ({}) } })).rejects.toThrow(
      /loaded @tensorflow\/tfjs-backend-webgl, but no "webgl" backend is registered/,
    );
  });

  it('a named backend that is not registered and has no loader is an error naming the package and the loader', async () => {
    await expect(resolveBackend('tensorflow-gpu')).rejects.toThrow(BackendError);
    await expect(resolveBackend('tensorflow-gpu')).rejects.toThrow(
      /no loader passed and no "tensorflow" backend registered\. Install @tensorflow\/tfjs-node-gpu .*pass a loader/,
    );
    await expect(resolveBackend('tensorflow', { loaders: installed })).rejects.toThrow(/@tensorflow\/tfjs-node is not installed\. Install/);
    await expect(resolveBackend('webgl')).rejects.toThrow(/webgl runs in browsers only/);
    await expect(resolveBackend('gpu' as never)).rejects.toThrow(/unknown backend "gpu"/);
    await expect(resolveBackend('toString' as never)).rejects.toThrow(/unknown backend "toString"/);
  });

  it('cpu and wasm compute the same matmul', async () => {
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    await resolveBackend('cpu', { loaders: installed });
    const cpu = tf.matMul(a, a).arraySync();
    await resolveBackend('wasm', { loaders: installed });
    const b = tf.tensor2d([[1, 2], [3, 4]]);
    expect(tf.matMul(b, b).arraySync()).toEqual(cpu);
  });
});

/** A backend that computes (the cpu one) under another name, as a package's loader would register it. */
const fakeLoader = (tfName: string, value: unknown = {}) => async () => {
  // importing a package twice registers once
  if (!tf.findBackendFactory(tfName)) registerFake(tfName, () => new MathBackendCPU());
  return value;
};
const llvmpipe = {
  isSoftware: true,
  description: 'llvmpipe-llvm-15-0-6-256-bits-, OpenGL version 4.5 Core Profile Mesa 22.3.6',
  vendor: '',
  architecture: '',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  isFallbackAdapter: false,
};
const h100 = { isSoftware: false, description: 'nvidia hopper NVIDIA H100 80GB HBM3, Vulkan driver', vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false };

describe('backend resolver: the Node auto order, simulated', () => {
  /** Loaders for every Node backend; `absent` ones fail as an uninstalled package does. */
  function nodeLoaders(absent: string[], webgpuAdapter: unknown = h100): BackendLoaders {
    const all: BackendLoaders = {
      'tensorflow-gpu': fakeLoader('tensorflow'),
      tensorflow: fakeLoader('tensorflow'),
      webgpu: fakeLoader('webgpu', { adapter: webgpuAdapter }),
      blas: fakeLoader('blas'),
      wasm: () => import('@tensorflow/tfjs-backend-wasm'),
      cpu: () => import('@tensorflow/tfjs-backend-cpu'),
    };
    for (const name of absent) {
      const pkg = name === 'webgpu' ? '@bioprop/tfjs-backend-webgpu' : name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : name === 'tensorflow' ? '@tensorflow/tfjs-node' : `@bioprop/tfjs-backend-${name}`;
      all[name as keyof BackendLoaders] = async () => Promise.reject(notFound(pkg));
    }
    return all;
  }

  it.each([
    { absent: [], chosen: 'tensorflow-gpu' },
    { absent: ['tensorflow-gpu'], chosen: 'tensorflow' },
    { absent: ['tensorflow-gpu', 'tensorflow'], chosen: 'webgpu' },
    { absent: ['tensorflow-gpu', 'tensorflow', 'webgpu'], chosen: 'blas' },
    { absent: ['tensorflow-gpu', 'tensorflow', 'webgpu', 'blas'], chosen: 'wasm' },
  ])('without $absent, auto takes $chosen', async ({ absent, chosen }) => {
    await tf.setBackend('cpu');
    const choice = await resolveBackend('auto', { loaders: nodeLoaders(absent), environment: 'node' });
    expect(choice.name).toBe(chosen);
    expect(choice.tried.map((t) => t.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu', 'blas', 'wasm'].slice(0, absent.length + 1));
    expect(choice.tried.filter((t) => !t.ok).map((t) => t.why)).toEqual(absent.map(() => expect.stringMatching(/ is not installed$/)));
    expect(tf.getBackend()).toBe(choice.tfBackend);
  });

  it('the tfjs-node-gpu path: its loader is used, and the reason names its package', async () => {
    await tf.setBackend('cpu');
    const choice = await resolveBackend('auto', { loaders: nodeLoaders([]), environment: 'node' });
    expect(choice).toMatchObject({ name: 'tensorflow-gpu', tfBackend: 'tensorflow' });
    expect(choice.reason).toBe('auto: tensorflow-gpu is the first that loaded');
    expect(choice.tried).toEqual([{ name: 'tensorflow-gpu', ok: true, why: 'loaded @tensorflow/tfjs-node-gpu' }]);
    const named = await resolveBackend('tensorflow-gpu', { loaders: nodeLoaders([]) });
    expect(named.reason).toBe('asked for tensorflow-gpu (loaded @tensorflow/tfjs-node-gpu)');
  });

  it('webgpu on a hardware adapter comes before blas, and the choice reports the adapter', async () => {
    await tf.setBackend('cpu');
    const choice = await resolveBackend('auto', { loaders: nodeLoaders(['tensorflow-gpu', 'tensorflow']), environment: 'node' });
    expect(choice).toMatchObject({ name: 'webgpu', tfBackend: 'webgpu', adapter: h100 });
    expect(choice.reason).toBe(
      'auto: webgpu is the first that loaded (tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed; tensorflow: @tensorflow/tfjs-node is not installed), ' +
        'on hardware adapter nvidia hopper NVIDIA H100 80GB HBM3, Vulkan driver',
    );
    expect(choice.tried[2]).toEqual({ name: 'webgpu', ok: true, why: `loaded @bioprop/tfjs-backend-webgpu, hardware adapter ${h100.description}` });
  });

  it('a software adapter: auto skips it for blas and says why; asked for by name it is taken and reported', async () => {
    await tf.setBackend('cpu');
    const loaders = nodeLoaders(['tensorflow-gpu', 'tensorflow'], llvmpipe);
    const auto = await resolveBackend('auto', { loaders, environment: 'node' });
    expect(auto.name).toBe('blas');
    expect(auto.tried.find((t) => t.name === 'webgpu')).toEqual({
      name: 'webgpu',
      ok: false,
      why: `software adapter ${llvmpipe.description} skipped; ask for "webgpu" by name to use it`,
    });
    expect(auto.adapter).toBeUndefined();
    const named = await resolveBackend('webgpu', { loaders, environment: 'node' });
    expect(named).toMatchObject({ name: 'webgpu', tfBackend: 'webgpu', adapter: llvmpipe });
    expect(named.reason).toBe(`asked for webgpu (loaded @bioprop/tfjs-backend-webgpu, software adapter ${llvmpipe.description})`);
  });

  it('no adapter at all: auto goes on; by name it is an error with the reason', async () => {
    await tf.setBackend('cpu');
    const loaders: BackendLoaders = {
      webgpu: async () => {
        throw new Error('no WebGPU adapter found (Dawn default backend: no adapter; backend=opengl: no adapter)');
      },
    };
    const auto = await resolveBackend('auto', { loaders, environment: 'node' });
    expect(auto.tried.find((t) => t.name === 'webgpu')?.why).toMatch(/^no WebGPU adapter found/);
    await expect(resolveBackend('webgpu', { loaders, environment: 'node' })).rejects.toThrow(/backend "webgpu" is not available: no WebGPU adapter found/);
    expect(tf.getBackend()).toBe(auto.tfBackend);
  });

  it('webgpu missing in Node names the Dawn package and its loader', async () => {
    await expect(resolveBackend('webgpu', { environment: 'node' })).rejects.toThrow(
      /Install @bioprop\/tfjs-backend-webgpu .*loaders: \{ 'webgpu': webgpuLoader\(\) \}/,
    );
    await expect(resolveBackend('webgpu', { environment: 'browser' })).rejects.toThrow(/Install @tensorflow\/tfjs-backend-webgpu /);
  });
});

describe('backend resolver with no backend active yet', () => {
  it('a failed named backend leaves nothing chosen, and tf.ready() then takes a working one', async () => {
    tf.engine().reset();
    registerFake('tensorflow', () => Promise.reject(new Error('no libtensorflow')), 100);
    await expect(resolveBackend('tensorflow')).rejects.toThrow(/initialization failed: .*no libtensorflow/);
    expect(tf.getBackend()).not.toBe('tensorflow');
    await tf.ready();
    expect(['wasm', 'cpu']).toContain(tf.getBackend());
    expect(opsWork()).toBe(true);
  });
});
