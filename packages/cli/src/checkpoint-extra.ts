import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '@bioprop/core';
import type { RunCheckpointExtra } from './run.js';

/** Read the CLI's part of a run's checkpoint (its spec and history, in the manifest's `extra`). */
export async function readCheckpointExtra(dir: string): Promise<RunCheckpointExtra> {
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CheckpointError(`${file}: no checkpoint here (manifest.json is missing)`);
  }
  let manifest: { extra?: RunCheckpointExtra };
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt manifest (${(e as Error).message})`);
  }
  const extra = manifest.extra;
  if (extra?.kind !== 'bioprop-cli-run') throw new CheckpointError(`${file}: not a checkpoint written by bioprop`);
  if (extra.version !== 2) throw new CheckpointError(`${file}: written by an earlier bioprop (before run folders); start the run again`);
  if (!Array.isArray(extra.history) || typeof extra.trainSeconds !== 'number' || typeof extra.samples !== 'number') {
    throw new CheckpointError(`${file}: extra.history, trainSeconds and samples must be present`);
  }
  return extra;
}
