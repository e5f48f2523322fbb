import { spawn, spawnSync, type SpawnOptions, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  [key: string]: unknown;
}

export interface WorkspacePackage {
  name: string;
  dir: string;
  json: PackageJson;
}

export const readJson = <T = PackageJson>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Every package under packages/ that is published (not private). */
export function publishedPackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const entry of readdirSync(join(ROOT, 'packages')).sort()) {
    const dir = join(ROOT, 'packages', entry);
    if (!existsSync(join(dir, 'package.json'))) continue;
    const json = readJson(join(dir, 'package.json'));
    if (!json.private) out.push({ name: json.name, dir, json });
  }
  return out;
}

/**
 * Packages that run in Node only, and why; every other published package's entries, and the default entry of these
 * where it says so, must bundle for the browser.
 */
export const NODE_ONLY: Record<string, string> = {
  '@bioprop/cli': 'the command-line program',
  '@bioprop/testing': 'the conformance suite runs under vitest in Node (temporary checkpoint directories)',
  '@bioprop/tfjs-backend-blas': 'a native N-API addon',
  '@bioprop/tfjs-backend-webgpu': "Dawn's native WebGPU for Node (browsers have WebGPU: use @tensorflow/tfjs-backend-webgpu)",
};

/** Subpath exports that are Node-only by name (`./node`), beside `./package.json`. */
export const NODE_SUBPATHS = new Set(['./node', './package.json']);

/** The browser entries: every export subpath of every published package that is not Node-only. */
export function browserEntries(): { pkg: string; specifier: string }[] {
  const out: { pkg: string; specifier: string }[] = [];
  for (const p of publishedPackages()) {
    if (NODE_ONLY[p.name]) continue;
    for (const subpath of Object.keys(p.json.exports ?? { '.': null })) {
      if (NODE_SUBPATHS.has(subpath)) continue;
      out.push({ pkg: p.name, specifier: subpath === '.' ? p.name : `${p.name}${subpath.slice(1)}` });
    }
  }
  return out;
}

/** pnpm, the way this run was started: the running pnpm, a pnpm on PATH, or the pinned one through npx. */
export function pnpmCommand(): string[] {
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(execpath) && existsSync(execpath)) return [process.execPath, execpath];
  if (spawnSync('pnpm', ['--version'], { stdio: 'ignore' }).status === 0) return ['pnpm'];
  const pinned = readJson<{ packageManager?: string }>(join(ROOT, 'package.json')).packageManager ?? 'pnpm@10';
  return ['npx', '-y', pinned];
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  output: string;
  seconds: number;
}

/** Run a command, capturing its output; never throws (check `status`). */
export function run(cmd: string[], options: SpawnSyncOptions = {}): RunResult {
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '');
  return { status: r.status, stdout, stderr, output: `${stdout}\n${stderr}`.trim(), seconds: (performance.now() - t0) / 1000 };
}

/**
 * `run` without blocking the event loop: needed while this process also serves the local registry the command
 * talks to. A command past `timeout` ms is killed (status null).
 */
export function runAsync(cmd: string[], options: SpawnOptions & { timeout?: number } = {}): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((done) => {
    const child = spawn(cmd[0], cmd.slice(1), { ...options, timeout: undefined, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = options.timeout ? setTimeout(() => child.kill('SIGKILL'), options.timeout) : null;
    const finish = (status: number | null, error?: Error) => {
      if (timer) clearTimeout(timer);
      if (error) stderr += `\n${error.message}`;
      done({ status, stdout, stderr, output: `${stdout}\n${stderr}`.trim(), seconds: (performance.now() - t0) / 1000 });
    };
    child.on('error', (err) => finish(null, err));
    child.on('close', (code) => finish(code));
  });
}

/** The last lines of a command's output, for failure messages. */
export const tail = (text: string, lines = 40): string => text.trim().split('\n').slice(-lines).join('\n');
