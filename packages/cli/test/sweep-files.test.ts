/**
 * Every shipped sweep file (experiments/sweeps/*.yaml with an `experiment`) smoke-runs: all of its trials expand and
 * pass the checks `bioprop run` makes, and its first and last trials (other stages, architectures, rules) run a few
 * steps through `bioprop sweep`, from a sweep file cut down to exactly those two points.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@bioprop/core';
import { loadRules } from '../src/rules.js';
import { checkExperiment } from '../src/session.js';
import type { Grid, GridAxis } from '../src/sweep-grid.js';
import { canonicalJson, expandTrials, parseSweep, readSweep, type SweepSpec, type Trial } from '../src/sweep.js';
import { CLI_DIR, runCli, tempDir } from './helpers.js';

const SWEEPS = resolve(CLI_DIR, '..', '..', 'experiments', 'sweeps');
const sweepFiles = readdirSync(SWEEPS)
  .filter((f) => f.endsWith('.yaml') && 'experiment' in (parse(readFileSync(join(SWEEPS, f), 'utf8')) ?? {}))
  .sort();

const same = (a: JsonValue | undefined, b: JsonValue) => a !== undefined && canonicalJson(a) === canonicalJson(b);

/** The one-point grid of `grid` that gives these overrides, or null when the trial came from another grid. */
function pointGrid(grid: Grid, overrides: Record<string, JsonValue>): Grid | null {
  if (Object.keys(grid).sort().join() !== Object.keys(overrides).sort().join()) return null;
  const out: Grid = {};
  for (const [name, axis] of Object.entries(grid) as [string, GridAxis][]) {
    const v = overrides[name];
    if (Array.isArray(axis)) {
      if (!axis.some((x) => same(x, v))) return null;
      out[name] = [v];
    } else if ('variants' in axis) {
      if (typeof v !== 'string' || !Object.hasOwn(axis.variants, v)) return null;
      out[name] = { variants: { [v]: axis.variants[v] } };
    } else {
      if (typeof v !== 'number' || !axis.by.includes(v)) return null;
      out[name] = { multiply: axis.multiply, by: [v] };
    }
  }
  return out;
}

/** A sweep of exactly these trials: per trial, the one-point grid it came from, at its seed. */
function cutDown(spec: SweepSpec, trials: Trial[], experiment: string) {
  const grids = Array.isArray(spec.grid) ? spec.grid : [spec.grid];
  const grid = trials.map((t) => {
    const g = grids.map((x) => pointGrid(x, t.overrides)).find((x) => x !== null);
    expect(g, `a grid of ${spec.name} gives ${JSON.stringify(t.overrides)}`).toBeTruthy();
    // a point's own seeds give way to the trial's (doc.seeds is set per trial either way)
    return { ...g!, seeds: [[t.seed]] };
  });
  const { random: _r, seeds: _s, ...rest } = spec;
  return { ...rest, experiment, grid };
}

describe('shipped sweep files', () => {
  it('are here: the Kunin matrix and the rule packages\' sweeps', () => {
    expect(sweepFiles).toEqual(expect.arrayContaining(['kunin-matrix.yaml', 'fa-lr.yaml', 'dfa-lr.yaml', 'lra.yaml', 'tp.yaml', 'learned-feedback.yaml']));
  });

  it('kunin-matrix: 32 subsets × 4 scales × 4 architectures × 3 seeds, the empty subset once per architecture and seed; coefficients scaled from 2e-3', () => {
    const { spec, document } = readSweep(join(SWEEPS, 'kunin-matrix.yaml'));
    const trials = expandTrials(spec, document, null);
    expect(trials).toHaveLength((31 * 4 + 1) * 4 * 3);
    const labels = new Set(trials.map((t) => t.overrides.primitives));
    expect(labels.size).toBe(32);
    const all = trials.find((t) => t.overrides.primitives === 'decay+amp+null+sparse+self' && t.overrides.scale === 0.3 && t.overrides.arch === 'lenet5')!;
    expect(all.experiment.arch).toBe('lenet5');
    expect(all.experiment.rules).toEqual([
      {
        id: 'lf',
        options: { terms: ['decay', 'amp', 'null', 'sparse', 'self'].map((primitive) => ({ primitive, coefficient: 6e-4 })) },
      },
    ]);
    const none = trials.filter((t) => t.overrides.primitives === 'none');
    expect(none.map((t) => t.overrides.scale)).toEqual(Array(12).fill(0.1));
    expect(none[0].experiment.rules).toEqual([{ id: 'lf', options: { terms: [] } }]);
  });

  it.each(sweepFiles)('%s: every trial checks out, and its first and last trials run a few steps', async (file) => {
    const { spec, document, experimentFile } = readSweep(join(SWEEPS, file));
    const trials = expandTrials(spec, document, null);
    expect(trials.length).toBeGreaterThan(0);
    const registry = await loadRules();
    const cwd = tempDir();
    for (const t of trials) await checkExperiment(t.experiment, registry, { runsDir: join(cwd, 'runs'), force: false });

    const pick = [trials[0], trials[trials.length - 1]];
    const small = cutDown(spec, pick, experimentFile);
    // the cut-down sweep is exactly those two trials
    expect(expandTrials(parseSweep(small), document, null).map((t) => t.key)).toEqual(pick.map((t) => t.key));
    writeFileSync(join(cwd, 'small.json'), JSON.stringify(small));
    const r = await runCli(['sweep', 'small.json', '--max-steps', '2', '--workers', '2', '--runs-dir', 'runs'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const [folder] = readdirSync(join(cwd, 'runs'));
    const lines = readFileSync(join(cwd, 'runs', folder, 'trials.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.status)).toEqual(['ok', 'ok']);
    for (const l of lines) expect(Number.isFinite(l.metrics.testError)).toBe(true);
  }, 300_000);
});
