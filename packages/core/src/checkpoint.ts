import * as tf from '@tensorflow/tfjs-core';
import { networkFromConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { sha256Hex } from './sha256.js';
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

/** The JSON half of a checkpoint (the other half is one buffer, or file, of float32 tensors). */
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

/** A checkpoint in memory: the manifest (JSON) and the weights, one buffer of float32 tensors. */
export interface SerializedCheckpoint {
  manifest: CheckpointManifest;
  data: Uint8Array;
}

/** The parts a checkpoint is made of: the network, its bound rule and, for a training state, the trainer. */
export interface CheckpointParts {
  network: Network;
  boundRule: BoundRule;
  trainer?: Trainer;
  extra?: JsonValue;
}

/**
 * Serialize to a manifest and one byte buffer, in memory (browser-safe: a page can offer both as downloads; Node's
 * `saveCheckpoint` from `@bioprop/core/node` writes them to a directory). The manifest carries the buffer's
 * SHA-256 and the file name the weights are stored under.
 */
export async function serializeCheckpoint(parts: CheckpointParts): Promise<SerializedCheckpoint> {
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
  const sha256 = await sha256Hex(data);
  const t = parts.trainer;
  return {
    manifest: {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      createdAt: new Date().toISOString(),
      weightsFile: `weights-${sha256.slice(0, 16)}.bin`,
      sha256,
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

/** A loaded checkpoint: the manifest and its tensors by name (the caller disposes them). */
export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  tensors: TensorMap;
  dispose(): void;
}

/** What a checkpoint is read from in memory: the manifest (parsed, or its JSON text) and the weights' bytes. */
export interface CheckpointInput {
  manifest: CheckpointManifest | string;
  data: Uint8Array | ArrayBuffer;
}

/** Names used in error messages: where the checkpoint, its manifest and its weights came from. */
export interface CheckpointLabels {
  /** The checkpoint as a whole (a directory, an upload); default `'checkpoint'`. */
  source?: string;
  /** The manifest (default `'manifest.json'`). */
  manifestLabel?: string;
  /** The weights (default: the manifest's `weightsFile`). */
  weightsLabel?: string;
}

/**
 * Parse and check a manifest's JSON (format and version); every defect is a `CheckpointError` naming `label`.
 * A page that lets a user upload `manifest.json` passes its text here or straight to `deserializeCheckpoint`.
 */
export function parseCheckpointManifest(text: string, label = 'manifest.json'): CheckpointManifest {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${label}: corrupt manifest (${(e as Error).message})`);
  }
  return checkManifest(manifest, label);
}

function checkManifest(value: unknown, label: string): CheckpointManifest {
  const manifest = value as CheckpointManifest | null;
  if (manifest?.format !== CHECKPOINT_FORMAT || typeof manifest.weightsFile !== 'string' || !Array.isArray(manifest.tensors)) {
    throw new CheckpointError(`${label}: not a bioprop checkpoint manifest`);
  }
  if (manifest.version > CHECKPOINT_VERSION) {
    throw new CheckpointError(`${label}: checkpoint version ${manifest.version} is newer than this library reads (${CHECKPOINT_VERSION})`);
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      `${label}: checkpoint version ${JSON.stringify(manifest.version)} was written by bioprop 0.1 (chains of layers with attached activations); ` +
        `this version reads version ${CHECKPOINT_VERSION} only: retrain, or load it with @bioprop/core 0.1`,
    );
  }
  return manifest;
}

/**
 * Read a checkpoint from memory (browser-safe): check the manifest, the weights' size and SHA-256 (Web Crypto),
 * and make its tensors. Every defect is a `CheckpointError` naming the manifest or the weights.
 */
export async function deserializeCheckpoint(input: CheckpointInput, labels: CheckpointLabels = {}): Promise<LoadedCheckpoint> {
  const manifestLabel = labels.manifestLabel ?? 'manifest.json';
  const manifest =
    typeof input?.manifest === 'string' ? parseCheckpointManifest(input.manifest, manifestLabel) : checkManifest(input?.manifest, manifestLabel);
  const weightsLabel = labels.weightsLabel ?? manifest.weightsFile;
  const raw = input.data;
  if (!(raw instanceof Uint8Array) && !(raw instanceof ArrayBuffer)) {
    throw new CheckpointError(`${weightsLabel}: the weights must be a Uint8Array or an ArrayBuffer`);
  }
  const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
  if (bytes.byteLength !== manifest.byteLength) {
    throw new CheckpointError(`${weightsLabel}: ${bytes.byteLength} bytes, the manifest says ${manifest.byteLength} (truncated or corrupt)`);
  }
  const sha = await sha256Hex(bytes);
  if (sha !== manifest.sha256) throw new CheckpointError(`${weightsLabel}: SHA-256 does not match the manifest (corrupt file)`);
  const aligned = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  for (const e of manifest.tensors) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.length || e.offset % 4 !== 0 || e.offset + e.length * 4 > bytes.byteLength) {
      throw new CheckpointError(`${manifestLabel}: tensor "${e.name}" has an inconsistent size or offset`);
    }
  }
  const tensors: TensorMap = {};
  for (const e of manifest.tensors) tensors[e.name] = tf.tensor(aligned.subarray(e.offset / 4, e.offset / 4 + e.length), e.shape);
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

/** Load a checkpoint's tensors into a trainer; `source` names the checkpoint in errors. */
export function applyTrainerCheckpoint(trainer: Trainer, ck: LoadedCheckpoint, source = 'checkpoint'): CheckpointManifest {
  const { manifest, tensors } = ck;
  if (manifest.rule.id !== trainer.rule.id) {
    throw new CheckpointError(`${source}: checkpoint was made with rule "${manifest.rule.id}", the trainer uses "${trainer.rule.id}"`);
  }
  if (!manifest.trainer) throw new CheckpointError(`${source}: checkpoint holds a network only, not a training state`);
  assignNetwork(trainer.network, tensors);
  trainer.boundRule.loadState(under(tensors, 'rule/'));
  trainer.boundRule.setMeta(manifest.rule.meta);
  trainer.optimizer.loadSlots(under(tensors, 'optimizer/'));
  trainer.optimizer.setMeta(manifest.trainer.optimizer.meta);
  trainer.random.setState(manifest.trainer.random.streams);
  trainer.position = { ...manifest.trainer.position };
  return manifest;
}

/** Rebuild a network from a loaded checkpoint, with its weights and a copy of the rule state. */
export function networkFromCheckpoint(
  ck: LoadedCheckpoint,
  options: { build?: (config: NetworkConfig) => Network; source?: string } = {},
): { network: Network; manifest: CheckpointManifest; ruleState: TensorMap } {
  let network: Network | null = null;
  try {
    try {
      network = options.build ? options.build(ck.manifest.network) : networkFromConfig(ck.manifest.network);
    } catch (e) {
      throw new CheckpointError(`${options.source ?? 'checkpoint'}: cannot rebuild the network from the manifest: ${(e as Error).message}`);
    }
    assignNetwork(network, ck.tensors);
    const ruleState: TensorMap = {};
    for (const [k, t] of Object.entries(under(ck.tensors, 'rule/'))) ruleState[k] = t.clone();
    return { network, manifest: ck.manifest, ruleState };
  } catch (e) {
    network?.dispose();
    throw e;
  }
}

/**
 * Restore a trainer (built with the same network shape, rule and optimizer) from a checkpoint in memory (a browser
 * upload: `{ manifest: await manifestFile.text(), data: new Uint8Array(await weightsFile.arrayBuffer()) }`):
 * weights, running statistics, rule state, optimizer slots, random streams and position, so `fit` continues
 * bit-for-bit. From a directory in Node: `restoreTrainer(trainer, dir)` from `@bioprop/core/node`.
 */
export async function restoreTrainerFrom(trainer: Trainer, input: CheckpointInput, labels: CheckpointLabels = {}): Promise<CheckpointManifest> {
  const ck = await deserializeCheckpoint(input, labels);
  try {
    return applyTrainerCheckpoint(trainer, ck, labels.source);
  } finally {
    ck.dispose();
  }
}

/**
 * Rebuild a network from a checkpoint in memory and load its weights and running statistics. Networks of core's
 * module kinds rebuild from the stored config; pass `build` for networks with modules of your own.
 */
export async function loadNetworkFrom(
  input: CheckpointInput,
  options: { build?: (config: NetworkConfig) => Network } & CheckpointLabels = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await deserializeCheckpoint(input, options);
  try {
    return networkFromCheckpoint(ck, options);
  } finally {
    ck.dispose();
  }
}
