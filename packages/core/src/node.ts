/**
 * `@bioprop/core/node`: checkpoints on disk. Node only (it imports `node:fs` and `node:path`); everything else,
 * including checkpoints in memory (`serializeCheckpoint`, `deserializeCheckpoint`, `restoreTrainerFrom`), is in
 * `@bioprop/core`, which runs in browsers too.
 */
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  applyTrainerCheckpoint,
  deserializeCheckpoint,
  networkFromCheckpoint,
  parseCheckpointManifest,
  serializeCheckpoint,
  type CheckpointManifest,
  type CheckpointParts,
  type LoadedCheckpoint,
} from './checkpoint.js';
import { CheckpointError } from './errors.js';
import type { Trainer } from './trainer.js';
import type { Network, NetworkConfig, TensorMap } from './types.js';

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
 * Save a network with its rule state (and, given a trainer, the optimizer slots, random streams and position)
 * to a directory: the weights file is written under a new name, then `manifest.json` is replaced by rename, so
 * an interrupted save leaves the previous checkpoint whole.
 */
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<CheckpointManifest> {
  const { manifest, data } = await serializeCheckpoint(parts);
  await mkdir(dir, { recursive: true });
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

/** Read and verify a checkpoint directory (format, hash, sizes); every defect is a `CheckpointError` naming the file. */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const manifestPath = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch {
    throw new CheckpointError(`${manifestPath}: no checkpoint here (manifest.json is missing)`);
  }
  const manifest = parseCheckpointManifest(text, manifestPath);
  const weightsPath = join(dir, basename(manifest.weightsFile));
  let data: Uint8Array;
  try {
    data = new Uint8Array(await readFile(weightsPath));
  } catch {
    throw new CheckpointError(`${weightsPath}: weights file named by the manifest is missing`);
  }
  return deserializeCheckpoint({ manifest, data }, { source: dir, manifestLabel: manifestPath, weightsLabel: weightsPath });
}

/**
 * Restore a trainer (built with the same network shape, rule and optimizer) from a checkpoint directory: weights,
 * running statistics, rule state, optimizer slots, random streams and position, so `fit` continues bit-for-bit.
 */
export async function restoreTrainer(trainer: Trainer, dir: string): Promise<CheckpointManifest> {
  const ck = await readCheckpoint(dir);
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
  options: { build?: (config: NetworkConfig) => Network } = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await readCheckpoint(dir);
  try {
    return networkFromCheckpoint(ck, { ...options, source: dir });
  } finally {
    ck.dispose();
  }
}
