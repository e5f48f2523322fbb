import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  sequential,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  type Network,
  type Rule,
  type Tensor,
  type TrainData,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import {
  alignmentCondition,
  alignmentConditionAsync,
  alignmentRecorder,
  pinv,
  pinvAsync,
  probeAlignment,
  probeAlignmentAsync,
  signalAngles,
  signalAnglesAsync,
  weightAlignment,
  weightAlignmentAsync,
  type AlignmentRecord,
} from './index.js';

/** The cpu backend whose synchronous reads throw, as WebGPU's do in Node. */
class AsyncOnlyBackend extends MathBackendCPU {
  private reading = 0;
  override async read(dataId: object) {
    this.reading++;
    try {
      return super.readSync(dataId);
    } finally {
      this.reading--;
    }
  }
  override readSync(dataId: object) {
    if (this.reading === 0) throw new Error('async-only backend: synchronous read');
    return super.readSync(dataId);
  }
}
const ASYNC_ONLY = 'async-only-diagnostics-test';

beforeAll(async () => {
  tf.registerBackend(ASYNC_ONLY, () => new AsyncOnlyBackend());
  for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: ASYNC_ONLY });
  await resolveBackend('wasm');
});
afterAll(async () => {
  await tf.setBackend('cpu');
  for (const k of tf.getKernelsForBackend(ASYNC_ONLY)) tf.unregisterKernel(k.kernelName, ASYNC_ONLY);
  tf.removeBackend(ASYNC_ONLY);
});

const net = (seed = 3): Network =>
  sequential({ inputShape: [12], layers: [dense({ units: 10, activation: 'tanh' }), dense({ units: 8, activation: 'tanh' }), dense({ units: 4 })], seed });

function batch(seed: number, n: number): [Tensor, Tensor] {
  const s = randomSource(seed).stream('data');
  const x = tf.tensor(s.normalArray(n * 12), [n, 12]);
  const labels = Array.from({ length: n }, () => Math.floor(s.next() * 4));
  return [x, tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 4), 'float32'))];
}

/** Plain arrays (no backend involved): 12 inputs, the class the argmax of four of them. */
function data(seed: number, n: number): TrainData {
  const s = randomSource(seed).stream('data');
  const x = s.normalArray(n * 12);
  const y = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const v = [0, 1, 2, 3].map((k) => x[i * 12 + k]);
    y[i * 4 + v.indexOf(Math.max(...v))] = 1;
  }
  return { x, y, count: n, sampleShape: [12], targetShape: [4] };
}

describe.each(['wasm', 'cpu'])('asynchronous diagnostics on %s: the synchronous numbers, bit for bit', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it.each<[string, () => Rule]>([
    ['feedback alignment', () => feedbackAlignment()],
    ['backprop', () => backprop()],
  ])('%s: signal angles, pseudobackprop, weight alignment, eᵀWBe and the probe; no tensor left behind', async (_, rule) => {
    const network = net();
    const bound = rule().bind(network, randomSource(3));
    const [x, y] = batch(3, 16);
    const loss = softmaxCrossEntropyLoss();
    const trace = tf.tidy(() => network.forward(x) as unknown as tf.TensorContainer) as unknown as ReturnType<Network['forward']>;
    const ctx = tf.tidy(
      () => stepContext({ network, trace, target: y, loss, step: 0, epoch: 0, random: randomSource(0) }) as unknown as tf.TensorContainer,
    ) as unknown as ReturnType<typeof stepContext>;
    const result = tf.tidy(() => bound.step(ctx) as unknown as tf.TensorContainer) as unknown as ReturnType<typeof bound.step>;

    const before = tf.memory().numTensors;
    // each function tidies its own work and returns plain numbers
    const sync = {
      angles: signalAngles(network, trace, result, ctx),
      weights: weightAlignment(network, bound),
      condition: alignmentCondition(network, bound, ctx.outputError),
    };
    const async = {
      angles: await signalAnglesAsync(network, trace, result, ctx),
      weights: await weightAlignmentAsync(network, bound),
      condition: await alignmentConditionAsync(network, bound, ctx.outputError),
    };
    expect(tf.memory().numTensors).toBe(before);
    expect(async).toEqual(sync);
    expect(sync.angles.pbp).not.toBeNull();

    const probeSync = probeAlignment({ network, boundRule: bound, loss, input: x, target: y });
    const probeAsync = await probeAlignmentAsync({ network, boundRule: bound, loss, input: x, target: y });
    expect(tf.memory().numTensors).toBe(before);
    expect(probeAsync).toEqual(probeSync);

    const k = network.layers[2].params.kernel;
    const [p, q] = [pinv(k), await pinvAsync(k)];
    expect(Array.from(await q.data())).toEqual(Array.from(p.dataSync()));
    tf.dispose([p, q, x, y]);
    tf.dispose(Object.values(result as object) as never);
    bound.dispose();
    network.dispose();
  });
});

/** A small FA run with the recorder; returns the records and the epochs' losses. */
async function recordedRun(backend: string, every: 'step' | 'epoch', asyncReads: boolean) {
  await tf.setBackend(backend);
  const trainer = createTrainer({ network: net(5), rule: feedbackAlignment(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 5 });
  const rec = alignmentRecorder({ every, everySteps: 3, async: asyncReads });
  trainer.addHook(rec);
  const fit = await trainer.fit(data(9, 64), { epochs: 2, batchSize: 16, async: asyncReads });
  await rec.flush();
  const out = { history: rec.history.map((r) => ({ ...r })) as AlignmentRecord[], losses: fit.epochs.map((e) => e.trainLoss) };
  rec.dispose();
  trainer.dispose();
  trainer.network.dispose();
  return out;
}

describe('the recorder on a backend that cannot read synchronously', () => {
  it('epoch mode: the same records as the synchronous run on cpu, pseudobackprop included', async () => {
    const ref = await recordedRun('cpu', 'epoch', false);
    const run = await recordedRun(ASYNC_ONLY, 'epoch', true);
    expect(run.losses).toEqual(ref.losses);
    expect(run.history).toHaveLength(2);
    expect(run.history).toEqual(ref.history);
    expect(run.history[0].pbp).not.toBeNull();
  });

  it('step mode: the same records in step order (pseudobackprop left to epoch mode), nothing leaked', async () => {
    const ref = await recordedRun('cpu', 'step', false);
    await tf.setBackend(ASYNC_ONLY);
    const before = tf.memory().numTensors;
    const run = await recordedRun(ASYNC_ONLY, 'step', true);
    await tf.setBackend(ASYNC_ONLY);
    expect(tf.memory().numTensors).toBe(before);
    expect(run.losses).toEqual(ref.losses);
    expect(run.history.map((r) => r.step)).toEqual([3, 6]);
    expect(run.history).toEqual(ref.history.map((r) => ({ ...r, pbp: null })));
  });

  it('the synchronous recorder fails there, which is why the asynchronous one exists', async () => {
    await expect(recordedRun(ASYNC_ONLY, 'epoch', false)).rejects.toThrow(/synchronous read/);
  });
});
