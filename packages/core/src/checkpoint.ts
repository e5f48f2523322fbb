import * as tf from '@tensorflow/tfjs-core';
import { activationFromConfig } from './activations.js';
import { CheckpointError } from './errors.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { locallyConnected2d } from './layers/locally-connected.js';
import { SequentialNetwork } from './network.js';
import { randomStream } from './random.js';
import type { Trainer, TrainerPosition } from './trainer.js';
import type { BoundRule, JsonValue, Layer, LayerConfig, LayerFactory, Network, RandomStream, TensorMap, VariableMap } from './types.js';

export const CHECKPOINT_FORMAT = 'bioprop-checkpoint';
export const CHECKPOINT_VERSION = 1;

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
  network: { layers: LayerConfig[] };
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

/** Conv and locally connected layers share their options, so one rebuild serves both. */
function rebuildImageLayer(
  make: typeof conv2d | typeof locallyConnected2d,
  config: LayerConfig,
  ctx: { random: RandomStream },
): Layer {
  return make({
    filters: config.filters as number,
    kernelSize: config.kernelSize as [number, number],
    strides: config.strides as [number, number],
    padding: config.padding as 'valid' | 'same',
    activation: activationFromConfig(config.activation),
    useBias: config.useBias !== false,
    kernelInit: 'zero',
    name: config.name,
  }).build(config.inputShape, { index: 0, random: ctx.random, defaultName: config.name });
}

/** Core's own layer kinds, rebuilt from config (weights are loaded over them). */
export const builtinLayerFactories: Record<string, LayerFactory> = {
  dense: (config, ctx) =>
    dense({
      units: config.units as number,
      activation: activationFromConfig(config.activation),
      useBias: config.useBias !== false,
      kernelInit: 'zero',
      name: config.name,
    }).build(config.inputShape, { index: 0, random: ctx.random, defaultName: config.name }),
  conv2d: (config, ctx) => rebuildImageLayer(conv2d, config, ctx),
  locallyConnected2d: (config, ctx) => rebuildImageLayer(locallyConnected2d, config, ctx),
};

function collect(network: Network, boundRule: BoundRule, trainer?: Trainer): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(network.namedParams())) out[`network/${k}`] = v;
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
      network: { layers: parts.network.layers.map((l) => l.config()) },
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
    v.assign(t);
  }
}

/** Pick the tensors under a prefix, with the prefix removed. */
function under(tensors: TensorMap, prefix: string): TensorMap {
  const out: TensorMap = {};
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = t;
  return out;
}

/**
 * Restore a trainer (built with the same network shape, rule and optimizer) from a checkpoint: weights, rule
 * state, optimizer slots, random streams and position, so `fit` continues bit-for-bit.
 */
export async function restoreTrainer(trainer: Trainer, dir: string): Promise<CheckpointManifest> {
  const ck = await readCheckpoint(dir);
  try {
    const { manifest, tensors } = ck;
    if (manifest.rule.id !== trainer.rule.id) {
      throw new CheckpointError(`${dir}: checkpoint was made with rule "${manifest.rule.id}", the trainer uses "${trainer.rule.id}"`);
    }
    if (!manifest.trainer) throw new CheckpointError(`${dir}: checkpoint holds a network only, not a training state`);
    assignAll('parameter', trainer.network.namedParams(), tensors, 'network/');
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

/** Rebuild a network from a checkpoint (core's layer kinds, plus any `layerFactories` given). */
export async function loadNetwork(
  dir: string,
  options: { layerFactories?: Record<string, LayerFactory> } = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await readCheckpoint(dir);
  const factories = { ...builtinLayerFactories, ...options.layerFactories };
  const random = randomStream(0, 'load');
  const layers: Layer[] = ck.manifest.network.layers.map((cfg) => {
    const make = factories[cfg.kind];
    if (!make) {
      ck.dispose();
      throw new CheckpointError(`${dir}: unknown layer kind "${cfg.kind}" (pass a layer factory for it)`);
    }
    return make(cfg, { random });
  });
  const network = new SequentialNetwork(layers);
  try {
    assignAll('parameter', network.namedParams(), ck.tensors, 'network/');
  } catch (e) {
    ck.dispose();
    network.dispose();
    throw e;
  }
  const ruleState: TensorMap = {};
  for (const [k, t] of Object.entries(under(ck.tensors, 'rule/'))) ruleState[k] = t.clone();
  ck.dispose();
  return { network, manifest: ck.manifest, ruleState };
}
