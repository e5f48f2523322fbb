// Checkpoints as one downloadable file: core's checkpoint of every run (its manifest, and its weights buffer in
// base64), with the playground config they were trained with. Uploading the file resumes those runs bit for bit.
import { restoreTrainerFrom, serializeCheckpoint, type CheckpointManifest } from '@bioprop/core';
import type { PlaygroundConfig, Run } from './experiment';

export const BUNDLE_FORMAT = 'bioprop-playground-checkpoints';

export interface CheckpointBundle {
  format: typeof BUNDLE_FORMAT;
  version: 1;
  config: PlaygroundConfig;
  runs: { rule: string; step: number; manifest: CheckpointManifest; weightsBase64: string }[];
}

function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(out);
}

function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function checkpointBundle(runs: readonly Run[], config: PlaygroundConfig): Promise<string> {
  const out: CheckpointBundle = { format: BUNDLE_FORMAT, version: 1, config, runs: [] };
  for (const run of runs) {
    const { manifest, data } = await serializeCheckpoint({ network: run.network, boundRule: run.trainer.boundRule, trainer: run.trainer });
    out.runs.push({ rule: run.id, step: run.trainer.position.step, manifest, weightsBase64: toBase64(data) });
  }
  return JSON.stringify(out);
}

/** Parses an uploaded bundle (a clear error for anything else). */
export function parseBundle(text: string, name: string): CheckpointBundle {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${name}: not JSON (expected a checkpoint file saved by this page)`);
  }
  const b = value as Partial<CheckpointBundle> | null;
  if (!b || b.format !== BUNDLE_FORMAT || b.version !== 1 || !Array.isArray(b.runs) || !b.config) {
    throw new Error(`${name}: not a playground checkpoint file (format "${BUNDLE_FORMAT}", version 1)`);
  }
  return b as CheckpointBundle;
}

/**
 * Restores each run that the bundle holds (same rule id) through core's checks (network shapes, optimizer, digest):
 * weights, rule state, optimizer slots, random streams and position. Returns the step they resume from.
 */
export async function restoreRuns(runs: readonly Run[], bundle: CheckpointBundle, name: string): Promise<number> {
  let step: number | null = null;
  for (const run of runs) {
    const saved = bundle.runs.find((r) => r.rule === run.id);
    if (!saved) throw new Error(`${name} holds no checkpoint of ${run.id} (it has ${bundle.runs.map((r) => r.rule).join(', ')})`);
    if (step !== null && saved.step !== step) throw new Error(`${name}: the runs were saved at different steps`);
    step = saved.step;
    await restoreTrainerFrom(run.trainer, { manifest: saved.manifest, data: fromBase64(saved.weightsBase64) }, { source: `${name} (${run.id})` });
  }
  return step ?? 0;
}
