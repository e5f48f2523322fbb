import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestError, manifestDigest, serializeCheckpoint, verifyCheckpointManifest, type CheckpointManifest } from './checkpoint.js';
import { BiopropError, CheckpointError } from './errors.js';
import { dense } from './layers/dense.js';
import { sequential } from './network.js';
import { loadNetwork, prepareCheckpointDir, readCheckpoint, restoreTrainer, saveCheckpoint, verifyCheckpoint } from './node.js';
import { adam, sgd } from './optimizers.js';
import { randomSource, randomStream } from './random.js';
import { testBackprop } from './test-utils.js';
import { createTrainer, type TrainData } from './trainer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function toyData(count: number): TrainData {
  const r = randomStream(5, 'data');
  const x = r.normalArray(count * 6);
  const y = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) y[i * 2 + (x[i * 6] + x[i * 6 + 1] > 0 ? 1 : 0)] = 1;
  return { x, y, count, sampleShape: [6], targetShape: [2] };
}

function makeTrainer(seed: number, optimizer = adam({ lr: 0.01 })) {
  const random = randomSource(seed);
  const network = sequential({ inputShape: [6], layers: [dense({ units: 8, activation: 'tanh' }), dense({ units: 2 })], random });
  return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer, random });
}

const BATCHES = 6; // 96 samples, batch size 16

/** A directory holding a checkpoint after 1 epoch and 2 batches (mid-epoch), and its manifest. */
async function savedRun(): Promise<{ dir: string; manifest: CheckpointManifest }> {
  const t = makeTrainer(1);
  await t.fit(toyData(96), { epochs: 1, batchSize: 16 });
  await t.fit(toyData(96), { epochs: 2, batchSize: 16, maxSteps: BATCHES + 2 });
  const dir = mkdtempSync(join(tmpdir(), 'bioprop-tamper-'));
  const manifest = await saveCheckpoint(dir, { network: t.network, boundRule: t.boundRule, trainer: t, extra: { options: { lr: 0.01 } } });
  t.dispose();
  return { dir, manifest };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Write a manifest into dir, with its digest recomputed when `reseal` (a forgery) or left as it was. */
function writeManifest(dir: string, m: object, reseal: boolean): void {
  const out = clone(m) as Record<string, unknown>;
  if (reseal) out.manifestSha256 = manifestDigest(out);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(out));
}

/** Every leaf path of a JSON value (arrays and objects by index/key). */
function leaves(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [path];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.length === 0 ? [path] : keys.flatMap((k) => leaves((v as Record<string | number, unknown>)[k], [...path, k]));
}

function setAt(root: unknown, path: (string | number)[], value: unknown): void {
  let at = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === DELETE) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else delete at[last];
  } else at[last] = value;
}

const DELETE = Symbol('delete');

/** Replacement values for a leaf: what a careless edit or a corrupt disk makes of it. */
function mutationsOf(v: unknown): unknown[] {
  if (typeof v === 'number') return [v + 1, -1, -1e9, 1e30, 0.5, `${v}`, null, DELETE];
  if (typeof v === 'string') return ['', `${v}x`, 7, null, DELETE];
  return [0, 'x', DELETE];
}

describe('a tampered manifest is not trusted', () => {
  it('any edit of any field (without resealing) is refused by the manifest digest, naming the file and the field', async () => {
    const { dir, manifest } = await savedRun();
    const paths = leaves(manifest).filter((p) => p[0] !== 'manifestSha256');
    let cases = 0;
    for (const path of paths) {
      for (const value of mutationsOf(path.reduce<unknown>((a, k) => (a as Record<string | number, unknown>)[k], manifest))) {
        const m = clone(manifest);
        setAt(m, path, value);
        if (JSON.stringify(m) === JSON.stringify(manifest)) continue;
        writeManifest(dir, m, false);
        const err = await verifyCheckpoint(dir).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, `${path.join('.')} = ${String(value)}`).toBeInstanceOf(CheckpointError);
        const e = err as CheckpointError;
        expect(e.message.startsWith(join(dir, 'manifest.json'))).toBe(true);
        // format and version are checked first (a foreign file); everything else by the digest
        if (path[0] !== 'format' && path[0] !== 'version') expect(e.message, path.join('.')).toMatch(/"manifestSha256"/);
        cases++;
      }
    }
    console.info(`[checkpoint] ${cases} unsealed manifest edits, all refused`);
    expect(cases).toBeGreaterThan(300);
    writeManifest(dir, manifest, false);
    await expect(verifyCheckpoint(dir)).resolves.toEqual(manifest);
  });

  it('resealed forgeries of the reported fields are refused by the schema, naming the field', async () => {
    const { dir, manifest } = await savedRun();
    const t = manifest.trainer!;
    const kernel = manifest.tensors.find((e) => e.name === 'network/dense_1/kernel')!;
    const slot = manifest.tensors.find((e) => e.name === 'optimizer/m/dense_1/kernel')!;
    const forgeries: [string, (m: CheckpointManifest) => void, RegExp][] = [
      ['steps -1e9', (m) => ((m.trainer!.optimizer.meta as { steps: number }).steps = -1e9), /trainer\.optimizer\.meta\.steps/],
      ['random stream of strings', (m) => (m.trainer!.random.streams.forward = ['a', 'b'] as never), /trainer\.random\.streams\.forward/],
      ['stream word 2^32', (m) => (m.trainer!.random.streams.shuffle = [2 ** 32, 0, 0, 0, 0]), /trainer\.random\.streams\.shuffle\[0\]/],
      ['negative epoch', (m) => (m.trainer!.position.epoch = -1), /trainer\.position\.epoch/],
      ['fractional step', (m) => (m.trainer!.position.step = 7.5), /trainer\.position\.step/],
      ['batch without epochSteps', (m) => (m.trainer!.position.batch = 999), /trainer\.position\.epochSteps/],
      ['kernel offset at the slot', (m) => (m.tensors.find((e) => e.name === kernel.name)!.offset = slot.offset), /"tensors"/],
      ['deleted slot', (m) => (m.tensors = m.tensors.filter((e) => e.name !== 'optimizer/v/dense_1/kernel')), /"tensors"/],
      [
        'deleted slot, entries packed again',
        (m) => {
          const drop = m.tensors.find((e) => e.name === 'optimizer/v/dense_1/kernel')!;
          m.tensors = m.tensors.filter((e) => e !== drop);
          for (const e of m.tensors) if (e.offset > drop.offset) e.offset -= drop.length * 4;
          m.byteLength -= drop.length * 4;
        },
        /optimizer slot "optimizer\/v\/dense_1\/kernel" is missing/,
      ],
      ['unknown slot', (m) => (m.tensors.find((e) => e.name === slot.name)!.name = 'optimizer/velocity/dense_1/kernel'), /not one adam keeps/],
      ['shape and length grown', (m) => Object.assign(m.tensors[0], { shape: [6, 9], length: 54 }), /"tensors/],
      ['float64 dtype', (m) => (m.tensors[0].dtype = 'float64' as never), /tensors\[0\]\.dtype/],
      ['byteLength 1e12', (m) => (m.byteLength = 1e12), /"byteLength"/],
      ['weights file outside the directory', (m) => (m.weightsFile = '../../etc/passwd'), /"weightsFile"/],
      ['shuffle state a string', (m) => (m.trainer!.position.epochShuffleState = 'x' as never), /epochShuffleState/],
      ['loss watch first loss a string', (m) => (m.trainer!.position.lossWatch = { firstSum: 1, firstCount: 1, running: null, first: 'x' as never }), /lossWatch\.first"/],
      ['loss watch reference NaN', (m) => (m.trainer!.position.lossWatch = { firstSum: 1, firstCount: 1, running: null, first: 1, reference: NaN }), /lossWatch\.reference/],
      ['loss watch count -3', (m) => (m.trainer!.position.lossWatch = { firstSum: 1, firstCount: -3, running: null }), /lossWatch\.firstCount/],
      ['input shape 0', (m) => ((m.network as { inputShape: number[] }).inputShape = [0]), /network\.inputShape\[0\]/],
      ['no rule id', (m) => ((m.rule as { id: unknown }).id = 5), /"rule\.id"/],
    ];
    expect(t.position).toMatchObject({ epoch: 1, batch: 2, step: BATCHES + 2 });
    for (const [what, edit, field] of forgeries) {
      const m = clone(manifest);
      edit(m);
      writeManifest(dir, m, true);
      const err = await verifyCheckpoint(dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(ManifestError);
      expect((err as Error).message, what).toMatch(field);
      expect((err as ManifestError).file, what).toBe(join(dir, 'manifest.json'));
    }
  });

  it('positions inconsistent with the data (epoch 5 after one epoch, batch 999) are refused given batchesPerEpoch', async () => {
    const { dir, manifest } = await savedRun();
    await expect(verifyCheckpoint(dir, { batchesPerEpoch: BATCHES })).resolves.toBeTruthy();
    const epoch5 = clone(manifest);
    epoch5.trainer!.position.epoch = 5;
    writeManifest(dir, epoch5, true);
    await expect(verifyCheckpoint(dir, { batchesPerEpoch: BATCHES })).rejects.toThrow(/"trainer\.position\.step" must be epoch × 6 \+ batch/);
    const batch999 = clone(manifest);
    Object.assign(batch999.trainer!.position, { batch: 999, epochSteps: 999, step: 1005 });
    writeManifest(dir, batch999, true);
    await expect(verifyCheckpoint(dir, { batchesPerEpoch: BATCHES })).rejects.toThrow(/"trainer\.position\.batch" must be below the 6 batches/);
    const t = makeTrainer(2);
    await expect(restoreTrainer(t, dir, { batchesPerEpoch: BATCHES })).rejects.toThrow(ManifestError);
    t.dispose();
  });

  it('a manifest edited to a layer of 3e6 units is refused by its digest before anything is allocated', async () => {
    const { dir, manifest } = await savedRun();
    const m = clone(manifest);
    const layer = (m.network as { layers: { units?: number }[] }).layers[0];
    layer.units = 3e6;
    writeManifest(dir, m, false);
    const before = tf.memory().numBytes;
    await expect(readCheckpoint(dir)).rejects.toThrow(/"manifestSha256"/);
    expect(tf.memory().numBytes).toBe(before);
  });

  it('a resealed manifest whose network config says 27 million weights (a small weights file) is refused before building anything', async () => {
    const { dir, manifest } = await savedRun();
    const m = clone(manifest);
    (m.network as { layers: { units?: number }[] }).layers[0].units = 3e6;
    writeManifest(dir, m, true);
    const before = tf.memory();
    await expect(loadNetwork(dir)).rejects.toThrow(/field "network" describes 27000002 parameters, the checkpoint holds 74/);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('every resealed mutation of every field either loads or fails with the library’s own error, leaking nothing', async () => {
    const { dir, manifest } = await savedRun();
    const paths = leaves(manifest).filter((p) => p[0] !== 'manifestSha256');
    const t = makeTrainer(3);
    // a first restore creates the optimizer's slots; later ones (and refusals) must allocate nothing that stays
    await restoreTrainer(t, dir);
    const before = tf.memory().numTensors;
    let refused = 0;
    let cases = 0;
    for (const path of paths) {
      for (const value of mutationsOf(path.reduce<unknown>((a, k) => (a as Record<string | number, unknown>)[k], manifest))) {
        const m = clone(manifest);
        setAt(m, path, value);
        writeManifest(dir, m, true);
        cases++;
        try {
          await restoreTrainer(t, dir);
        } catch (e) {
          expect(e, `${path.join('.')} = ${String(value)}: ${(e as Error).message}`).toBeInstanceOf(BiopropError);
          refused++;
        }
        expect(tf.memory().numTensors, path.join('.')).toBe(before);
      }
    }
    console.info(`[checkpoint] ${cases} resealed manifest mutations: ${refused} refused with the library's errors, ${cases - refused} loaded`);
    expect(cases).toBeGreaterThanOrEqual(100);
    expect(refused).toBeGreaterThan(cases / 2);
    t.dispose();
  });
});

describe('checkpoint files must be regular files', () => {
  it('weights symlinked to /dev/zero, a FIFO manifest and a directory are refused by name', async () => {
    const { dir, manifest } = await savedRun();
    const weights = join(dir, manifest.weightsFile);
    const saved = readFileSync(weights);
    unlinkSync(weights);
    symlinkSync('/dev/zero', weights);
    await expect(verifyCheckpoint(dir)).rejects.toThrow(`${weights}: the weights file named by the manifest must be a regular file, this is a character device`);
    await expect(readCheckpoint(dir)).rejects.toThrow(/character device/);
    unlinkSync(weights);
    writeFileSync(weights, Buffer.concat([saved, Buffer.alloc(4)]));
    await expect(readCheckpoint(dir)).rejects.toThrow(new RegExp(`^${weights}: the weights file .* has ${saved.length + 4} bytes, more than`));
    writeFileSync(weights, saved.subarray(4));
    await expect(readCheckpoint(dir)).rejects.toThrow(/bytes, the manifest says/);

    const fifoDir = mkdtempSync(join(tmpdir(), 'bioprop-fifo-'));
    execFileSync('mkfifo', [join(fifoDir, 'manifest.json')]);
    await expect(verifyCheckpoint(fifoDir)).rejects.toThrow(`${join(fifoDir, 'manifest.json')}: the manifest must be a regular file, this is a FIFO`);
    await expect(readCheckpoint(join(fifoDir, 'nothing'))).rejects.toThrow(/no checkpoint here/);
  });
});

describe('checkpoint directories are checked before training', () => {
  it('a procfs path, a path under a file and a fresh nested path', async () => {
    // Node's recursive mkdir never returns on /proc paths: saving there used to hang at the first save
    await expect(prepareCheckpointDir('/proc/bioprop-ck')).rejects.toThrow(/^\/proc\/bioprop-ck: cannot create the checkpoint directory \(\/proc\/bioprop-ck: ENOENT\)/);
    const t = makeTrainer(8);
    await expect(saveCheckpoint('/proc/bioprop-ck/a', { network: t.network, boundRule: t.boundRule })).rejects.toThrow(CheckpointError);
    const root = mkdtempSync(join(tmpdir(), 'bioprop-dir-'));
    writeFileSync(join(root, 'afile'), 'x');
    await expect(prepareCheckpointDir(join(root, 'afile', 'ck'))).rejects.toThrow(`${join(root, 'afile', 'ck')}: cannot create the checkpoint directory: ${join(root, 'afile')} is not a directory`);
    const nested = join(root, 'a', 'b', 'ck');
    await prepareCheckpointDir(nested);
    expect(readdirSync(nested)).toEqual([]);
    await saveCheckpoint(nested, { network: t.network, boundRule: t.boundRule });
    const names = readdirSync(nested).sort();
    expect(names).toHaveLength(2);
    expect(names[0]).toBe('manifest.json');
    expect(names[1]).toMatch(/^weights-[0-9a-f]{16}\.bin$/);
    t.dispose();
    t.network.dispose();
  });
});

describe('restore leaks nothing', () => {
  it('save → restore → dispose leaves tf.memory().numTensors where it was, for every optimizer kind', async () => {
    for (const optimizer of [adam({ lr: 0.01 }), sgd({ lr: 0.1 })]) {
      const dir = mkdtempSync(join(tmpdir(), 'bioprop-leak-'));
      const a = makeTrainer(4, optimizer);
      await a.fit(toyData(32), { epochs: 1, batchSize: 16 });
      const before = tf.memory().numTensors;
      await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
      expect(tf.memory().numTensors).toBe(before);
      // restore into a fresh trainer (slots created from the checkpoint) and into one with slots (assigned in place)
      const b = makeTrainer(5, optimizer);
      await restoreTrainer(b, dir);
      const restored = tf.memory().numTensors;
      await restoreTrainer(b, dir);
      expect(tf.memory().numTensors).toBe(restored);
      b.dispose();
      b.network.dispose();
      expect(tf.memory().numTensors).toBe(before);
      a.dispose();
      a.network.dispose();
    }
  });

  it('the in-memory path: serialize → restoreTrainerFrom → dispose', async () => {
    const a = makeTrainer(6);
    await a.fit(toyData(32), { epochs: 1, batchSize: 16 });
    const { manifest, data } = await serializeCheckpoint({ network: a.network, boundRule: a.boundRule, trainer: a });
    expect(verifyCheckpointManifest(manifest)).toBe(manifest);
    const before = tf.memory().numTensors;
    const b = makeTrainer(7);
    const { restoreTrainerFrom } = await import('./checkpoint.js');
    await restoreTrainerFrom(b, { manifest, data });
    b.dispose();
    b.network.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });
});
