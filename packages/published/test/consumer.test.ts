// A user's first minutes: `npm install` the published tarballs into an empty project outside the workspace, run the
// README's usage example and `npx bioprop rules`, and see the blas backend install both without OpenBLAS (it
// installs, says why, and `auto` falls back) and with it (the install script builds the addon and `auto` takes it).
// npm resolves everything from a registry on 127.0.0.1 that serves the tarballs and the third-party packages
// packed from the workspace's node_modules: no network.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRegistry, thirdPartyClosure, type LocalRegistry } from '../src/registry.js';
import { ROOT, publishedPackages, run, runAsync, tail, type RunResult } from '../src/workspace.js';

const packed = inject('packed');

/** Published packages a user installs here; @bioprop/testing is a test-time tool (its vitest peer is checked by attw). */
const installed = publishedPackages().filter((p) => p.name !== '@bioprop/testing');
/** What the application adds itself: TensorFlow.js and the backends it picked. */
const APP_DEPS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'];

let registry: LocalRegistry;
/** Optional peers npm looks up but does not install (node-fetch's `encoding`): a miss on them is no problem. */
let optionalPeers: Set<string>;
let project: string;
let install: RunResult;
const scratch = mkdtempSync(join(tmpdir(), 'bioprop-consumer-'));

/** The environment npm runs in: no npm_* settings inherited from the pnpm that runs these tests, no blas switches. */
function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|pnpm_|NODE_OPTIONS$|BIOPROP_BLAS_)/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** npm with the local registry, a fresh cache and no user config: what it needs can only come from the registry. */
function npm(args: string[], extra: Record<string, string> = {}, timeout = 300_000): Promise<RunResult> {
  const flags = [
    `--registry=${registry.url}`,
    `--cache=${join(scratch, 'npm-cache')}`,
    `--userconfig=${join(scratch, 'npmrc')}`,
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--foreground-scripts',
    // anything but the local registry goes to a dead proxy, so a request to the network fails the test
    '--proxy=http://127.0.0.1:9',
    '--https-proxy=http://127.0.0.1:9',
    '--noproxy=127.0.0.1',
  ];
  return runAsync(['npm', ...args, ...flags], { cwd: project, env: npmEnv(extra), timeout });
}

/** Run a module in the scratch project. */
function node(file: string, source: string, timeout = 300_000): Promise<RunResult> {
  writeFileSync(join(project, file), source);
  return runAsync([process.execPath, file], { cwd: project, env: npmEnv(), timeout });
}

const HAS_OPENBLAS =
  run(['pkg-config', '--exists', 'openblas']).status === 0 ||
  ['/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h', '/usr/include/aarch64-linux-gnu/openblas-pthread/cblas.h', '/usr/include/openblas/cblas.h'].some(
    (f) => existsSync(f),
  );
const HAS_COMPILER = run([process.env.CXX || 'c++', '--version']).status === 0;

const CHOOSE_BACKEND = `import { resolveBackend } from '@bioprop/core';
const choice = await resolveBackend('auto', {
  loaders: {
    blas: () => import('@bioprop/tfjs-backend-blas'),
    wasm: () => import('@tensorflow/tfjs-backend-wasm'),
    cpu: () => import('@tensorflow/tfjs-backend-cpu'),
  },
});
console.log(JSON.stringify(choice));
`;
const choiceOf = (r: RunResult) => JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { name: string; tried: { name: string; why: string }[] };

beforeAll(async () => {
  const t0 = performance.now();
  const closure = thirdPartyClosure(installed, (name) => name.startsWith('@bioprop/'));
  registry = await startRegistry(Object.values(packed), [...closure.keys()]);
  // optional peers, and optional dependencies the workspace does not have (another platform's prebuilt binaries, e.g.
  // msgpackr-extract's darwin and win32 packages under bullmq): npm asks for them and goes on without them
  optionalPeers = new Set(
    [...closure.values(), ...installed.map((p) => p.json)].flatMap((j) => [
      ...Object.entries(j.peerDependenciesMeta ?? {})
        .filter(([, m]) => m?.optional)
        .map(([n]) => n),
      ...Object.keys(j.optionalDependencies ?? {}),
    ]),
  );
  project = join(scratch, 'app');
  mkdirSync(project);
  writeFileSync(join(scratch, 'npmrc'), '');
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'bioprop-consumer', private: true, type: 'module' }, null, 2)}\n`);
  // first without OpenBLAS: the blas install script must give up cleanly, saying why
  install = await npm(['install', ...installed.map((p) => p.name), ...APP_DEPS], { BIOPROP_BLAS_ASSUME_NO_OPENBLAS: '1' });
  console.log(`[consumer] ${registry.served.length} packages served; npm install took ${install.seconds.toFixed(1)} s (set-up ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
});

afterAll(async () => {
  await registry?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('npm install of the published tarballs, offline', () => {
  it('installs every published package and its dependencies from the tarballs alone', () => {
    expect(install.status, `npm install failed:\n${tail(install.output, 60)}`).toBe(0);
    const missing = registry.misses.filter((m) => !optionalPeers.has(m.replace(/^GET \//, '')));
    expect(missing, 'npm asked for packages the tarballs do not provide').toEqual([]);
    for (const p of installed) {
      const json = JSON.parse(readFileSync(join(project, 'node_modules', p.name, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
      expect(json.version).toBe(p.json.version);
      expect(JSON.stringify(json.dependencies ?? {}), `${p.name} was published with a workspace: or catalog: range`).not.toMatch(/workspace:|catalog:/);
    }
  });

  it("runs the README's usage example", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /## Use\s+```ts\n([\s\S]*?)```/.exec(readme);
    expect(block, 'README.md has a ```ts block under "## Use"').not.toBeNull();
    const { code } = await transform(block![1], { loader: 'ts', format: 'esm' });
    const r = await node('readme-example.mjs', code);
    expect(r.status, `the README example failed:\n${tail(r.output)}`).toBe(0);
    expect(r.output).toMatch(/accuracy/);
  });

  it('`npx bioprop rules` lists the rules', async () => {
    const r = await runAsync(['npx', '--no', `--cache=${join(scratch, 'npm-cache')}`, `--userconfig=${join(scratch, 'npmrc')}`, '--offline', 'bioprop', 'rules'], {
      cwd: project,
      env: npmEnv(),
      timeout: 120_000,
    });
    expect(r.status, `npx bioprop rules failed:\n${tail(r.output)}`).toBe(0);
    for (const id of ['bp', 'fa', 'dfa', 'kp', 'lra-diff', 'dtp']) expect(r.stdout).toMatch(new RegExp(`\\b${id}\\b`));
  });

  it('without OpenBLAS the blas package installs, says why, and auto falls back to wasm', async () => {
    expect(install.output).toMatch(/\[@bioprop\/tfjs-backend-blas\] native addon not built: OpenBLAS was not found/);
    const r = await node('choose-backend.mjs', CHOOSE_BACKEND);
    expect(r.status, tail(r.output)).toBe(0);
    const choice = choiceOf(r);
    expect(choice.name).toBe('wasm');
    expect(choice.tried.find((t) => t.name === 'blas')?.why).toMatch(/^native addon not built: OpenBLAS was not found/);
  });

  const canBuild = HAS_OPENBLAS && HAS_COMPILER;
  it.skipIf(!canBuild && process.env.CI !== 'true')(
    `with OpenBLAS and a compiler the install script builds the addon and auto takes blas${canBuild ? '' : ' (needs libopenblas-dev and a C++ compiler)'}`,
    async () => {
      const rebuild = await npm(['rebuild', '@bioprop/tfjs-backend-blas'], {}, 600_000);
      expect(rebuild.status, tail(rebuild.output)).toBe(0);
      expect(rebuild.output, tail(rebuild.output)).toMatch(/\[@bioprop\/tfjs-backend-blas\] native addon built/);
      const r = await node('choose-backend.mjs', CHOOSE_BACKEND);
      expect(r.status, tail(r.output)).toBe(0);
      expect(choiceOf(r).name).toBe('blas');
      console.log(`[consumer] the blas addon built at install in ${rebuild.seconds.toFixed(0)} s`);
    },
  );
});
