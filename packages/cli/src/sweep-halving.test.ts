import { describe, expect, it } from 'vitest';
import { parseSweep, promotable, type TrialRecord } from './sweep.js';

const record = (key: string, arch: string, error: number): TrialRecord => ({
  key,
  overrides: { arch, scale: 1 },
  seed: 1,
  status: 'ok',
  metrics: { testError: error, bestValidationError: error, trainLoss: null, seconds: 1 },
  started: '',
  finished: '',
  runFolder: `trials/${key}`,
  rung: 0,
  epochs: 1,
});
const score = (r: TrialRecord) => r.metrics.bestValidationError ?? Infinity;

describe('successive halving: what a rung promotes', () => {
  // three MLP trials all better than the three LeNet ones
  const done = [record('m1', 'mlp', 0.2), record('m2', 'mlp', 0.1), record('m3', 'mlp', 0.3), record('l1', 'lenet', 0.5), record('l2', 'lenet', 0.4), record('l3', 'lenet', 0.6)];

  it('without groups, the best ⌊n/factor⌋ of the rung, best first', () => {
    expect(promotable(done, 3, score, []).map((r) => r.key)).toEqual(['m2', 'm1']);
    expect(promotable(done, 2, score, []).map((r) => r.key)).toEqual(['m2', 'm1', 'm3']);
  });

  it('grouped by arch, each architecture keeps its own best ⌊n/factor⌋', () => {
    expect(promotable(done, 3, score, ['arch']).map((r) => r.key)).toEqual(['m2', 'l2']);
    // a group of fewer than factor finished trials promotes nothing yet
    expect(promotable(done.slice(0, 4), 3, score, ['arch']).map((r) => r.key)).toEqual(['m2']);
  });

  it('groupBy is a list of swept keys (default none)', () => {
    const base = { name: 's', experiment: 'e.yaml', halving: { minEpochs: 1 } };
    expect(parseSweep(base).halving?.groupBy).toEqual([]);
    expect(parseSweep({ ...base, halving: { minEpochs: 1, groupBy: ['arch'] } }).halving?.groupBy).toEqual(['arch']);
    expect(() => parseSweep({ ...base, halving: { minEpochs: 1, groupBy: 'arch' } })).toThrow(/groupBy/);
  });
});
