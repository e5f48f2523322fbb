import { CheckpointError } from '@bioprop/core';
import { verifyCheckpoint } from '@bioprop/core/node';
import type { RunCheckpointExtra } from './run.js';

/**
 * Read the CLI's part of a run's checkpoint (its spec and history, in the manifest's `extra`), from a manifest core
 * has verified (its own hash, every field, regular files of bounded size) before anything is built from it.
 */
export async function readCheckpointExtra(dir: string): Promise<RunCheckpointExtra> {
  const manifest = await verifyCheckpoint(dir);
  const file = `${dir}/manifest.json`;
  const extra = manifest.extra as unknown as RunCheckpointExtra | undefined;
  if (extra?.kind !== 'bioprop-cli-run') throw new CheckpointError(`${file}: not a checkpoint written by bioprop`);
  if (extra.version !== 2) throw new CheckpointError(`${file}: written by an earlier bioprop (before run folders); start the run again`);
  if (!Array.isArray(extra.history) || typeof extra.trainSeconds !== 'number' || typeof extra.samples !== 'number') {
    throw new CheckpointError(`${file}: extra.history, trainSeconds and samples must be present`);
  }
  return extra;
}
