import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deserializeCheckpoint, loadNetworkFrom, manifestDigest, parseCheckpointManifest, restoreTrainerFrom, serializeCheckpoint } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { dense } from './layers/dense.js';
import { sequential } from './network.js';
import { restoreTrainer, saveCheckpoint } from './node.js';
import { adam } from './optimizers.js';
import { randomSource, randomStream } from './random.js';
import { sha256Hex, sha256HexSync } from './sha256.js';
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

function makeTrainer(seed: number) {
  const random = randomSource(seed);
  const network = sequential({ inputShape: [6], layers: [dense({ units: 8, activation: 'tanh' }), dense({ units: 2 })], random });
  return createTrainer({ network, rule: testBackprop(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 0.01 }), random });
}

const weights = (t: ReturnType<typeof makeTrainer>) => Object.values(t.network.namedParams()).map((v) => Array.from(v.dataSync()));

describe('checkpoints in memory (browser-safe)', () => {
  it('serialize → deserialize → restoreTrainerFrom continues bit-for-bit, with no file system', async () => {
    const data = toyData(96);
    const a = makeTrainer(1);
    await a.fit(data, { epochs: 1, batchSize: 16 });
    const { manifest, data: bytes } = await serializeCheckpoint({ network: a.network, boundRule: a.boundRule, trainer: a, extra: { page: 'upload' } });
    expect(manifest.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(manifest.weightsFile).toBe(`weights-${manifest.sha256.slice(0, 16)}.bin`);
    await a.fit(data, { epochs: 2, batchSize: 16 });

    // what a page gets back from two uploaded files: the manifest's text and the weights' ArrayBuffer
    const b = makeTrainer(99);
    const restored = await restoreTrainerFrom(b, { manifest: JSON.stringify(manifest), data: bytes.slice().buffer });
    expect(restored.extra).toEqual({ page: 'upload' });
    await b.fit(data, { epochs: 2, batchSize: 16 });
    expect(weights(b)).toEqual(weights(a));
  });

  it('reads what saveCheckpoint wrote, and saveCheckpoint reads what serializeCheckpoint made', async () => {
    const a = makeTrainer(2);
    const dir = mkdtempSync(join(tmpdir(), 'bioprop-ck-mem-'));
    const saved = await saveCheckpoint(dir, { network: a.network, boundRule: a.boundRule, trainer: a });
    const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
    const bytes = new Uint8Array(readFileSync(join(dir, saved.weightsFile)));
    const { network, manifest } = await loadNetworkFrom({ manifest: text, data: bytes });
    expect(manifest).toEqual(saved);
    const x = tf.ones([3, 6]);
    expect(Array.from(network.predict(x).dataSync())).toEqual(Array.from(a.network.predict(x).dataSync()));
    const b = makeTrainer(3);
    await restoreTrainer(b, dir);
    expect(weights(b)).toEqual(weights(a));
  });

  it('every defect is a CheckpointError naming the part', async () => {
    const a = makeTrainer(4);
    const { manifest, data } = await serializeCheckpoint({ network: a.network, boundRule: a.boundRule });
    const flipped = data.slice();
    flipped[3] ^= 0xff;
    await expect(deserializeCheckpoint({ manifest, data: flipped }, { weightsLabel: 'upload.bin' })).rejects.toThrow(
      /^upload\.bin: SHA-256 does not match the manifest/,
    );
    await expect(deserializeCheckpoint({ manifest, data: data.subarray(4) })).rejects.toThrow(/weights-.*\.bin: \d+ bytes, the manifest says/);
    await expect(deserializeCheckpoint({ manifest: '{ nope', data })).rejects.toThrow(/^manifest\.json: corrupt manifest/);
    expect(() => parseCheckpointManifest('{"format":"other"}', 'm.json')).toThrow(/^m\.json: not a bioprop checkpoint manifest/);
    await expect(deserializeCheckpoint({ manifest: { ...manifest, version: 1 }, data })).rejects.toThrow(/written by bioprop 0\.1/);
    await expect(deserializeCheckpoint({ manifest, data: [1, 2] as never })).rejects.toThrow(CheckpointError);
    const before = tf.memory().numTensors;
    const bad = { ...manifest, tensors: [...manifest.tensors, { name: 'rule/x', shape: [2], dtype: 'float32' as const, offset: 0, length: 3 }] };
    await expect(deserializeCheckpoint({ manifest: bad, data })).rejects.toThrow(/field "manifestSha256" does not match the manifest's content/);
    const resealed = { ...bad, manifestSha256: manifestDigest(bad) };
    await expect(deserializeCheckpoint({ manifest: resealed, data })).rejects.toThrow(/field "tensors\[\d+\]\.length" is 3, the shape \[2\] holds 2/);
    expect(tf.memory().numTensors).toBe(before);
    const network = makeTrainer(5);
    await expect(restoreTrainerFrom(network, { manifest, data }, { source: 'my upload' })).rejects.toThrow(/^my upload: checkpoint holds a network only/);
  });
});

describe('SHA-256', () => {
  it('Web Crypto and the JavaScript fallback give node:crypto digests, at every padding boundary', async () => {
    const rng = randomStream(9, 'bytes');
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65_537]) {
      const bytes = Uint8Array.from(rng.uniformArray(n), (u) => Math.floor(u * 256));
      const want = createHash('sha256').update(bytes).digest('hex');
      expect(await sha256Hex(bytes), `${n} bytes`).toBe(want);
      expect(sha256HexSync(bytes), `${n} bytes, fallback`).toBe(want);
      expect(sha256HexSync(new Uint8Array(bytes.buffer.slice(0), 0, n)), `${n} bytes, a view`).toBe(want);
    }
    const offset = new Uint8Array(100).fill(7).subarray(13, 90);
    expect(sha256HexSync(offset)).toBe(createHash('sha256').update(offset).digest('hex'));
  });
});
