/**
 * `@bioprop/core/node`: checkpoints on disk. Node only (it imports `node:fs` and `node:path`); everything else,
 * including checkpoints in memory (`serializeCheckpoint`, `deserializeCheckpoint`, `restoreTrainerFrom`), is in
 * `@bioprop/core`, which runs in browsers too.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { totalmem } from 'node:os';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  applyTrainerCheckpoint,
  deserializeCheckpoint,
  networkFromCheckpoint,
  parseCheckpointManifest,
  serializeCheckpoint,
  type CheckpointManifest,
  type CheckpointParts,
  type LoadedCheckpoint,
  type ManifestLimits,
} from './checkpoint.js';
import { CheckpointError } from './errors.js';
import type { Trainer } from './trainer.js';
import type { Network, NetworkConfig, TensorMap } from './types.js';

/** The largest `manifest.json` read (a manifest is a few kilobytes to a few megabytes for large graphs). */
export const MAX_MANIFEST_BYTES = 64 * 2 ** 20;

function kindOf(stat: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * Open a file for reading only if it is a regular file of at most `maxBytes`: opened non-blocking (a FIFO cannot
 * hang the open) and checked with fstat on the open handle (a symlink to /dev/zero is a character device).
 */
async function openRegular(path: string, what: string, maxBytes: number): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${path}: ${what} is missing` : `${path}: cannot open the ${what} (${code ?? (e as Error).message})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new CheckpointError(`${path}: the ${what} must be a regular file, this is ${kindOf(stat)}`);
    if (stat.size > maxBytes) throw new CheckpointError(`${path}: the ${what} has ${stat.size} bytes, more than the ${maxBytes} accepted`);
    return { handle, size: stat.size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Read exactly `size` bytes from the start of an open file. */
async function readExactly(handle: FileHandle, size: number, path: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const { bytesRead } = await handle.read(out, at, size - at, at);
    if (bytesRead === 0) throw new CheckpointError(`${path}: file shrank while being read (${at} of ${size} bytes)`);
    at += bytesRead;
  }
  return out;
}

/** Read and validate `dir/manifest.json` (a regular file under `MAX_MANIFEST_BYTES`); nothing is built from it. */
async function readManifest(dir: string, limits: ManifestLimits): Promise<{ manifest: CheckpointManifest; manifestPath: string }> {
  const manifestPath = join(dir, 'manifest.json');
  let opened;
  try {
    opened = await openRegular(manifestPath, 'manifest', MAX_MANIFEST_BYTES);
  } catch (e) {
    if (e instanceof CheckpointError && / is missing$/.test(e.message)) {
      throw new CheckpointError(`${manifestPath}: no checkpoint here (manifest.json is missing)`);
    }
    throw e;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readExactly(opened.handle, opened.size, manifestPath));
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${manifestPath}: corrupt manifest (not UTF-8 text)`);
  } finally {
    await opened.handle.close();
  }
  return { manifest: parseCheckpointManifest(text, manifestPath, limits), manifestPath };
}

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/**
 * Create a directory and its missing parents one at a time (Node's recursive mkdir never returns on procfs paths
 * such as `/proc/x`); every failure is a `CheckpointError` naming the directory and the reason.
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ; ) {
    let st;
    try {
      st = await stat(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; walk up to name it
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new CheckpointError(`${dir}: cannot create the checkpoint directory (${at}: ${code ?? (e as Error).message})`);
      missing.push(at);
      const up = dirname(at);
      if (up === at) throw new CheckpointError(`${dir}: cannot create the checkpoint directory (no existing parent)`);
      at = up;
      continue;
    }
    if (!st.isDirectory()) throw new CheckpointError(`${dir}: cannot create the checkpoint directory: ${at} is not a directory`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw new CheckpointError(`${dir}: cannot create the checkpoint directory (${d}: ${code ?? (e as Error).message})`);
    }
  }
}

/**
 * Check, before training, that checkpoints can be saved in `dir`: create it (and its parents) and write, sync and
 * remove a probe file. A `CheckpointError` names the directory and the reason (`/proc/x`, a path under a file, a
 * read-only place), so a run fails at its start rather than at its first save.
 */
export async function prepareCheckpointDir(dir: string): Promise<void> {
  await makeDirectory(dir);
  const probe = join(dir, `.probe-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await writeAtomicProbe(probe);
  } catch (e) {
    throw new CheckpointError(`${dir}: checkpoints cannot be written here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}

async function writeAtomicProbe(file: string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile('probe');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Save a network with its rule state (and, given a trainer, the optimizer slots, random streams and position)
 * to a directory: the weights file is written under a new name, then `manifest.json` is replaced by rename, so
 * an interrupted save leaves the previous checkpoint whole.
 */
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<CheckpointManifest> {
  const { manifest, data } = await serializeCheckpoint(parts);
  await makeDirectory(dir);
  await writeAtomic(join(dir, manifest.weightsFile), data);
  await writeAtomic(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  // the old weights file is no longer referenced: remove it (and stale temp files)
  for (const name of await readdir(dir)) {
    if ((name.startsWith('weights-') && name !== manifest.weightsFile) || name.includes('.tmp-')) {
      await rm(join(dir, name), { force: true });
    }
  }
  return manifest;
}

/**
 * Check a checkpoint directory without building or allocating anything from it: `manifest.json` and the weights are
 * regular files within their size caps, every manifest field is valid and matches the manifest's own digest, and the
 * weights (hashed in chunks) match the manifest's size and SHA-256. Returns the verified manifest; any defect is a
 * `CheckpointError` naming the file (a `ManifestError`, naming the field too, for a bad manifest field). Call it before
 * building a network from a checkpoint's options (`manifest.network`, `manifest.extra`).
 */
export async function verifyCheckpoint(dir: string, limits: ManifestLimits = {}): Promise<CheckpointManifest> {
  const { manifest } = await readManifest(dir, limits);
  const weightsPath = join(dir, basename(manifest.weightsFile));
  const { handle, size } = await openRegular(weightsPath, 'weights file named by the manifest', manifest.byteLength);
  try {
    if (size !== manifest.byteLength) {
      throw new CheckpointError(`${weightsPath}: ${size} bytes, the manifest says ${manifest.byteLength} (truncated or corrupt)`);
    }
    const hash = createHash('sha256');
    const chunk = new Uint8Array(Math.min(size, 4 * 2 ** 20) || 1);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - at), at);
      if (bytesRead === 0) throw new CheckpointError(`${weightsPath}: file shrank while being read (${at} of ${size} bytes)`);
      hash.update(chunk.subarray(0, bytesRead));
      at += bytesRead;
    }
    if (hash.digest('hex') !== manifest.sha256) throw new CheckpointError(`${weightsPath}: SHA-256 does not match the manifest (corrupt file)`);
  } finally {
    await handle.close();
  }
  return manifest;
}

/**
 * Read and verify a checkpoint directory (every manifest field, the manifest's digest, the weights' size and
 * SHA-256; regular files only) and make its tensors; every defect is a `CheckpointError` naming the file.
 */
export async function readCheckpoint(dir: string, limits: ManifestLimits = {}): Promise<LoadedCheckpoint> {
  const { manifest, manifestPath } = await readManifest(dir, limits);
  const weightsPath = join(dir, basename(manifest.weightsFile));
  // at most the manifest's byteLength is read: a larger file is refused before reading, a smaller one after
  const { handle, size } = await openRegular(weightsPath, 'weights file named by the manifest', manifest.byteLength);
  let data: Uint8Array;
  try {
    data = await readExactly(handle, size, weightsPath);
  } finally {
    await handle.close();
  }
  return deserializeCheckpoint({ manifest, data }, { ...limits, source: dir, manifestLabel: manifestPath, weightsLabel: weightsPath });
}

/**
 * Restore a trainer (built with the same network shape, rule and optimizer) from a checkpoint directory: weights,
 * running statistics, rule state, optimizer slots, random streams and position, so `fit` continues bit-for-bit.
 */
export async function restoreTrainer(trainer: Trainer, dir: string, limits: ManifestLimits = {}): Promise<CheckpointManifest> {
  const ck = await readCheckpoint(dir, limits);
  try {
    return applyTrainerCheckpoint(trainer, ck, dir);
  } finally {
    ck.dispose();
  }
}

/**
 * Rebuild a network from a checkpoint directory and load its weights and running statistics. Networks of core's
 * module kinds rebuild from the stored config; pass `build` for networks with modules of your own.
 */
export async function loadNetwork(
  dir: string,
  options: { build?: (config: NetworkConfig) => Network } & ManifestLimits = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await readCheckpoint(dir, options);
  try {
    return networkFromCheckpoint(ck, { ...options, source: dir });
  } finally {
    ck.dispose();
  }
}

/**
 * The default memory limit for a run: `fraction` (default 0.5) of this machine's memory, or of the process's
 * constraint (a container's cgroup limit) where one is set. Compare estimates with it through `checkMemoryLimit`.
 */
export function defaultMemoryLimit(fraction = 0.5): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  const total = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.floor(total * fraction);
}
