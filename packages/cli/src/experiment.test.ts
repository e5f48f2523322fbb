import { describe, expect, it } from 'vitest';
import { applySet, parseExperiment, ruleIds } from './experiment.js';
import { formatStats, seedStats } from './stats.js';

const base = () => ({ name: 'x', data: { name: 'digits' }, rule: 'fa', epochs: 2 });

describe('experiment files', () => {
  it('fill every default and keep what is given', () => {
    const e = parseExperiment(base());
    expect(e).toMatchObject({
      name: 'x',
      data: { name: 'digits', dir: null, limitTrain: null, limitTest: null, validation: 0, normalize: 'auto' },
      arch: null,
      rules: [{ id: 'fa' }],
      plugins: [],
      optimizer: null,
      lr: null,
      sameOptimizer: false,
      loss: 'auto',
      epochs: 2,
      batchSize: null,
      seeds: [0],
      backend: 'auto',
      maxSteps: null,
      metrics: { angles: true, alignment: false, everySteps: 10 },
      published: null,
      deviations: [],
    });
  });

  it('reject rule and rules together, duplicate labels, and unknown keys at any depth', () => {
    expect(() => parseExperiment({ ...base(), rules: ['bp'] })).toThrow(/give rule or rules, not both/);
    expect(() => parseExperiment({ ...base(), rule: undefined, rules: ['bp', { id: 'bp' }] })).toThrow(/"bp" appears twice/);
    expect(() => parseExperiment({ ...base(), optimizer: { name: 'adam', lr: 1, betta1: 0.9 } })).toThrow(/experiment\.optimizer: unknown option "betta1"/);
    expect(() => parseExperiment({ ...base(), epochs: 0 })).toThrow(/experiment\.epochs must be an integer ≥ 1/);
    expect(() => parseExperiment({ ...base(), arch: '784-x-10' })).toThrow(/experiment\.arch/);
  });

  it('per-layer compositions need a label and list their rule ids', () => {
    const e = parseExperiment({ ...base(), rule: { perLayer: ['dtp', 'dtp', { id: 'bp' }], label: 'dtp-bp' } });
    expect(ruleIds(e.rules[0])).toEqual(['dtp', 'dtp', 'bp']);
    expect(() => parseExperiment({ ...base(), rule: { perLayer: ['dtp'] } })).toThrow(/label is required/);
    const m = parseExperiment({ ...base(), rule: { perLayer: { default: 'fa', layers: { 2: 'bp' } }, label: 'fa-top-bp' } });
    expect(ruleIds(m.rules[0])).toEqual(['fa', 'bp']);
  });

  it('--set takes JSON values (strings otherwise), grows objects and a rule id into { id }, and refuses prototype keys', () => {
    const doc: Record<string, unknown> = base();
    applySet(doc, 'rule.options.feedbackInit=glorot');
    applySet(doc, 'optimizer={"name":"adam","lr":0.001}');
    applySet(doc, 'optimizer.lr=3e-4');
    applySet(doc, 'seeds=[1,2,3]');
    applySet(doc, 'seeds.1=5');
    applySet(doc, 'data.limitTrain=1000');
    expect(doc).toMatchObject({ rule: { id: 'fa', options: { feedbackInit: 'glorot' } }, optimizer: { name: 'adam', lr: 3e-4 }, seeds: [1, 5, 3], data: { limitTrain: 1000 } });
    expect(parseExperiment(doc).optimizer).toEqual({ name: 'adam', lr: 3e-4 });
    expect(() => applySet(doc, 'constructor.prototype.x=1')).toThrow(/not a settings path/);
    expect(() => applySet(doc, 'epochs')).toThrow(/path=value/);
    expect(() => applySet(doc, 'epochs.x=1')).toThrow(/epochs is 2, not an object/);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('seed statistics', () => {
  it('one seed has no spread; several have the sample standard deviation', () => {
    expect(seedStats([0.1])).toEqual({ n: 1, mean: 0.1, std: null, values: [0.1] });
    const s = seedStats([0.1, 0.2, 0.3])!;
    expect(s.mean).toBeCloseTo(0.2, 15);
    expect(s.std).toBeCloseTo(0.1, 15);
    expect(formatStats(seedStats([0.0956]), { percent: true })).toBe('9.56%');
    expect(formatStats(s, { percent: true })).toBe('20.00 ± 10.00%');
    expect(seedStats([NaN])).toBeNull();
  });
});
