import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';

/** The built executable, run as a user would: `node packages/cli/dist/bin.js …`. */
export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The directories `tempDir` made for this test file. */
const made: string[] = [];

// removed when the file's tests are done: run folders hold checkpoints (the CIFAR LC smoke run writes ~5 GB of them),
// and a suite run must not fill the disk of the machine it runs on; BIOPROP_KEEP_TEST_DIRS=1 keeps them to look at
afterAll(() => {
  if (process.env.BIOPROP_KEEP_TEST_DIRS === '1') return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working directory (default outputs and checkpoints land there), removed after the test file. */
export function tempDir(prefix = 'bioprop-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface StartOptions {
  /** Flags for node itself, before the script (e.g. `--import` of a module-resolution hook). */
  nodeArgs?: readonly string[];
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
}

export function startCli(args: readonly string[], cwd: string, options: StartOptions = {}): { child: ChildProcess; done: Promise<CliRun>; stderrSoFar: () => string } {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliRun>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
  return { child, done, stderrSoFar: () => stderr };
}

export function runCli(args: readonly string[], cwd: string, options: StartOptions = {}): Promise<CliRun> {
  return startCli(args, cwd, options).done;
}

/** The CLI package directory: backend packages resolve from here, as they do for the built CLI. */
export const CLI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Why `@bioprop/tfjs-backend-blas` cannot be imported from the CLI (its addon did not build, or it is not
 * installed), or null when it loads. Under CI=true (which installs OpenBLAS and a compiler) a problem is a failure.
 */
const PROBE_BLAS = "try { await import('@bioprop/tfjs-backend-blas') } catch (e) { console.error(String(e?.message ?? e).split('\\n')[0]); process.exit(1) }";

export async function blasProblem(): Promise<string | null> {
  const probe = spawn(process.execPath, ['--input-type=module', '-e', PROBE_BLAS], { cwd: CLI_DIR, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  probe.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((res, rej) => {
    probe.on('error', rej);
    probe.on('close', res);
  });
  if (code === 0) return null;
  const why = stderr.trim() || `exit ${code}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and @bioprop/tfjs-backend-blas does not load from the CLI: ${why}`);
  return why;
}

/** The tiny budget every end-to-end test uses (embedded digits, a small network, one epoch). */
export const TINY = ['--dataset', 'digits', '--limit-train', '300', '--limit-test', '100', '--epochs', '1', '--arch', '784-32-10', '--backend', 'wasm'];

/** A sweep folder's store (`trials.jsonl`), one parsed line each. */
export function readTrials<T>(folder: string): T[] {
  return readFileSync(join(folder, 'trials.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

/** The one folder a command made under `root` (a run or sweep folder), asserting there is exactly one. */
export function onlyFolder(root: string): string {
  const names = readdirSync(root);
  expect(names).toHaveLength(1);
  return join(root, names[0]);
}
