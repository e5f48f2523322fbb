import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from './errors.js';
import { ADAM_STEP_KERNEL, SGD_STEP_KERNEL, adam, momentum, resolveOptimizer, rmsprop, scheduledLr, sgd } from './optimizers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Run an optimizer on f(w) = ½‖w‖²-style fixed gradients and return w after each step. */
function run(spec: ReturnType<typeof sgd>, grads: number[][], w0 = [1, -2]): number[][] {
  const opt = spec.create();
  const w = tf.variable(tf.tensor1d(w0));
  const out: number[][] = [];
  for (const g of grads) {
    tf.tidy(() => opt.apply({ w }, { w: tf.tensor1d(g) }));
    out.push(Array.from(w.dataSync()));
  }
  opt.dispose();
  w.dispose();
  return out;
}

const close = (a: number[][], b: number[][]) => a.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(b[i][j], 5)));

describe('optimizers follow their textbook updates', () => {
  const g = [[0.5, 1], [0.25, -1], [1, 0]];

  it('sgd', () => close(run(sgd({ lr: 0.1 }), g), [[0.95, -2.1], [0.925, -2.0], [0.825, -2.0]]));

  it('momentum (heavy ball, PyTorch form) and nesterov', () => {
    // v = μv + g; w −= lr·v
    const mu = 0.9;
    let v = [0, 0];
    let w = [1, -2];
    const want: number[][] = [];
    let wn = [1, -2];
    let vn = [0, 0];
    const wantN: number[][] = [];
    for (const gi of g) {
      v = v.map((vi, j) => mu * vi + gi[j]);
      w = w.map((wi, j) => wi - 0.1 * v[j]);
      want.push(w);
      vn = vn.map((vi, j) => mu * vi + gi[j]);
      wn = wn.map((wi, j) => wi - 0.1 * (gi[j] + mu * vn[j]));
      wantN.push(wn);
    }
    close(run(momentum({ lr: 0.1, momentum: mu }), g), want);
    close(run(momentum({ lr: 0.1, momentum: mu, nesterov: true }), g), wantN);
  });

  it('adam with bias correction', () => {
    const [b1, b2, eps, lr] = [0.9, 0.999, 1e-8, 0.01];
    let m = [0, 0];
    let v = [0, 0];
    let w = [1, -2];
    const want: number[][] = [];
    g.forEach((gi, t) => {
      m = m.map((mi, j) => b1 * mi + (1 - b1) * gi[j]);
      v = v.map((vi, j) => b2 * vi + (1 - b2) * gi[j] ** 2);
      const mh = m.map((x) => x / (1 - b1 ** (t + 1)));
      const vh = v.map((x) => x / (1 - b2 ** (t + 1)));
      w = w.map((wi, j) => wi - (lr * mh[j]) / (Math.sqrt(vh[j]) + eps));
      want.push(w);
    });
    close(run(adam({ lr }), g), want);
  });

  it('rmsprop', () => {
    const [rho, eps, lr] = [0.9, 1e-7, 0.01];
    let v = [0, 0];
    let w = [1, -2];
    const want: number[][] = [];
    for (const gi of g) {
      v = v.map((vi, j) => rho * vi + (1 - rho) * gi[j] ** 2);
      w = w.map((wi, j) => wi - (lr * gi[j]) / (Math.sqrt(v[j]) + eps));
      want.push(w);
    }
    close(run(rmsprop({ lr }), g), want);
  });

  it('decoupled decay multiplies by (1 − λ) and is not part of the returned step', () => {
    const opt = sgd({ lr: 0.1, decoupledDecay: 0.1 }).create();
    const w = tf.variable(tf.tensor1d([1, -2]));
    const applied = opt.apply({ w }, { w: tf.tensor1d([1, 1]) });
    close([Array.from(w.dataSync())], [[0.9 * 1 - 0.1, 0.9 * -2 - 0.1]]);
    expect(Array.from(applied.w.dataSync()).map((x) => +x.toFixed(6))).toEqual([-0.1, -0.1]);
    expect(opt.decoupledDecay).toBe(0.1);
  });

  it('clipNorm rescales the global gradient norm', () => {
    const opt = sgd({ lr: 1, clipNorm: 1 }).create();
    const a = tf.variable(tf.tensor1d([0]));
    const b = tf.variable(tf.tensor1d([0]));
    opt.apply({ a, b }, { a: tf.tensor1d([3]), b: tf.tensor1d([4]) });
    expect(a.dataSync()[0]).toBeCloseTo(-0.6, 6);
    expect(b.dataSync()[0]).toBeCloseTo(-0.8, 6);
  });

  it('schedules', () => {
    expect(scheduledLr(1, { type: 'step', every: 10, gamma: 0.5 }, 25)).toBe(0.25);
    expect(scheduledLr(1, { type: 'cosine', totalSteps: 100 }, 50)).toBeCloseTo(0.5, 10);
    expect(scheduledLr(1, { type: 'cosine', totalSteps: 100, minFactor: 0.1 }, 100)).toBeCloseTo(0.1, 10);
  });

  it('slots and step count round-trip (a resumed Adam continues exactly)', () => {
    const spec = adam({ lr: 0.01 });
    const a = spec.create();
    const w = tf.variable(tf.tensor1d([1, 2]));
    a.apply({ w }, { w: tf.tensor1d([0.3, -0.1]) });
    const b = spec.create();
    b.loadSlots(a.slots());
    b.setMeta(a.getMeta());
    const w2 = tf.variable(w.clone());
    a.apply({ w }, { w: tf.tensor1d([0.2, 0.2]) });
    b.apply({ w: w2 }, { w: tf.tensor1d([0.2, 0.2]) });
    expect(Array.from(w2.dataSync())).toEqual(Array.from(w.dataSync()));
  });

  it('a saved step count must be an integer ≥ 0; loading slots twice and disposing leaves no tensor behind', () => {
    const a = adam({ lr: 0.01 }).create();
    for (const steps of [-1e9, 0.5, '3', Infinity]) expect(() => a.setMeta({ steps } as never), String(steps)).toThrow(/saved steps must be an integer/);
    a.setMeta({ steps: 7 });
    expect(a.getMeta()).toEqual({ steps: 7 });
    const w = tf.variable(tf.tensor1d([1, 2]));
    const g = tf.tensor1d([0.3, -0.1]);
    a.apply({ w }, { w: g });
    const before = tf.memory().numTensors;
    const b = adam({ lr: 0.01 }).create();
    b.loadSlots(a.slots()); // created from copies
    b.loadSlots(a.slots()); // assigned in place
    expect(tf.memory().numTensors).toBe(before + 2);
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    tf.dispose([w, g]);
  });

  it("adam runs a backend's fused BiopropAdamStep kernel when registered, with the tf-op path's attrs and results", () => {
    // a stand-in fused kernel on cpu: the tf-op formulas in float32, recording what core passed
    const seen: Record<string, number>[] = [];
    const f = Math.fround;
    tf.registerKernel({
      kernelName: ADAM_STEP_KERNEL,
      backendName: 'cpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const a = attrs as unknown as Record<string, number>;
        seen.push({ ...a });
        const cpu = backend as unknown as { readSync(id: unknown): Float32Array; makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo };
        const [w, g, m, v] = (['w', 'g', 'm', 'v'] as const).map((k) => cpu.readSync((inputs[k] as tf.TensorInfo).dataId));
        const outs = [0, 1, 2, 3].map(() => new Float32Array(w.length));
        for (let i = 0; i < w.length; i++) {
          const nm = f(f(f(a.beta1) * m[i]) + f(f(1 - a.beta1) * g[i]));
          const nv = f(f(f(a.beta2) * v[i]) + f(f(1 - a.beta2) * f(g[i] * g[i])));
          const step = f(f(-a.lr / a.c1) * f(nm / f(f(Math.sqrt(f(nv / f(a.c2)))) + f(a.epsilon))));
          outs[0][i] = f(f(f(1 - a.decay) * w[i]) + step);
          [outs[1][i], outs[2][i], outs[3][i]] = [nm, nv, step];
        }
        const shape = (inputs.w as tf.TensorInfo).shape;
        return outs.map((o) => cpu.makeTensorInfo(shape, 'float32', o));
      },
    });
    const options = { lr: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, decoupledDecay: 0.1, clipNorm: 1, schedule: { type: 'step' as const, every: 1, gamma: 0.5 } };
    const runAdam = () => {
      const opt = adam(options).create();
      const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
      const steps: number[][] = [];
      for (const g of [[0.5, 1, -3], [0.25, -1, 0]]) {
        const applied = tf.tidy(() => opt.apply({ w }, { w: tf.tensor1d(g) }));
        steps.push(Array.from(applied.w.dataSync()));
        applied.w.dispose();
      }
      const out = { w: Array.from(w.dataSync()), m: Array.from(opt.slots()['m/w'].dataSync()), steps };
      opt.dispose();
      w.dispose();
      return out;
    };
    let fused;
    try {
      fused = runAdam();
    } finally {
      tf.unregisterKernel(ADAM_STEP_KERNEL, 'cpu');
    }
    const ops = runAdam();
    // inPlace: core assigns the outputs back to w, m and v, so a backend may overwrite those
    expect(seen).toEqual([
      { lr: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, c1: 1 - 0.8, c2: 1 - 0.99, decay: 0.1, inPlace: true },
      { lr: 0.005, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, c1: 1 - 0.8 ** 2, c2: 1 - 0.99 ** 2, decay: 0.1, inPlace: true },
    ]);
    expect(fused).toEqual(ops);
  });

  it("sgd and momentum run a backend's fused BiopropSgdStep kernel when registered, with the tf-op path's attrs and results", () => {
    // a stand-in fused kernel on cpu: the tf-op formulas in float32, recording what core passed
    const seen: Record<string, unknown>[] = [];
    const f = Math.fround;
    tf.registerKernel({
      kernelName: SGD_STEP_KERNEL,
      backendName: 'cpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const a = attrs as unknown as { lr: number; momentum: number; nesterov: boolean; decay: number };
        seen.push({ ...a, inputs: Object.keys(inputs).sort() });
        const cpu = backend as unknown as { readSync(id: unknown): Float32Array; makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo };
        const read = (k: string) => (inputs[k] ? cpu.readSync((inputs[k] as tf.TensorInfo).dataId) : null);
        const [w, g, v] = [read('w')!, read('g')!, read('v')];
        const outW = new Float32Array(w.length);
        const outV = new Float32Array(w.length);
        const outStep = new Float32Array(w.length);
        for (let i = 0; i < w.length; i++) {
          let d = g[i];
          if (v) {
            outV[i] = f(f(f(a.momentum) * v[i]) + g[i]);
            d = a.nesterov ? f(g[i] + f(f(a.momentum) * outV[i])) : outV[i];
          }
          outStep[i] = f(f(-a.lr) * d);
          outW[i] = f((a.decay ? f(f(1 - a.decay) * w[i]) : w[i]) + outStep[i]);
        }
        const shape = (inputs.w as tf.TensorInfo).shape;
        return (v ? [outW, outV, outStep] : [outW, outStep]).map((o) => cpu.makeTensorInfo(shape, 'float32', o));
      },
    });
    const specs = [
      sgd({ lr: 0.1, decoupledDecay: 0.05, clipNorm: 1 }),
      momentum({ lr: 0.03, momentum: 0.9 }),
      momentum({ lr: 0.02, momentum: 0.7, nesterov: true, weightDecay: 0.01, schedule: { type: 'step', every: 1, gamma: 0.5 } }),
    ];
    const runAll = () =>
      specs.map((spec) => {
        const opt = spec.create();
        const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
        const steps: number[][] = [];
        for (const g of [[0.5, 1, -3], [0.25, -1, 0]]) {
          const applied = tf.tidy(() => opt.apply({ w }, { w: tf.tensor1d(g) }));
          steps.push(Array.from(applied.w.dataSync()));
          applied.w.dispose();
        }
        const out = { w: Array.from(w.dataSync()), slots: Object.values(opt.slots()).map((t) => Array.from(t.dataSync())), steps };
        opt.dispose();
        w.dispose();
        return out;
      });
    let fused;
    try {
      fused = runAll();
    } finally {
      tf.unregisterKernel(SGD_STEP_KERNEL, 'cpu');
    }
    const ops = runAll();
    expect(seen).toEqual([
      { lr: 0.1, momentum: 0.9, nesterov: false, decay: 0.05, inPlace: true, inputs: ['g', 'w'] },
      { lr: 0.1, momentum: 0.9, nesterov: false, decay: 0.05, inPlace: true, inputs: ['g', 'w'] },
      { lr: 0.03, momentum: 0.9, nesterov: false, decay: 0, inPlace: true, inputs: ['g', 'v', 'w'] },
      { lr: 0.03, momentum: 0.9, nesterov: false, decay: 0, inPlace: true, inputs: ['g', 'v', 'w'] },
      { lr: 0.02, momentum: 0.7, nesterov: true, decay: 0, inPlace: true, inputs: ['g', 'v', 'w'] },
      { lr: 0.01, momentum: 0.7, nesterov: true, decay: 0, inPlace: true, inputs: ['g', 'v', 'w'] },
    ]);
    expect(fused).toEqual(ops);
  });

  it('bad options are clear errors', () => {
    expect(() => sgd({ lr: -1 })).toThrow(OptionError);
    expect(() => sgd({ lr: NaN })).toThrow(/lr must be a finite number/);
    expect(() => momentum({ lr: 0.1, momentum: 2 })).toThrow(/momentum must be in \[0, 1\]/);
    expect(() => resolveOptimizer({ name: 'lion', lr: 0.1 })).toThrow(/unknown optimizer "lion"/);
  });
});
