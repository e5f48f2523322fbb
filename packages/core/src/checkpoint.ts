import * as tf from '@tensorflow/tfjs-core';
import { networkFromConfig } from './config.js';
import { CheckpointError } from './errors.js';
import type { Trainer, TrainerPosition } from './trainer.js';
import type { BoundRule, JsonValue, Network, NetworkConfig, TensorMap, VariableMap } from './types.js';

export const CHECKPOINT_FORMAT = 'bioprop-checkpoint';
/**
 * 2: networks are graphs of modules (kernel layers, activations, pooling, batch norm with its running statistics,
 * dropout, residual blocks), parameters are saved by module name, rule state by layer with core-owned optimizers,
 * random streams named `forward`, `rule/<id>/layer<l>`, …. Version 1 checkpoints (chains of dense/conv/LC layers
 * with attached activations) are not read.
 */
export const CHECKPOINT_VERSION = 2;

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  offset: number;
  length: number;
}

/** The JSON half of a checkpoint (the other half is one binary file of float32 tensors). */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  createdAt: string;
  weightsFile: string;
  sha256: string;
  byteLength: number;
  tensors: TensorEntry[];
  network: NetworkConfig;
  rule: { id: string; options: JsonValue; meta: JsonValue };
  trainer?: {
    loss: string;
    optimizer: { name: string; config: JsonValue; meta: JsonValue };
    random: { seed: number; streams: Record<string, number[]> };
    position: TrainerPosition;
  };
  /** Free-form data of the application (the CLI stores its run options here). */
  extra?: JsonValue;
}

function collect(network: Network, boundRule: BoundRule, trainer?: Trainer): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(network.namedParams())) out[`network/${k}`] = v;
  for (const [k, v] of Object.entries(network.namedBuffers())) out[`buffers/${k}`] = v;
  for (const [k, v] of Object.entries(boundRule.state())) out[`rule/${k}`] = v;
  if (trainer) for (const [k, v] of Object.entries(trainer.optimizer.slots())) out[`optimizer/${k}`] = v;
  return out;
}

/** Serialize to a manifest and one byte buffer (browser-safe; `saveCheckpoint` writes them to disk). */
export async function serializeCheckpoint(parts: {
  network: Network;
  boundRule: BoundRule;
  trainer?: Trainer;
  extra?: JsonValue;
}): Promise<{ manifest: Omit<CheckpointManifest, 'sha256' | 'weightsFile'>; data: Uint8Array }> {
  const tensors = collect(parts.network, parts.boundRule, parts.trainer);
  const entries: TensorEntry[] = [];
  let offset = 0;
  const arrays: Float32Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const arr = (await t.data()) as Float32Array;
    entries.push({ name, shape: [...t.shape], dtype: 'float32', offset, length: arr.length });
    arrays.push(arr);
    offset += arr.length * 4;
  }
  const data = new Uint8Array(offset);
  let o = 0;
  for (const a of arrays) {
    data.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  }
  const t = parts.trainer;
  return {
    manifest: {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      createdAt: new Date().toISOString(),
      byteLength: data.byteLength,
      tensors: entries,
      network: parts.network.config(),
      rule: { id: parts.boundRule.rule.id, options: parts.boundRule.rule.options, meta: parts.boundRule.getMeta() },
      trainer: t && {
        loss: t.loss.name,
        optimizer: { name: t.optimizer.name, config: t.optimizer.config, meta: t.optimizer.getMeta() },
        random: { seed: t.random.seed, streams: t.random.getState() },
        position: JSON.parse(JSON.stringify(t.position)) as TrainerPosition,
      },
      extra: parts.extra,
    },
    data,
  };
}

async function nodeModules() {
  const fs = await import(/* @vite-ignore */ 'node:fs/promises');
  const path = await import(/* @vite-ignore */ 'node:path');
  const crypto = await import(/* @vite-ignore */ 'node:crypto');
  return { fs, path, crypto };
}

async function writeAtomic(fs: typeof import('node:fs/promises'), file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

/**
 * Save a network with its rule state (and, given a trainer, the optimizer slots, random streams and position)
 * to a directory: the weights file is written under a new name, then `manifest.json` is replaced by rename, so
 * an interrupted save leaves the previous checkpoint whole.
 */
export async function saveCheckpoint(
  dir: string,
  parts: { network: Network; boundRule: BoundRule; trainer?: Trainer; extra?: JsonValue },
): Promise<CheckpointManifest> {
  const { fs, path, crypto } = await nodeModules();
  const { manifest, data } = await serializeCheckpoint(parts);
  const sha256 = crypto.createHash('sha256').update(data).digest('hex');
  const weightsFile = `weights-${sha256.slice(0, 16)}.bin`;
  await fs.mkdir(dir, { recursive: true });
  await writeAtomic(fs, path.join(dir, weightsFile), data);
  const full: CheckpointManifest = { ...manifest, weightsFile, sha256 };
  await writeAtomic(fs, path.join(dir, 'manifest.json'), JSON.stringify(full, null, 1));
  // the old weights file is no longer referenced: remove it (and stale temp files)
  for (const name of await fs.readdir(dir)) {
    if ((name.startsWith('weights-') && name !== weightsFile) || name.includes('.tmp-')) {
      await fs.rm(path.join(dir, name), { force: true });
    }
  }
  return full;
}

/** A loaded checkpoint: the manifest and its tensors by name (the caller disposes them). */
export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  tensors: TensorMap;
  dispose(): void;
}

/** Read and verify a checkpoint directory (format, hash, sizes); every defect is a `CheckpointError` naming the file. */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { fs, path, crypto } = await nodeModules();
  const manifestPath = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await fs.readFile(manifestPath, 'utf8');
  } catch {
    throw new CheckpointError(`${manifestPath}: no checkpoint here (manifest.json is missing)`);
  }
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text) as CheckpointManifest;
  } catch (e) {
    throw new CheckpointError(`${manifestPath}: corrupt manifest (${(e as Error).message})`);
  }
  if (manifest?.format !== CHECKPOINT_FORMAT || typeof manifest.weightsFile !== 'string' || !Array.isArray(manifest.tensors)) {
    throw new CheckpointError(`${manifestPath}: not a bioprop checkpoint manifest`);
  }
  if (manifest.version > CHECKPOINT_VERSION) {
    throw new CheckpointError(`${manifestPath}: checkpoint version ${manifest.version} is newer than this library reads (${CHECKPOINT_VERSION})`);
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      `${manifestPath}: checkpoint version ${JSON.stringify(manifest.version)} was written by bioprop 0.1 (chains of layers with attached activations); ` +
        `this version reads version ${CHECKPOINT_VERSION} only: retrain, or load it with @bioprop/core 0.1`,
    );
  }
  const weightsPath = path.join(dir, path.basename(manifest.weightsFile));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(weightsPath));
  } catch {
    throw new CheckpointError(`${weightsPath}: weights file named by the manifest is missing`);
  }
  if (bytes.byteLength !== manifest.byteLength) {
    throw new CheckpointError(`${weightsPath}: ${bytes.byteLength} bytes, the manifest says ${manifest.byteLength} (truncated or corrupt)`);
  }
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  if (sha !== manifest.sha256) throw new CheckpointError(`${weightsPath}: SHA-256 does not match the manifest (corrupt file)`);
  const tensors: TensorMap = {};
  const aligned = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  for (const e of manifest.tensors) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.length || e.offset % 4 !== 0 || e.offset + e.length * 4 > bytes.byteLength) {
      throw new CheckpointError(`${manifestPath}: tensor "${e.name}" has an inconsistent size or offset`);
    }
    tensors[e.name] = tf.tensor(aligned.subarray(e.offset / 4, e.offset / 4 + e.length), e.shape);
  }
  return { manifest, tensors, dispose: () => Object.values(tensors).forEach((t) => t.dispose()) };
}

function assignAll(what: string, vars: VariableMap, tensors: TensorMap, prefix: string): void {
  for (const [k, v] of Object.entries(vars)) {
    const t = tensors[`${prefix}${k}`];
    if (!t) throw new CheckpointError(`checkpoint lacks ${what} "${k}"`);
    if (t.shape.join() !== v.shape.join()) {
      throw new CheckpointError(`checkpoint ${what} "${k}" has shape [${t.shape}], the network has [${v.shape}]`);
    }
  }
  for (const [k, v] of Object.entries(vars)) v.assign(tensors[`${prefix}${k}`]);
}

/** Pick the tensors under a prefix, with the prefix removed. */
function under(tensors: TensorMap, prefix: string): TensorMap {
  const out: TensorMap = {};
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = t;
  return out;
}

/** Load a network's parameters and running statistics from a checkpoint's tensors. */
function assignNetwork(network: Network, tensors: TensorMap): void {
  assignAll('parameter', network.namedParams(), tensors, 'network/');
  assignAll('running statistic', network.namedBuffers(), tensors, 'buffers/');
}

/**
 * Restore a trainer (built with the same network shape, rule and optimizer) from a checkpoint: weights, running
 * statistics, rule state, optimizer slots, random streams and position, so `fit` continues bit-for-bit.
 */
export async function restoreTrainer(trainer: Trainer, dir: string): Promise<CheckpointManifest> {
  const ck = await readCheckpoint(dir);
  try {
    const { manifest, tensors } = ck;
    if (manifest.rule.id !== trainer.rule.id) {
      throw new CheckpointError(`${dir}: checkpoint was made with rule "${manifest.rule.id}", the trainer uses "${trainer.rule.id}"`);
    }
    if (!manifest.trainer) throw new CheckpointError(`${dir}: checkpoint holds a network only, not a training state`);
    assignNetwork(trainer.network, tensors);
    trainer.boundRule.loadState(under(tensors, 'rule/'));
    trainer.boundRule.setMeta(manifest.rule.meta);
    trainer.optimizer.loadSlots(under(tensors, 'optimizer/'));
    trainer.optimizer.setMeta(manifest.trainer.optimizer.meta);
    trainer.random.setState(manifest.trainer.random.streams);
    trainer.position = { ...manifest.trainer.position };
    return manifest;
  } finally {
    ck.dispose();
  }
}

/**
 * Rebuild a network from a checkpoint and load its weights and running statistics. Networks of core's module kinds
 * rebuild from the stored config; pass `build` for networks with modules of your own.
 */
export async function loadNetwork(
  dir: string,
  options: { build?: (config: NetworkConfig) => Network } = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await readCheckpoint(dir);
  let network: Network | null = null;
  try {
    try {
      network = options.build ? options.build(ck.manifest.network) : networkFromConfig(ck.manifest.network);
    } catch (e) {
      throw new CheckpointError(`${dir}: cannot rebuild the network from the manifest: ${(e as Error).message}`);
    }
    assignNetwork(network, ck.tensors);
    const ruleState: TensorMap = {};
    for (const [k, t] of Object.entries(under(ck.tensors, 'rule/'))) ruleState[k] = t.clone();
    return { network, manifest: ck.manifest, ruleState };
  } catch (e) {
    network?.dispose();
    throw e;
  } finally {
    ck.dispose();
  }
}
