/**
 * Run folders: every run keeps its own `runs/<name>-<UTC time>/` with the resolved experiment, the environment it ran
 * in (package versions, git commit, backend, machine), results, per-step metrics, curves and checkpoints. Nothing in
 * one is overwritten by another run; a resumed run continues its own folder.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CheckpointError, type BackendChoice, type JsonValue } from '@bioprop/core';
import { UsageError } from './errors.js';
import { parseExperiment, type Experiment } from './experiment.js';
import { BUNDLED_RULE_PACKAGES } from './rules.js';

export const EXPERIMENT_FILE = 'experiment.json';
export const RESULTS_FILE = 'results.json';
export const METRICS_FILE = 'metrics.jsonl';
export const ENVIRONMENT_FILE = 'environment.json';

/** `20261202T184512Z`: sortable, no characters that need quoting in a shell or on Windows. */
export function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Write a file atomically (a crash leaves the old or the new, never half of one). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export interface RunFolder {
  readonly dir: string;
  /** The checkpoint folder of one run (`checkpoints/<label>-seed<n>`). */
  checkpointDir(key: string): string;
  /** Append one line to metrics.jsonl. */
  metrics(line: Record<string, JsonValue>): void;
  /**
   * Drop run `run`'s metrics lines past `step` (its resumed position): what a killed process logged after its last
   * checkpoint is logged again by the resumed run, and would otherwise appear twice.
   */
  rewindMetrics(run: string, step: number): void;
  /** Write (atomically) a file of the folder. */
  write(name: string, text: string): void;
  writeJson(name: string, value: unknown): void;
}

function folder(dir: string): RunFolder {
  return {
    dir,
    checkpointDir: (key) => join(dir, 'checkpoints', key),
    metrics: (line) => appendFileSync(join(dir, METRICS_FILE), `${JSON.stringify(line)}\n`),
    rewindMetrics: (run, step) => rewindMetrics(join(dir, METRICS_FILE), run, step),
    write: (name, text) => writeFileAtomic(join(dir, name), text),
    writeJson: (name, value) => writeFileAtomic(join(dir, name), `${JSON.stringify(value, null, 2)}\n`),
  };
}

/** Rewrite (atomically) a metrics file without `run`'s lines past `step`; other lines, unreadable ones too, stay. */
function rewindMetrics(file: string, run: string, step: number): void {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const keep = lines.filter((text) => {
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      return true;
    }
    const l = line as { run?: unknown; step?: unknown } | null;
    return !(l && l.run === run && typeof l.step === 'number' && l.step > step);
  });
  if (keep.length < lines.length) writeFileAtomic(file, keep.map((l) => `${l}\n`).join(''));
}

/**
 * Create a folder and its missing parents one level at a time: Node's recursive mkdir never returns for a path under
 * procfs (`/proc/x/y`), while a plain mkdir fails at once there.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); ; ) {
    let st;
    try {
      st = lstatSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw e;
      missing.push(at);
      const up = dirname(at);
      if (up === at) break;
      at = up;
      continue;
    }
    if (!st.isDirectory()) throw Object.assign(new Error(`${at} is not a folder`), { code: 'ENOTDIR' });
    break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Make a new run folder `<root>/<name>-<UTC time>` (a `-2`, `-3`… suffix when two start in the same second) and write
 * the experiment into it at once: a folder that cannot be written fails here, before any training.
 */
export function createRunFolder(root: string, experiment: Experiment, date = new Date()): RunFolder {
  try {
    makeDirs(root);
  } catch (e) {
    throw new UsageError(`runs folder ${root}: cannot create it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const base = join(root, `${experiment.name}-${utcStamp(date)}`);
  for (let i = 1; i < 1000; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      // without `recursive`, mkdir fails on an existing folder: two runs never share one
      mkdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw new UsageError(`run folder ${dir}: cannot create it (${code ?? (e as Error).message})`);
    }
    const f = folder(dir);
    f.writeJson(EXPERIMENT_FILE, experiment);
    return f;
  }
  throw new UsageError(`run folder ${base}: too many runs started in the same second`);
}

/** Open an existing run folder to resume it: its experiment comes back validated. */
export function openRunFolder(dir: string): { folder: RunFolder; experiment: Experiment } {
  const file = join(dir, EXPERIMENT_FILE);
  if (!existsSync(file)) {
    if (existsSync(join(dir, 'manifest.json'))) {
      throw new UsageError(`${dir} is a checkpoint, not a run folder: resume the run folder that holds it (the folder with ${EXPERIMENT_FILE})`);
    }
    throw new UsageError(`${dir}: not a run folder (${EXPERIMENT_FILE} is missing)`);
  }
  const st = lstatSync(file);
  if (!st.isFile()) throw new CheckpointError(`${file}: not a regular file`);
  if (st.size > 1 << 20) throw new CheckpointError(`${file}: ${st.size} bytes is too large for an experiment`);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt (${(e as Error).message})`);
  }
  return { folder: folder(dir), experiment: parseExperiment(doc, file) };
}

/** Refuse to overwrite a file the user names (`--out`, `--plot`, a report) unless `force`; check its folder is writable. */
export async function checkOutputFile(file: string, what: string, force: boolean): Promise<void> {
  if (file === '-') return;
  const path = resolve(file);
  if (existsSync(path)) {
    if (!force) throw new UsageError(`${what} ${file} exists: choose another name, or give --force to replace it`);
    if (!lstatSync(path).isFile()) throw new UsageError(`${what} ${file} exists and is not a regular file`);
  }
  let dir = dirname(path);
  // the nearest existing ancestor must be a writable folder
  while (!existsSync(dir)) dir = dirname(dir);
  if (!lstatSync(dir).isDirectory()) throw new UsageError(`${what} ${file}: ${dir} is not a folder`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${what} ${file}: the folder ${dir} is not writable`);
  }
  // permission bits are not the whole story (procfs, read-only mounts, root): create and remove a file there, as the
  // atomic write at the end will
  const probe = join(dir, `.bioprop-write-check-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (e) {
    throw new UsageError(`${what} ${file}: cannot create files in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  unlinkSync(probe);
}

/** Write a file the user named, creating its folder; atomically, so a failure keeps what was there. */
export function writeOutputFile(file: string, text: string): void {
  makeDirs(dirname(resolve(file)));
  writeFileAtomic(file, text);
}

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string | null {
  try {
    return (require(`${pkg}/package.json`) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

/** What a result depends on besides its config: versions, commit, backend, machine. */
export function environment(backend: BackendChoice, plugins: readonly string[], argv: readonly string[]): Record<string, JsonValue> {
  const packages: Record<string, string | null> = {};
  for (const p of ['@bioprop/cli', '@bioprop/core', '@bioprop/datasets', '@bioprop/diagnostics', ...BUNDLED_RULE_PACKAGES, '@bioprop/tfjs-backend-blas', '@tensorflow/tfjs-core']) {
    packages[p] = versionOf(p);
  }
  for (const p of plugins) packages[p] = versionOf(p);
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  const cpu = cpus();
  return {
    started: new Date().toISOString(),
    command: ['bioprop', ...argv].join(' '),
    cwd: process.cwd(),
    packages,
    git: commit ? { commit, dirty: status !== null && status.length > 0 } : null,
    backend: { name: backend.name, reason: backend.reason },
    node: process.version,
    machine: {
      hostname: hostname(),
      platform: `${platform()} ${release()}`,
      arch: arch(),
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? null,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    env: { OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? null, CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES ?? null },
  };
}

/** Whether a path is a run folder. */
export const isRunFolder = (dir: string) => existsSync(join(dir, EXPERIMENT_FILE));
