import * as tf from '@tensorflow/tfjs-core';
import { networkFromConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { summarizeNetworkConfig } from './memory.js';
import { sha256Hex, sha256HexSync } from './sha256.js';
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
  /**
   * SHA-256 of the manifest itself, stored in it: the digest of `canonicalManifestJson` (the manifest without this
   * field, keys sorted, no spaces). Any edit of any field (positions, options in `extra`, tensor offsets, the
   * weights' `sha256`) is detected. It guards against corruption and careless edits, not deliberate forgery:
   * whoever can edit the file can recompute it.
   */
  manifestSha256: string;
}

/** A manifest field failed validation: `file` is where the manifest came from, `field` the dotted path of the value. */
export class ManifestError extends CheckpointError {
  // its name stays 'CheckpointError' (the base's literal type); `instanceof ManifestError` tells it apart
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`${file}: ${field ? `field "${field}" ` : ''}${problem}`);
  }
}

/** JSON of a value with object keys sorted and no whitespace (what the manifest's own digest is taken over). */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The text a manifest's `manifestSha256` is the SHA-256 of: the manifest without that field, canonical JSON. */
export function canonicalManifestJson(manifest: object): string {
  const rest: Record<string, unknown> = { ...(manifest as Record<string, unknown>) };
  delete rest.manifestSha256;
  return canonicalJson(rest);
}

/** The SHA-256 a manifest should carry in `manifestSha256` (synchronous: manifests are small). */
export function manifestDigest(manifest: object): string {
  return sha256HexSync(new TextEncoder().encode(canonicalManifestJson(manifest)));
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
  const body: Omit<CheckpointManifest, 'manifestSha256'> = {
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
  };
  // digest what a reader will parse: JSON drops undefined values and normalizes numbers
  const plain = JSON.parse(JSON.stringify(body)) as Omit<CheckpointManifest, 'manifestSha256'>;
  return { manifest: { ...plain, manifestSha256: manifestDigest(plain) }, data };
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
 * Parse and check a manifest's JSON (every field, and its own digest `manifestSha256`); every defect is a
 * `CheckpointError` (a `ManifestError` for a bad field) naming `label`. Nothing is allocated from it. A page that lets a user upload `manifest.json` passes its text here or straight to `deserializeCheckpoint`.
 */
export function parseCheckpointManifest(text: string, label = 'manifest.json', limits?: ManifestLimits): CheckpointManifest {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${label}: corrupt manifest (${(e as Error).message})`);
  }
  return checkManifest(manifest, label, limits);
}

/** Limits a manifest is checked against. */
export interface ManifestLimits {
  /** The largest weights buffer accepted, in bytes (default `MAX_CHECKPOINT_WEIGHTS_BYTES`). */
  maxWeightsBytes?: number;
  /**
   * Batches per epoch of the data the checkpoint will resume on: then `trainer.position.batch` must be below it and
   * `step` must equal `epoch × batchesPerEpoch + batch` (a run trained by `fit` alone on the same data).
   */
  batchesPerEpoch?: number;
}

/** The largest weights buffer read by default: 2 GiB, what one Node buffer and one file read hold. */
export const MAX_CHECKPOINT_WEIGHTS_BYTES = 2 ** 31 - 1;

/** The slots each of core's optimizers keeps per variable (what a checkpoint of a training state must hold). */
export const OPTIMIZER_SLOT_NAMES: Readonly<Record<string, readonly string[]>> = {
  sgd: [],
  momentum: ['velocity'],
  adam: ['m', 'v'],
  rmsprop: ['ms'],
};

const TENSOR_PREFIXES = ['network/', 'buffers/', 'rule/', 'optimizer/'];

type Obj = Record<string, unknown>;

/** Field checks that throw a ManifestError naming the file and the field. */
class FieldChecker {
  constructor(readonly file: string) {}

  fail(field: string, problem: string): never {
    throw new ManifestError(this.file, field, problem);
  }

  object(v: unknown, field: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, `must be an object, got ${describe(v)}`);
    return v as Obj;
  }

  array(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, `must be an array, got ${describe(v)}`);
    return v;
  }

  string(v: unknown, field: string, pattern?: RegExp): string {
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${describe(v)}`);
    if (pattern && !pattern.test(v)) this.fail(field, `has an unexpected form ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  }

  finite(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a finite number, got ${describe(v)}`);
    return v;
  }

  /** A safe integer in [min, max]. */
  integer(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(field, `must be an integer, got ${describe(v)}`);
    if (v < min || v > max) this.fail(field, `must be in [${min}, ${max}], got ${v}`);
    return v;
  }

  /** A random stream's state: four 32-bit words and the cached normal (a finite number, or -1e300 for none). */
  streamState(v: unknown, field: string): void {
    const a = this.array(v, field);
    if (a.length !== 5) this.fail(field, `must hold 5 numbers (a random stream state), got ${a.length}`);
    for (let i = 0; i < 4; i++) this.integer(a[i], `${field}[${i}]`, 0, 0xffffffff);
    this.finite(a[4], `${field}[4]`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

/**
 * Check every field of a parsed manifest against the format's schema and its own digest, before anything is built
 * or allocated from it; a defect is a `ManifestError` naming the file (`label`) and the field.
 */
export function verifyCheckpointManifest(value: unknown, label = 'manifest.json', limits: ManifestLimits = {}): CheckpointManifest {
  const c = new FieldChecker(label);
  const m = c.object(value, '');
  if (m.format !== CHECKPOINT_FORMAT) throw new ManifestError(label, '', 'not a bioprop checkpoint manifest');
  if (typeof m.version === 'number' && m.version > CHECKPOINT_VERSION) {
    throw new ManifestError(label, 'version', `checkpoint version ${m.version} is newer than this library reads (${CHECKPOINT_VERSION})`);
  }
  if (m.version !== CHECKPOINT_VERSION) {
    throw new ManifestError(
      label,
      'version',
      `checkpoint version ${JSON.stringify(m.version)} was written by bioprop 0.1 (chains of layers with attached activations); ` +
        `this version reads version ${CHECKPOINT_VERSION} only: retrain, or load it with @bioprop/core 0.1`,
    );
  }
  // the digest first: an edited manifest is refused as a whole, whichever field was changed
  if (m.manifestSha256 === undefined) {
    c.fail('manifestSha256', 'is missing: the manifest is not protected by its digest (written by an older bioprop, or edited); save the checkpoint again');
  }
  const digest = c.string(m.manifestSha256, 'manifestSha256', /^[0-9a-f]{64}$/);
  if (digest !== manifestDigest(m)) {
    c.fail('manifestSha256', 'does not match the manifest\'s content (the manifest was edited or corrupted)');
  }
  c.string(m.createdAt, 'createdAt');
  const sha256 = c.string(m.sha256, 'sha256', /^[0-9a-f]{64}$/);
  const weightsFile = c.string(m.weightsFile, 'weightsFile', /^weights-[0-9a-f]{16}\.bin$/);
  if (weightsFile !== `weights-${sha256.slice(0, 16)}.bin`) c.fail('weightsFile', 'does not match the weights\' sha256');
  const maxBytes = limits.maxWeightsBytes ?? MAX_CHECKPOINT_WEIGHTS_BYTES;
  const byteLength = c.integer(m.byteLength, 'byteLength', 0, maxBytes);
  const shapes = checkTensorEntries(c, m.tensors, byteLength);

  const network = c.object(m.network, 'network');
  const inputShape = c.array(network.inputShape, 'network.inputShape');
  if (inputShape.length === 0) c.fail('network.inputShape', 'must not be empty');
  inputShape.forEach((d, i) => c.integer(d, `network.inputShape[${i}]`, 1, 2 ** 31 - 1));
  c.array(network.layers, 'network.layers').forEach((l, i) => c.string(c.object(l, `network.layers[${i}]`).kind, `network.layers[${i}].kind`));

  const rule = c.object(m.rule, 'rule');
  c.string(rule.id, 'rule.id', /./);
  if (rule.meta === undefined) c.fail('rule.meta', 'is missing (null when the rule keeps none)');
  checkRuleMeta(c, rule.meta);

  if (m.trainer !== undefined) checkTrainer(c, m.trainer, shapes, limits);
  else if ([...shapes.keys()].some((k) => k.startsWith('optimizer/'))) c.fail('tensors', 'hold optimizer slots but the manifest has no trainer');
  return m as unknown as CheckpointManifest;
}

/** Tensor entries: float32, sizes matching shapes, offsets that tile the weights exactly (no gap, no overlap). */
function checkTensorEntries(c: FieldChecker, value: unknown, byteLength: number): Map<string, number[]> {
  const entries = c.array(value, 'tensors');
  const shapes = new Map<string, number[]>();
  const spans: { name: string; offset: number; bytes: number }[] = [];
  entries.forEach((raw, i) => {
    const f = `tensors[${i}]`;
    const e = c.object(raw, f);
    const name = c.string(e.name, `${f}.name`);
    if (!TENSOR_PREFIXES.some((p) => name.startsWith(p) && name.length > p.length)) {
      c.fail(`${f}.name`, `must start with ${TENSOR_PREFIXES.join(', ')}, got ${JSON.stringify(name)}`);
    }
    if (shapes.has(name)) c.fail(`${f}.name`, `repeats tensor ${JSON.stringify(name)}`);
    if (e.dtype !== 'float32') c.fail(`${f}.dtype`, `must be "float32", got ${describe(e.dtype)}`);
    const shape = c.array(e.shape, `${f}.shape`);
    if (shape.length > 8) c.fail(`${f}.shape`, `has ${shape.length} dimensions (at most 8)`);
    let size = 1;
    shape.forEach((d, k) => {
      size *= c.integer(d, `${f}.shape[${k}]`, 0, byteLength / 4);
      if (size > byteLength / 4) c.fail(`${f}.shape`, `[${shape.join(', ')}] is larger than the weights (${byteLength} bytes)`);
    });
    const length = c.integer(e.length, `${f}.length`, 0, byteLength / 4);
    if (length !== size) c.fail(`${f}.length`, `is ${length}, the shape [${shape.join(', ')}] holds ${size}`);
    const offset = c.integer(e.offset, `${f}.offset`, 0, byteLength);
    if (offset % 4 !== 0) c.fail(`${f}.offset`, `must be a multiple of 4, got ${offset}`);
    if (offset + length * 4 > byteLength) c.fail(`${f}.offset`, `${offset} + ${length * 4} bytes runs past the weights (${byteLength} bytes)`);
    shapes.set(name, shape as number[]);
    spans.push({ name, offset, bytes: length * 4 });
  });
  spans.sort((a, b) => a.offset - b.offset || a.bytes - b.bytes);
  let at = 0;
  for (const s of spans) {
    if (s.offset < at) c.fail('tensors', `tensor ${JSON.stringify(s.name)} at offset ${s.offset} overlaps the one before it (which ends at ${at})`);
    if (s.offset > at) c.fail('tensors', `bytes ${at}–${s.offset} of the weights belong to no tensor`);
    at = s.offset + s.bytes;
  }
  if (at !== byteLength) c.fail('tensors', `cover ${at} bytes, the weights hold ${byteLength}`);
  return shapes;
}

/** Core's rule meta (`{ layers: [null | { meta, optimizers: { name: { steps } } }] }`): step counts are integers ≥ 0. */
function checkRuleMeta(c: FieldChecker, meta: unknown): void {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || !('layers' in meta)) return;
  const layers = c.array((meta as Obj).layers, 'rule.meta.layers');
  layers.forEach((entry, l) => {
    if (entry === null) return;
    const e = c.object(entry, `rule.meta.layers[${l}]`);
    if (e.optimizers === undefined) return;
    for (const [name, o] of Object.entries(c.object(e.optimizers, `rule.meta.layers[${l}].optimizers`))) {
      const om = c.object(o, `rule.meta.layers[${l}].optimizers.${name}`);
      if ('steps' in om) c.integer(om.steps, `rule.meta.layers[${l}].optimizers.${name}.steps`);
    }
  });
}

function checkTrainer(c: FieldChecker, value: unknown, shapes: Map<string, number[]>, limits: ManifestLimits): void {
  const t = c.object(value, 'trainer');
  c.string(t.loss, 'trainer.loss', /./);
  const opt = c.object(t.optimizer, 'trainer.optimizer');
  const kind = c.string(opt.name, 'trainer.optimizer.name', /./);
  c.object(opt.config, 'trainer.optimizer.config');
  const known = Object.hasOwn(OPTIMIZER_SLOT_NAMES, kind) ? OPTIMIZER_SLOT_NAMES[kind] : undefined;
  if (known) {
    const meta = c.object(opt.meta, 'trainer.optimizer.meta');
    c.integer(meta.steps, 'trainer.optimizer.meta.steps');
    // slots: `optimizer/<slot>/<variable>`, a known slot name, a saved parameter of the same shape, every slot of the kind
    const perVariable = new Map<string, Set<string>>();
    for (const [name, shape] of shapes) {
      if (!name.startsWith('optimizer/')) continue;
      const id = name.slice('optimizer/'.length);
      const cut = id.indexOf('/');
      const slot = cut < 0 ? id : id.slice(0, cut);
      const variable = cut < 0 ? '' : id.slice(cut + 1);
      if (!known.includes(slot)) c.fail('tensors', `optimizer slot ${JSON.stringify(name)} is not one ${kind} keeps (${known.join(', ') || 'none'})`);
      const param = shapes.get(`network/${variable}`);
      if (!param) c.fail('tensors', `optimizer slot ${JSON.stringify(name)} belongs to no saved parameter`);
      if (param.join() !== shape.join()) c.fail('tensors', `optimizer slot ${JSON.stringify(name)} has shape [${shape}], its parameter [${param}]`);
      if (!perVariable.has(variable)) perVariable.set(variable, new Set());
      perVariable.get(variable)!.add(slot);
    }
    for (const [variable, have] of perVariable) {
      for (const slot of known) if (!have.has(slot)) c.fail('tensors', `optimizer slot "optimizer/${slot}/${variable}" is missing (${kind} keeps ${known.join(', ')})`);
    }
  }
  const random = c.object(t.random, 'trainer.random');
  c.finite(random.seed, 'trainer.random.seed');
  for (const [name, st] of Object.entries(c.object(random.streams, 'trainer.random.streams'))) c.streamState(st, `trainer.random.streams.${name}`);

  const p = c.object(t.position, 'trainer.position');
  const epoch = c.integer(p.epoch, 'trainer.position.epoch');
  const batch = c.integer(p.batch, 'trainer.position.batch');
  const step = c.integer(p.step, 'trainer.position.step');
  const epochSteps = c.integer(p.epochSteps, 'trainer.position.epochSteps');
  c.finite(p.epochLossSum, 'trainer.position.epochLossSum');
  if (p.epochShuffleState === null) {
    // between epochs: the next epoch starts at its first batch
    if (batch !== 0) c.fail('trainer.position.batch', `must be 0 between epochs (epochShuffleState is null), got ${batch}`);
  } else {
    c.streamState(p.epochShuffleState, 'trainer.position.epochShuffleState');
    if (epochSteps !== batch) c.fail('trainer.position.epochSteps', `must equal batch (${batch}) within an epoch, got ${epochSteps}`);
  }
  if (step < batch) c.fail('trainer.position.step', `(${step}) is below the batch within the epoch (${batch})`);
  if (limits.batchesPerEpoch !== undefined) {
    const n = limits.batchesPerEpoch;
    if (batch >= n) c.fail('trainer.position.batch', `must be below the ${n} batches per epoch, got ${batch}`);
    if (step !== epoch * n + batch) c.fail('trainer.position.step', `must be epoch × ${n} + batch = ${epoch * n + batch}, got ${step}`);
  }
  if (p.lossWatch !== undefined) {
    const w = c.object(p.lossWatch, 'trainer.position.lossWatch');
    c.finite(w.firstSum, 'trainer.position.lossWatch.firstSum');
    c.integer(w.firstCount, 'trainer.position.lossWatch.firstCount', 0, step);
    if (w.running !== null) c.finite(w.running, 'trainer.position.lossWatch.running');
    if (w.first !== undefined) c.finite(w.first, 'trainer.position.lossWatch.first');
    if (w.reference !== undefined) c.finite(w.reference, 'trainer.position.lossWatch.reference');
  }
}

/** Parse and check a manifest's JSON; every defect is a `CheckpointError` (a `ManifestError` for a field) naming `label`. */
function checkManifest(value: unknown, label: string, limits?: ManifestLimits): CheckpointManifest {
  return verifyCheckpointManifest(value, label, limits);
}

/**
 * Read a checkpoint from memory (browser-safe): check the manifest, the weights' size and SHA-256 (Web Crypto),
 * and make its tensors. Every defect is a `CheckpointError` naming the manifest or the weights.
 */
export async function deserializeCheckpoint(input: CheckpointInput, labels: CheckpointLabels & ManifestLimits = {}): Promise<LoadedCheckpoint> {
  const manifestLabel = labels.manifestLabel ?? 'manifest.json';
  const manifest =
    typeof input?.manifest === 'string'
      ? parseCheckpointManifest(input.manifest, manifestLabel, labels)
      : checkManifest(input?.manifest, manifestLabel, labels);
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
  // entries were checked against the weights' size (and each other) by the manifest's validation
  const aligned =
    bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const tensors: TensorMap = {};
  for (const e of manifest.tensors) tensors[e.name] = tf.tensor(aligned.subarray(e.offset / 4, e.offset / 4 + e.length), e.shape);
  return { manifest, tensors, dispose: () => Object.values(tensors).forEach((t) => t.dispose()) };
}

function assignAll(what: string, vars: VariableMap, tensors: TensorMap, prefix: string): void {
  checkAll(what, vars, tensors, prefix);
  for (const [k, v] of Object.entries(vars)) v.assign(tensors[`${prefix}${k}`]);
}

/** Every variable has a saved tensor of its shape. */
function checkAll(what: string, vars: VariableMap, tensors: TensorMap, prefix: string): void {
  for (const [k, v] of Object.entries(vars)) {
    const t = tensors[`${prefix}${k}`];
    if (!t) throw new CheckpointError(`checkpoint lacks ${what} "${k}"`);
    if (t.shape.join() !== v.shape.join()) {
      throw new CheckpointError(`checkpoint ${what} "${k}" has shape [${t.shape}], the network has [${v.shape}]`);
    }
  }
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
  // refuse before changing anything: the network's shapes, then the optimizer
  checkAll('parameter', trainer.network.namedParams(), tensors, 'network/');
  checkAll('running statistic', trainer.network.namedBuffers(), tensors, 'buffers/');
  if (manifest.trainer.optimizer.name !== trainer.optimizer.name) {
    throw new CheckpointError(
      `${source}: checkpoint was made with optimizer "${manifest.trainer.optimizer.name}", the trainer uses "${trainer.optimizer.name}"`,
    );
  }
  // slots the trainer's optimizer already keeps (after steps or initSlots) must be in the checkpoint, not silently reset
  const saved = under(tensors, 'optimizer/');
  for (const id of Object.keys(trainer.optimizer.slots())) {
    if (!Object.hasOwn(saved, id)) throw new CheckpointError(`${source}: checkpoint lacks optimizer slot "${id}"`);
  }
  for (const [id, t] of Object.entries(saved)) {
    const variable = trainer.network.namedParams()[id.slice(id.indexOf('/') + 1)];
    if (!variable) throw new CheckpointError(`${source}: optimizer slot "${id}" belongs to no parameter of the network`);
    if (variable.shape.join() !== t.shape.join()) {
      throw new CheckpointError(`${source}: optimizer slot "${id}" has shape [${t.shape}], its parameter [${variable.shape}]`);
    }
  }
  assignNetwork(trainer.network, tensors);
  trainer.boundRule.loadState(under(tensors, 'rule/'));
  trainer.boundRule.setMeta(manifest.rule.meta);
  trainer.optimizer.loadSlots(under(tensors, 'optimizer/'));
  trainer.optimizer.setMeta(manifest.trainer.optimizer.meta);
  trainer.random.setState(manifest.trainer.random.streams);
  trainer.position = { ...manifest.trainer.position };
  return manifest;
}

function checkConfigAgainstTensors(ck: LoadedCheckpoint, source: string): void {
  let parameters: number;
  try {
    parameters = summarizeNetworkConfig(ck.manifest.network).parameters;
  } catch (e) {
    throw new ManifestError(source, 'network', `cannot rebuild the network from the manifest: ${(e as Error).message}`);
  }
  const saved = ck.manifest.tensors.filter((e) => e.name.startsWith('network/')).reduce((a, e) => a + e.length, 0);
  if (parameters !== saved) {
    throw new ManifestError(source, 'network', `describes ${parameters} parameters, the checkpoint holds ${saved}`);
  }
}

/** Rebuild a network from a loaded checkpoint, with its weights and a copy of the rule state. */
export function networkFromCheckpoint(
  ck: LoadedCheckpoint,
  options: { build?: (config: NetworkConfig) => Network; source?: string } = {},
): { network: Network; manifest: CheckpointManifest; ruleState: TensorMap } {
  let network: Network | null = null;
  try {
    // the config must describe exactly the saved parameters before anything is built from it (a config of billions
    // of weights next to a small weights file is refused here, not by running out of memory)
    if (!options.build) checkConfigAgainstTensors(ck, options.source ?? 'checkpoint');
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
export async function restoreTrainerFrom(
  trainer: Trainer,
  input: CheckpointInput,
  labels: CheckpointLabels & ManifestLimits = {},
): Promise<CheckpointManifest> {
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
  options: { build?: (config: NetworkConfig) => Network } & CheckpointLabels & ManifestLimits = {},
): Promise<{ network: Network; manifest: CheckpointManifest; ruleState: TensorMap }> {
  const ck = await deserializeCheckpoint(input, options);
  try {
    return networkFromCheckpoint(ck, options);
  } finally {
    ck.dispose();
  }
}
