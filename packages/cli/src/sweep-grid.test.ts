import { describe, expect, it } from 'vitest';
import { applyPoint, gridPoints, gridSchema } from './sweep-grid.js';
import { expandTrials, parseSweep } from './sweep.js';

const parse = (v: unknown) => gridSchema.parse(v, 'grid');

const BASE = {
  name: 'base',
  data: { name: 'digits', limitTrain: 100, limitTest: 50 },
  arch: '784-16-10',
  rule: { id: 'sa', options: { self: 2e-3, decay: 2e-3 } },
  epochs: 1,
};

describe('sweep grids', () => {
  it('a grid of value lists is their product, the first axis outermost (as before)', () => {
    const points = gridPoints(parse({ a: [1, 2], b: ['x', 'y'] }));
    expect(points.map((p) => p.overrides)).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    expect(points[1].sets).toEqual([
      ['a', 1],
      ['b', 'y'],
    ]);
  });

  it('variants record their label and set every path of the variant; factors multiply the numbers at their paths after every value is set', () => {
    const grid = parse({
      scale: { multiply: 'rule.options.terms.*.coefficient', by: [0.1, 3] },
      primitives: {
        variants: {
          none: { 'rule.options.terms': [] },
          'amp+decay': { 'rule.options.terms': [{ primitive: 'amp', coefficient: 2e-3 }, { primitive: 'decay', coefficient: 2e-3 }], optimizer: { name: 'sgd', lr: 0.1 } },
        },
      },
    });
    const points = gridPoints(grid);
    expect(points.map((p) => p.overrides)).toEqual([
      { scale: 0.1, primitives: 'none' },
      { scale: 0.1, primitives: 'amp+decay' },
      { scale: 3, primitives: 'none' },
      { scale: 3, primitives: 'amp+decay' },
    ]);
    const doc: Record<string, unknown> = structuredClone(BASE);
    applyPoint(doc, points[3]);
    // 2e-3 × 3 written as 0.006, not 0.006000000000000001
    expect(doc.rule).toEqual({ id: 'sa', options: { self: 2e-3, decay: 2e-3, terms: [{ primitive: 'amp', coefficient: 0.006 }, { primitive: 'decay', coefficient: 0.006 }] } });
    expect(doc.optimizer).toEqual({ name: 'sgd', lr: 0.1 });
    // an empty list matches nothing: the point is the variant as written
    const none: Record<string, unknown> = structuredClone(BASE);
    applyPoint(none, points[0]);
    expect((none.rule as { options: { terms: unknown[] } }).options.terms).toEqual([]);
  });

  it('a list of grids is their union, one grid after another', () => {
    const points = gridPoints(parse([{ rule: ['bp'], lr: [0.1, 0.2] }, { rule: ['fa'], init: ['glorot', 'zero'], lr: [0.1] }]));
    expect(points.map((p) => p.overrides)).toEqual([
      { rule: 'bp', lr: 0.1 },
      { rule: 'bp', lr: 0.2 },
      { rule: 'fa', init: 'glorot', lr: 0.1 },
      { rule: 'fa', init: 'zero', lr: 0.1 },
    ]);
  });

  it('refuses malformed axes with the path at fault', () => {
    expect(() => parse({ a: [] })).toThrow(/grid\.a must be a non-empty array/);
    expect(() => parse({ v: { variants: {} } })).toThrow(/grid\.v\.variants must be a non-empty object/);
    expect(() => parse({ v: { variants: { '1': {} } } })).toThrow(/"1" is not a label/);
    expect(() => parse({ v: { variants: { ok: { 'a..b': 1 } } } })).toThrow(/"a\.\.b" is not a settings path/);
    expect(() => parse({ s: { multiply: 'a.*', by: [] } })).toThrow(/grid\.s\.by must be a non-empty array of numbers/);
    expect(() => parse({ s: { multiply: 'a', by: [1], extra: 1 } })).toThrow(/unknown option "extra"/);
    expect(() => parse({ s: { factor: 2 } })).toThrow(/must be a list of values, \{ variants/);
    expect(() => parse([])).toThrow(/at least one grid/);
    expect(() => parse({ '__proto__.x': [1] })).toThrow(/not a settings path/);
  });

  it('expandTrials: one trial per point and seed, identical experiments once, a factor on a missing or non-numeric setting is a usage error naming the trial', () => {
    const spec = parseSweep({
      name: 's',
      experiment: 'base.yaml',
      grid: {
        arch: ['784-16-10', '784-8-10'],
        primitives: { variants: { none: { 'rule.id': 'lf', 'rule.options': { terms: [] } }, self: { 'rule.id': 'lf', 'rule.options': { terms: [{ primitive: 'self', coefficient: 2e-3 }] } } } },
        scale: { multiply: 'rule.options.terms.*.coefficient', by: [1, 3] },
      },
      seeds: [1, 2],
    });
    const trials = expandTrials(spec, structuredClone(BASE), null);
    // none × 2 scales is one experiment: 2 archs × (1 + 2) combinations × 2 seeds
    expect(trials).toHaveLength(12);
    const selfAt3 = trials.find((t) => t.overrides.primitives === 'self' && t.overrides.scale === 3 && t.seed === 2)!;
    expect(selfAt3.experiment.rules).toEqual([{ id: 'lf', options: { terms: [{ primitive: 'self', coefficient: 0.006 }] } }]);
    expect(selfAt3.overrides).toEqual({ arch: '784-16-10', primitives: 'self', scale: 3 });

    // without the sweep's seeds, a point may set the experiment's own: a stage over more seeds
    const staged = parseSweep({ name: 'st', experiment: 'base.yaml', grid: [{ stage: { variants: { coarse: {} } }, lr: [0.1, 0.2] }, { stage: { variants: { refine: { seeds: [8, 9] } } }, lr: [0.2] }] });
    const stagedTrials = expandTrials(staged, { ...structuredClone(BASE), seeds: [7] }, null);
    expect(stagedTrials.map((t) => [t.overrides.stage, t.overrides.lr, t.seed])).toEqual([
      ['coarse', 0.1, 7],
      ['coarse', 0.2, 7],
      ['refine', 0.2, 8],
      ['refine', 0.2, 9],
    ]);
    expect(stagedTrials[3].experiment.seeds).toEqual([9]);
    const badSeeds = parseSweep({ name: 'bs', experiment: 'base.yaml', grid: { seeds: [[-1]] } });
    expect(() => expandTrials(badSeeds, structuredClone(BASE), null)).toThrow(/trial seeds=\[-1\]: experiment\.seeds must be a non-empty list of integers/);

    const bad = parseSweep({ name: 'b', experiment: 'base.yaml', grid: { s: { multiply: 'rule.options.missing', by: [2] } } });
    expect(() => expandTrials(bad, structuredClone(BASE), null)).toThrow(/trial s=2 seed 0: experiment: multiply rule\.options\.missing: rule\.options\.missing is not set/);
    const notNumber = parseSweep({ name: 'b', experiment: 'base.yaml', grid: { s: { multiply: 'rule.id', by: [2] } } });
    expect(() => expandTrials(notNumber, structuredClone(BASE), null)).toThrow(/rule\.id is "sa", not a number/);
  });
});
