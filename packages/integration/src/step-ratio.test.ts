import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { archNetwork, interleavedOrder, median, parseArch, parseRuleSpecs, parseStepRatioArgs, splitTopLevel, summarize } from './step-ratio.js';

beforeAll(async () => {
  await tf.setBackend('cpu'); // a network config's output size is read off a built network
});

describe('the step-ratio command line', () => {
  it('reads rules with options in brackets, key=value or JSON', () => {
    expect(parseRuleSpecs('fa, lra-fdbk(k=10,derivative=above),aa({"feedbackSamples":128})')).toEqual([
      { id: 'fa', options: {}, label: 'fa' },
      { id: 'lra-fdbk', options: { k: 10, derivative: 'above' }, label: 'lra-fdbk(k=10,derivative=above)' },
      { id: 'aa', options: { feedbackSamples: 128 }, label: 'aa({"feedbackSamples":128})' },
    ]);
    expect(() => parseRuleSpecs('fa(k)')).toThrow(/not key=value/);
  });

  it('splits at top-level commas only', () => {
    expect(splitTopLevel('a,b(x=1,y=[1,2]),{"c":{"d":1,"e":2}}')).toEqual(['a', 'b(x=1,y=[1,2])', '{"c":{"d":1,"e":2}}']);
  });

  it('reads archs: widths, presets, network configs; refuses anything else naming the presets', () => {
    expect(parseArch('784-256-256-10')).toEqual({ kind: 'widths', label: '784-256-256-10', widths: [784, 256, 256, 10] });
    expect(parseArch('lenet5')).toEqual({ kind: 'preset', label: 'lenet5', name: 'lenet5' });
    const lc = parseArch('{"name":"lc","inputShape":[8,8,1],"layers":[{"kind":"locallyConnected2d","filters":2,"kernelSize":3,"strides":2},{"kind":"dense","units":5}]}');
    expect(lc).toMatchObject({ kind: 'config', label: 'lc', inputShape: [8, 8, 1] });
    expect(archNetwork(lc)).toMatchObject({ inputShape: [8, 8, 1], classes: 5 });
    expect(archNetwork(parseArch('784-32-10'))).toMatchObject({ inputShape: [784], classes: 10 });
    expect(archNetwork(parseArch('lenet5'))).toMatchObject({ inputShape: [28, 28, 1], classes: 10 });
    expect(() => parseArch('lenet6')).toThrow(/neither widths .* nor a preset \(.*lenet5/);
    expect(() => parseArch('{"inputShape":[4],"layers":[{"kind":"dense","unit":3}]}')).toThrow(/unknown key "unit"/);
  });

  it('fills the defaults and checks every value', () => {
    const o = parseStepRatioArgs(['--rules', 'bp,fa', '--arch', '784-256-256-10,nokland-7x240', '--backend', 'wasm,blas', '--repeats', '5']);
    expect(o.rules.map((r) => r.id)).toEqual(['fa']); // backprop is always the reference
    expect(o.archs.map((a) => a.label)).toEqual(['784-256-256-10', 'nokland-7x240']);
    expect(o).toMatchObject({ backends: ['wasm', 'blas'], batchSize: 128, repeats: 5, warmup: 10, optimizer: { name: 'momentum', lr: 0.01, momentum: 0.9 }, frozen: false, data: 'auto' });
    expect(parseStepRatioArgs(['--rules=dfa', '--optimizer', 'adam']).optimizer).toEqual({ name: 'adam', lr: 1e-3 });
    expect(parseStepRatioArgs(['--rules', 'dfa', '--optimizer', 'sgd', '--lr', '0.1', '--frozen']).optimizer).toEqual({ name: 'sgd', lr: 0.1 });
    expect(parseStepRatioArgs(['--rules', 'sa', '--optimizer', 'tuned']).optimizer).toBe('tuned');
    expect(() => parseStepRatioArgs([])).toThrow(/--rules is required/);
    expect(() => parseStepRatioArgs(['--rules', 'fa', '--round', '3'])).toThrow(/unknown flag --round/);
    expect(() => parseStepRatioArgs(['--rules', 'fa', '--backend', 'gpu'])).toThrow(/unknown "gpu"/);
    expect(() => parseStepRatioArgs(['--rules', 'fa', '--batch-size', '0'])).toThrow(/--batch-size must be an integer ≥ 1/);
    expect(() => parseStepRatioArgs(['--rules', 'fa', '--optimizer', 'lion'])).toThrow(/unknown optimizer "lion"/);
  });
});

describe('the interleaved measurement', () => {
  it('flips the order every round', () => {
    expect(interleavedOrder(0, 3)).toEqual([0, 1, 2]);
    expect(interleavedOrder(1, 3)).toEqual([2, 1, 0]);
  });

  it('takes medians of per-round ratios, and the ratio of the fastest steps', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    // round 2 is slow for both (load): per-round ratios stay 2
    const [bp, rule] = summarize([
      [10, 30, 10],
      [20, 60, 20],
    ]);
    expect(bp).toEqual({ medianMs: 10, minMs: 10, medianRatio: 1, minRatio: 1 });
    expect(rule).toEqual({ medianMs: 20, minMs: 20, medianRatio: 2, minRatio: 2 });
  });
});
