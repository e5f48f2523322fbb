import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  restoreTrainerFrom,
  sequential,
  serializeCheckpoint,
  sgd,
  softmaxCrossEntropyLoss,
  stepContext,
  type Network,
  type Rule,
  type TrainData,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { feedbackAlignment } from '@bioprop/feedback-alignment';
import { probeAlignment, probeAlignmentAsync } from '@bioprop/diagnostics';
import { registerWebGPU, webgpuAdapterInfo, webgpuLoader, WebGPUSyncReadError, type WebGPUAdapterInfo } from './index.js';

// Where no adapter can be made the tests skip and say why, except in CI, which installs Mesa: there it is a failure.
let adapter: WebGPUAdapterInfo | null = null;
let unavailable = '';
try {
  adapter = await registerWebGPU({ allowSoftware: true });
} catch (err) {
  unavailable = (err as Error).message;
}
const inCI = process.env.CI === 'true';
const skip = adapter === null ? `skipped: no WebGPU adapter (${unavailable})` : '';

/** Tolerances on llvmpipe (software) against cpu; the measured figures are in the README. */
const MATMUL_REL = 1e-5;
const GRAD_ABS = 1e-5;
const LOSS_REL = 1e-4;

const wanted = (title: string) => (skip ? `${title} (${skip})` : title);

it('a WebGPU adapter can be created here (required under CI=true, where CI installs Mesa)', () => {
  if (adapter === null && !inCI) {
    console.warn(`webgpu tests skipped: ${unavailable}`);
    return;
  }
  expect(unavailable).toBe('');
  expect(adapter).not.toBeNull();
});

function toyData(seed: number, count: number, inputs = 32, classes = 4): TrainData {
  const s = randomSource(seed).stream('data');
  const x = s.normalArray(count * inputs);
  const y = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) {
    const v = Array.from({ length: classes }, (_, k) => x[i * inputs + k] + 0.5 * x[i * inputs + k + classes]);
    y[i * classes + v.indexOf(Math.max(...v))] = 1;
  }
  return { x, y, count, sampleShape: [inputs], targetShape: [classes] };
}

const mlp = (seed: number): Network =>
  sequential({ inputShape: [32], layers: [dense({ units: 24, activation: 'tanh' }), dense({ units: 16, activation: 'tanh' }), dense({ units: 4 })], seed });

async function weightsOf(network: Network): Promise<Float32Array[]> {
  return Promise.all(Object.values(network.namedParams()).map(async (v) => (await v.data()) as Float32Array));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Losses and final weights of `steps` stepAsync calls of `rule` on `backend`, from the same seed. */
async function train(backend: string, rule: () => Rule, steps: number, seed = 4) {
  await tf.setBackend(backend);
  const network = mlp(seed);
  const trainer = createTrainer({ network, rule: rule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed });
  const data = toyData(seed, 16 * steps);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const x = tf.tensor(data.x.subarray(i * 16 * 32, (i + 1) * 16 * 32), [16, 32]);
    const y = tf.tensor(data.y.subarray(i * 16 * 4, (i + 1) * 16 * 4), [16, 4]);
    losses.push(await trainer.stepAsync(x, y));
    tf.dispose([x, y]);
  }
  const weights = await weightsOf(network);
  const evaluation = await trainer.evaluateAsync(data);
  trainer.dispose();
  network.dispose();
  return { losses, weights, evaluation };
}

describe.skipIf(adapter === null)('webgpu adapter and backend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it(wanted('reports the adapter it registered, software or not, and sets EGL_PLATFORM when unset'), () => {
    const a = webgpuAdapterInfo()!;
    expect(a).toEqual(adapter);
    expect(a.description.length).toBeGreaterThan(0);
    expect(a.isSoftware).toBe(a.isFallbackAdapter || /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i.test(`${a.device} ${a.driver}`));
    expect(process.env.EGL_PLATFORM).toBeTruthy();
    console.info(`webgpu adapter: ${a.description} (${a.isSoftware ? 'software' : 'hardware'}; dawn ${JSON.stringify(a.dawnOptions)})`);
  });

  it(wanted('the resolver: auto takes webgpu only on a hardware adapter; by name it takes any and reports it'), async () => {
    const loaders = { webgpu: webgpuLoader(), wasm: () => import('@tensorflow/tfjs-backend-wasm'), cpu: () => import('@tensorflow/tfjs-backend-cpu') };
    const auto = await resolveBackend('auto', { loaders, environment: 'node' });
    const tried = auto.tried.find((t) => t.name === 'webgpu')!;
    if (adapter!.isSoftware) {
      expect(auto.name).toBe('wasm');
      expect(tried.why).toBe(`software adapter ${adapter!.description} skipped; ask for "webgpu" by name to use it`);
      // one line without parentheses, so it reads inside the resolver's parenthesized list of reasons
      expect(tried.why).not.toMatch(/[()]/);
    } else {
      expect(auto.name).toBe('webgpu');
      expect(auto.adapter).toMatchObject({ isSoftware: false, description: adapter!.description });
    }
    const named = await resolveBackend('webgpu', { loaders, environment: 'node' });
    expect(named).toMatchObject({ name: 'webgpu', tfBackend: 'webgpu', adapter: { isSoftware: adapter!.isSoftware, description: adapter!.description } });
    expect(named.reason).toContain(adapter!.description);
  });

  it(wanted('a synchronous read of a GPU tensor is a clear error, and the backend keeps working'), async () => {
    await tf.setBackend('webgpu');
    // large enough to run on the GPU (tfjs computes tiny ops on the host, where a synchronous read works)
    const a = tf.range(0, 4096);
    const b = tf.matMul(tf.reshape(a, [64, 64]), tf.eye(64));
    expect(() => b.dataSync()).toThrow(WebGPUSyncReadError);
    expect(() => b.dataSync()).toThrow(/cannot read a tensor synchronously in Node.*await tensor\.data\(\)/);
    expect(Array.from(await b.data())).toEqual(Array.from({ length: 4096 }, (_, i) => i));
    // values made on the host and not yet used still read synchronously
    const host = tf.tensor1d([1, 2, 3]);
    expect(Array.from(host.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([a, b, host]);
  });

  it(wanted(`matmul 256×512·512×256 within ${MATMUL_REL} (relative, max-norm) of cpu`), async () => {
    const s = randomSource(1).stream('m');
    const [av, bv] = [s.normalArray(256 * 512), s.normalArray(512 * 256)];
    await tf.setBackend('webgpu');
    const g = tf.matMul(tf.tensor2d(av, [256, 512]), tf.tensor2d(bv, [512, 256]));
    const gpu = await g.data();
    tf.dispose(g);
    await tf.setBackend('cpu');
    const c = tf.matMul(tf.tensor2d(av, [256, 512]), tf.tensor2d(bv, [512, 256]));
    const cpu = c.dataSync();
    const scale = maxAbsDiff(cpu, new Float32Array(cpu.length));
    const rel = maxAbsDiff(gpu, cpu) / scale;
    console.info(`matmul: max |gpu − cpu| / max |cpu| = ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(MATMUL_REL);
  });

  it.each<[string, () => Rule]>([
    ['backprop', () => backprop()],
    ['feedback alignment', () => feedbackAlignment()],
  ])(wanted(`%s: one step's updates within ${GRAD_ABS} of cpu's (same weights, same batch)`), async (_, rule) => {
    const data = toyData(8, 32);
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const network = mlp(8);
      const bound = rule().bind(network, randomSource(8));
      const x = tf.tensor(data.x, [32, 32]);
      const y = tf.tensor(data.y, [32, 4]);
      const kept = tf.tidy(() => {
        const trace = network.forward(x);
        const ctx = stepContext({ network, trace, target: y, loss: softmaxCrossEntropyLoss(), step: 0, epoch: 0, random: randomSource(0) });
        const r = bound.step(ctx);
        return r.grads.flatMap((g) => (g ? Object.values(g) : []));
      });
      const out = await Promise.all(kept.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose([...kept, x, y]);
      bound.dispose();
      network.dispose();
      return out;
    };
    const gpu = await grads('webgpu');
    const cpu = await grads('cpu');
    expect(gpu.length).toBe(cpu.length);
    const diffs = gpu.map((g, i) => maxAbsDiff(g, cpu[i]));
    console.info(`${_}: max |Δgrad| per parameter = ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
    for (const d of diffs) expect(d).toBeLessThan(GRAD_ABS);
  });

  it.each<[string, () => Rule]>([
    ['backprop', () => backprop()],
    ['feedback alignment', () => feedbackAlignment()],
  ])(wanted(`%s: 8 stepAsync steps and evaluateAsync match cpu within ${LOSS_REL} (relative)`), async (name, rule) => {
    const gpu = await train('webgpu', rule, 8);
    const cpu = await train('cpu', rule, 8);
    const rel = gpu.losses.map((l, i) => Math.abs(l - cpu.losses[i]) / Math.abs(cpu.losses[i]));
    const wDiff = Math.max(...gpu.weights.map((w, i) => maxAbsDiff(w, cpu.weights[i])));
    console.info(`${name}: loss rel. diff max ${Math.max(...rel).toExponential(2)}, weights max |Δ| ${wDiff.toExponential(2)}, eval loss ${gpu.evaluation.loss} vs ${cpu.evaluation.loss}`);
    for (const r of rel) expect(r).toBeLessThan(LOSS_REL);
    expect(wDiff).toBeLessThan(GRAD_ABS * 10);
    expect(Math.abs(gpu.evaluation.loss - cpu.evaluation.loss) / cpu.evaluation.loss).toBeLessThan(LOSS_REL);
  });
});

describe.skipIf(adapter === null)('conformance subset on webgpu, asynchronously (the synchronous suite reads with dataSync)', () => {
  beforeAll(async () => {
    await tf.setBackend('webgpu');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const rules: [string, () => Rule][] = [
    ['backprop', () => backprop()],
    ['feedback alignment', () => feedbackAlignment()],
  ];

  it.each(rules)(wanted('%s: shapes of updates and signals, and no tensor leaked by a step'), async (_, rule) => {
    const network = mlp(2);
    const trainer = createTrainer({ network, rule: rule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.05 }), seed: 2 });
    const data = toyData(2, 16);
    const x = tf.tensor(data.x, [16, 32]);
    const y = tf.tensor(data.y, [16, 4]);
    await trainer.stepAsync(x, y); // warm-up: state made lazily
    const before = tf.memory().numTensors;
    let shapesOk = true;
    trainer.addHook({
      onStep(ctx) {
        ctx.result.grads.forEach((g, l) => {
          for (const [k, t] of Object.entries(g ?? {})) if (t.shape.join() !== ctx.network.layers[l].params[k].shape.join()) shapesOk = false;
        });
        ctx.result.signals.forEach((s, l) => {
          if (s && s.shape.join() !== ctx.trace.layers[l].output.shape.join()) shapesOk = false;
        });
      },
    });
    await trainer.stepAsync(x, y);
    expect(shapesOk).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    trainer.dispose();
    network.dispose();
  });

  it.each(rules)(wanted('%s: the same seed gives identical weights'), async (_, rule) => {
    const a = await train('webgpu', rule, 3, 6);
    const b = await train('webgpu', rule, 3, 6);
    expect(a.losses).toEqual(b.losses);
    a.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(b.weights[i])));
  });

  it.each(rules)(wanted('%s: serialize → restore into a fresh trainer continues bit for bit'), async (_, rule) => {
    await tf.setBackend('webgpu');
    const data = toyData(3, 64);
    const make = () => createTrainer({ network: mlp(3), rule: rule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.1 }), seed: 3 });
    const straight = make();
    await straight.fit(data, { epochs: 2, batchSize: 16, async: true });
    const first = make();
    await first.fit(data, { epochs: 2, batchSize: 16, maxSteps: 5, async: true });
    const ck = await serializeCheckpoint({ network: first.network, boundRule: first.boundRule, trainer: first });
    const resumed = make();
    await restoreTrainerFrom(resumed, ck);
    await resumed.fit(data, { epochs: 2, batchSize: 16, async: true });
    const [w1, w2] = [await weightsOf(straight.network), await weightsOf(resumed.network)];
    w1.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(w2[i])));
    for (const t of [straight, first, resumed]) {
      t.dispose();
      t.network.dispose();
    }
  });

  it.each(rules)(wanted('%s: fit({ async }) lowers the loss; evaluateAsync and the async probe run'), async (_, rule) => {
    const network = mlp(5);
    const trainer = createTrainer({ network, rule: rule(), loss: 'softmaxCrossEntropy', optimizer: sgd({ lr: 0.2 }), seed: 5 });
    const data = toyData(5, 256);
    const before = await trainer.evaluateAsync(data);
    const fit = await trainer.fit(data, { epochs: 4, batchSize: 32 }); // async chosen for webgpu by default
    const after = await trainer.evaluateAsync(data);
    expect(after.loss).toBeLessThan(before.loss * 0.8);
    expect(fit.epochs).toHaveLength(4);
    const x = tf.tensor(data.x.subarray(0, 32 * 32), [32, 32]);
    const y = tf.tensor(data.y.subarray(0, 32 * 4), [32, 4]);
    const probe = await probeAlignmentAsync({ network, boundRule: trainer.boundRule, loss: trainer.loss, input: x, target: y });
    expect(probe.deltaAngleDeg.every((d) => Number.isFinite(d) && d >= 0 && d <= 180)).toBe(true);
    if (_ === 'backprop') expect(Math.max(...probe.deltaAngleDeg)).toBeLessThan(0.05);
    else expect(probe.weights.length).toBeGreaterThan(0);
    expect(() => probeAlignment({ network, boundRule: trainer.boundRule, loss: trainer.loss, input: x, target: y })).toThrow(WebGPUSyncReadError);
    tf.dispose([x, y]);
    trainer.dispose();
    network.dispose();
  });
});
