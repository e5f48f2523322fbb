// The playground's data and run plumbing in Node (no browser): dropped IDX files, the batch order, checkpoint files.
import { encodeIdx } from '@bioprop/datasets';
import { resolveBackend } from '@bioprop/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointBundle, parseBundle, restoreRuns } from './checkpoints';
import { Batches, DEFAULT_CONFIG, RULES, createRun, disposeRun, idxFromFiles, loadData, trainStep, type PlaygroundConfig } from './experiment';

beforeAll(async () => {
  await resolveBackend('cpu');
});

function idxPair(count: number, side = 4): { images: Uint8Array; labels: Uint8Array } {
  const pixels = Uint8Array.from({ length: count * side * side }, (_, i) => i % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images: encodeIdx('uint8', [count, side, side], pixels), labels: encodeIdx('uint8', [count], labels) };
}

describe('dropped IDX files', () => {
  it('splits one images/labels pair 80/20, in any order of the files', async () => {
    const { images, labels } = idxPair(50);
    const splits = await idxFromFiles([{ name: 'l', bytes: labels }, { name: 'i', bytes: images }], 1000, 1000);
    expect([splits.train.count, splits.test.count]).toEqual([40, 10]);
    expect(splits.train.sampleShape).toEqual([16]);
    expect(Array.from(splits.test.labels!.slice(0, 3))).toEqual([0, 1, 2]);
  });

  it('takes the larger of two pairs as training data, with limits', async () => {
    const big = idxPair(30);
    const small = idxPair(12);
    const splits = await idxFromFiles(
      [
        { name: 'test-images', bytes: small.images },
        { name: 'train-labels', bytes: big.labels },
        { name: 'train-images', bytes: big.images },
        { name: 'test-labels', bytes: small.labels },
      ],
      20,
      5,
    );
    expect([splits.train.count, splits.test.count]).toEqual([20, 5]);
  });

  it('says what it got when the files do not pair up', async () => {
    const { images } = idxPair(5);
    await expect(idxFromFiles([{ name: 'only-images', bytes: images }], 10, 10)).rejects.toThrow(/images file and a labels file.*only-images \[5×4×4\]/);
  });
});

describe('batch order', () => {
  it('is seeded and visits every sample once per epoch', async () => {
    const { splits } = await loadData({ kind: 'linear' }, 3);
    const a = new Batches(splits.train, 100, 7);
    const b = new Batches(splits.train, 100, 7);
    const epoch = Array.from({ length: splits.train.count / 100 }, () => a.next()).flat();
    expect(new Set(epoch).size).toBe(splits.train.count);
    expect(b.next()).toEqual(epoch.slice(0, 100));
    expect(new Batches(splits.train, 100, 8).next()).not.toEqual(epoch.slice(0, 100));
  });
});

describe('rules', () => {
  it('offers every rule package once, by id', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ['bp', 'fa', 'dfa', 'usf', 'sa', 'kp', 'lra-diff', 'dtp']) expect(ids).toContain(id);
  });
});

describe('checkpoint files', () => {
  it('resume a run bit for bit and leak no tensors', async () => {
    const config: PlaygroundConfig = { ...DEFAULT_CONFIG, rules: ['fa'], data: { kind: 'linear' }, arch: { kind: 'mlp', hidden: [8], activation: 'tanh' }, batchSize: 20 };
    const data = await loadData(config.data, config.seed);
    const train = data.splits.train;
    const straight = createRun('fa', config, data);
    const order = new Batches(train, config.batchSize, config.seed);
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) losses.push(await trainStep(straight, train, order.next()));

    const first = createRun('fa', config, data);
    const order2 = new Batches(train, config.batchSize, config.seed);
    for (let s = 0; s < 3; s++) await trainStep(first, train, order2.next());
    const text = await checkpointBundle([first], config);
    disposeRun(first);

    const before = tf.memory().numTensors;
    const resumed = createRun('fa', config, data);
    const step = await restoreRuns([resumed], parseBundle(text, 'ck.json'), 'ck.json');
    expect(step).toBe(3);
    const order3 = new Batches(train, config.batchSize, config.seed);
    for (let s = 0; s < step; s++) order3.next();
    const rest: number[] = [];
    for (let s = 3; s < 6; s++) rest.push(await trainStep(resumed, train, order3.next()));
    expect(rest).toEqual(losses.slice(3));
    disposeRun(resumed);
    disposeRun(straight);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  });

  it('refuses files that are not playground checkpoints, and runs the file does not hold', async () => {
    expect(() => parseBundle('{"format":"other"}', 'x.json')).toThrow(/x.json: not a playground checkpoint file/);
    expect(() => parseBundle('not json', 'y.json')).toThrow(/y.json: not JSON/);
    const config: PlaygroundConfig = { ...DEFAULT_CONFIG, rules: ['bp'], data: { kind: 'linear' }, arch: { kind: 'mlp', hidden: [4], activation: 'tanh' } };
    const data = await loadData(config.data, config.seed);
    const bp = createRun('bp', config, data);
    const text = await checkpointBundle([bp], config);
    const fa = createRun('fa', config, data);
    await expect(restoreRuns([fa], parseBundle(text, 'bp.json'), 'bp.json')).rejects.toThrow(/bp.json holds no checkpoint of fa \(it has bp\)/);
    disposeRun(bp);
    disposeRun(fa);
  });
});
