/**
 * `bioprop sweep report` on a store written here with known numbers: the heatmap's best values (a tie, a cell whose
 * trials all failed, a cell never run), the transfer losses and Spearman's ρ, computed by hand below.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeSweep, spearman } from '../src/sweep-report.js';
import { runCli, tempDir } from './helpers.js';

type Config = 'c1' | 'c2' | 'c3' | 'c4';
/** c1 = none × 0.1, c2 = none × 1, c3 = self × 0.1, c4 = self × 1 (the grid's order). */
const CONFIGS: Record<Config, { primitives: string; scale: number }> = {
  c1: { primitives: 'none', scale: 0.1 },
  c2: { primitives: 'none', scale: 1 },
  c3: { primitives: 'self', scale: 0.1 },
  c4: { primitives: 'self', scale: 1 },
};
const ARCHS = ['A', 'B', 'C', 'D'] as const;
/**
 * Mean test accuracy per configuration and architecture; 'failed': both seeds failed; absent: never run.
 *   A: .90 .80 .70 .60    B: .50 .70 .60 .40    C: ✗ ✗ .80 .80 (a tie)    D: only c4, .50
 */
const ACCURACY: Record<(typeof ARCHS)[number], Partial<Record<Config, number | 'failed'>>> = {
  A: { c1: 0.9, c2: 0.8, c3: 0.7, c4: 0.6 },
  B: { c1: 0.5, c2: 0.7, c3: 0.6, c4: 0.4 },
  C: { c1: 'failed', c2: 'failed', c3: 0.8, c4: 0.8 },
  D: { c4: 0.5 },
};

/** A sweep folder: sweep.json lists every trial (2 seeds each), trials.jsonl the ones that ran (seed errors mean ± 0.01). */
function syntheticSweep(): string {
  const folder = join(tempDir('bioprop-sweep-report-'), 'kunin-synthetic');
  mkdirSync(folder, { recursive: true });
  const trials: { key: string; overrides: Record<string, unknown>; seed: number }[] = [];
  const lines: string[] = [];
  for (const c of Object.keys(CONFIGS) as Config[]) {
    for (const arch of ARCHS) {
      for (const seed of [1, 2]) {
        const overrides = { ...CONFIGS[c], arch };
        const key = `${c}${arch}${seed}`.padEnd(16, '0');
        trials.push({ key, overrides, seed });
        const acc = ACCURACY[arch][c];
        if (acc === undefined) continue;
        const error = acc === 'failed' ? null : 1 - acc + (seed === 1 ? -0.01 : 0.01);
        lines.push(
          JSON.stringify({
            key,
            overrides,
            seed,
            status: acc === 'failed' ? 'failed' : 'ok',
            metrics: { testError: error, bestValidationError: error, trainLoss: 0.5, seconds: 1 },
            ...(acc === 'failed' ? { error: 'training diverged: loss is NaN' } : {}),
            started: '2026-01-01T00:00:00.000Z',
            finished: '2026-01-01T00:00:01.000Z',
            runFolder: null,
          }),
        );
      }
    }
  }
  const sweep = {
    kind: 'bioprop-sweep',
    spec: { name: 'kunin-synthetic', experiment: 'base.yaml', set: {}, grid: {}, random: null, seeds: [1, 2], halving: null },
    source: { sweep: 'synthetic.yaml', experiment: 'base.yaml' },
    document: { name: 'base' },
    maxSteps: null,
    created: '2026-01-01T00:00:00.000Z',
    trials,
  };
  writeFileSync(join(folder, 'sweep.json'), JSON.stringify(sweep));
  writeFileSync(join(folder, 'trials.jsonl'), `${lines.join('\n')}\n`);
  return folder;
}

const tableRows = (md: string, heading: string) => {
  const at = md.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of md.slice(at).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    if (line.startsWith('| ') && !line.startsWith('| ---')) rows.push(line.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, '').trim()));
  }
  return rows;
};

describe('Spearman rank correlation', () => {
  it('matches hand-computed values, ties sharing ranks', () => {
    // ranks 4 3 2 1 vs 2 4 3 1: Σd² = 6, ρ = 1 − 6·6 / (4·15) = 0.4
    expect(spearman([0.9, 0.8, 0.7, 0.6], [0.5, 0.7, 0.6, 0.4])).toBeCloseTo(0.4, 12);
    // ranks 2.5 2.5 1 vs 1 3 2: centred (0.5, 0.5, −1)·(−1, 1, 0) = 0
    expect(spearman([0.9, 0.9, 0.7], [0.6, 0.8, 0.7])).toBeCloseTo(0, 12);
    expect(spearman([1, 2, 3], [10, 20, 30])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // undefined: one pair, or a constant side
    expect(spearman([1], [2])).toBeNull();
    expect(spearman([0.7, 0.6], [0.8, 0.8])).toBeNull();
  });
});

describe('bioprop sweep report: heatmap and transfer', () => {
  it('finds primitives × arch by default; best per cell (ties to the earlier combination), failed and unrun cells empty', () => {
    const a = analyzeSweep(syntheticSweep());
    const h = a.heatmap!;
    expect([h.rows, h.columns]).toEqual(['primitives', 'arch']);
    expect(h.rowLabels).toEqual(['none', 'self']);
    expect(h.columnLabels).toEqual(['A', 'B', 'C', 'D']);
    const shown = h.cells.map((row) => row.map((c) => (c ? [Number((c.accuracy * 100).toFixed(6)), c.settings.scale, c.ties] : null)));
    expect(shown).toEqual([
      [[90, 0.1, 0], [70, 1, 0], null, null],
      [[70, 0.1, 0], [60, 0.1, 0], [80, 0.1, 1], [50, 1, 0]],
    ]);
    // none × C: both configurations' two seeds failed; none × D never ran
    expect(h.failed).toEqual([
      [0, 0, 4, 0],
      [0, 0, 0, 0],
    ]);
    expect(h.cells[0][0]!.seeds).toBe(2);
    expect(h.cells[0][0]!.std).toBeCloseTo(0.01 * Math.SQRT2, 12);
  });

  it('transfer: the best configuration on A run on B, its loss against B\'s best, per row, and ρ over the configurations finished on both', () => {
    const t = analyzeSweep(syntheticSweep()).transfer!;
    expect(t.pairs).toHaveLength(12);
    const pair = (from: string, to: string) => t.pairs.find((p) => p.from === from && p.to === to)!;
    // A's best is c1 (90): 50 on B, whose best is c2 (70): 20 points; within none the same 20, within self c3 (70 on
    // A) is B's best of self (60): 0; mean 10
    const ab = pair('A', 'B');
    expect(ab.best).toEqual({ primitives: 'none', scale: 0.1 });
    expect(ab.fromAccuracy! * 100).toBeCloseTo(90, 9);
    expect(ab.toAccuracy! * 100).toBeCloseTo(50, 9);
    expect(ab.toBest! * 100).toBeCloseTo(70, 9);
    expect(ab.loss! * 100).toBeCloseTo(20, 9);
    expect(ab.rowLosses.map((l) => l! * 100)).toEqual([expect.closeTo(20, 9), expect.closeTo(0, 9)]);
    expect(ab.rho).toBeCloseTo(0.4, 12);
    expect(ab.compared).toBe(4);
    // B's best c2 (70) gets 80 on A (best 90): 10; per row none 10, self 0
    const ba = pair('B', 'A');
    expect(ba.loss! * 100).toBeCloseTo(10, 9);
    expect(ba.rowLosses.map((l) => l! * 100)).toEqual([expect.closeTo(10, 9), expect.closeTo(0, 9)]);
    expect(ba.rho).toBeCloseTo(0.4, 12);
    // A's best never finished on C: no loss; ρ over c3, c4, constant on C: none
    const ac = pair('A', 'C');
    expect([ac.toAccuracy, ac.loss, ac.rho, ac.compared]).toEqual([null, null, null, 2]);
    expect(ac.toBest! * 100).toBeCloseTo(80, 9);
    expect(ac.rowLosses[0]).toBeNull();
    // within self, A's best c3 is also C's best (80): no loss
    expect(ac.rowLosses[1]! * 100).toBeCloseTo(0, 9);
    // C's best is the tie c3 = c4 (80): c3, earlier in the sweep, gets 70 on A: 20 points
    const ca = pair('C', 'A');
    expect(ca.best).toEqual({ primitives: 'self', scale: 0.1 });
    expect(ca.loss! * 100).toBeCloseTo(20, 9);
    // D ran only c4 (50): on A 60 against 90
    const da = pair('D', 'A');
    expect(da.best).toEqual({ primitives: 'self', scale: 1 });
    expect(da.loss! * 100).toBeCloseTo(30, 9);
    expect([da.rho, da.compared]).toEqual([null, 1]);
  });

  it('the command: markdown tables, the SVG heatmap in the sweep folder, --rows/--columns, --out refused without --force, unknown keys named', async () => {
    const folder = syntheticSweep();
    const cwd = tempDir();
    const r = await runCli(['sweep', 'report', folder, '--out', 'report.md'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(cwd, 'report.md'), 'utf8');
    expect(tableRows(md, '## Best test accuracy: primitives × arch')).toEqual([
      ['primitives \\ arch', 'A', 'B', 'C', 'D'],
      ['none', '90.00 (scale=0.1)', '70.00 (scale=1)', '– (4 failed)', '–'],
      ['self', '70.00 (scale=0.1)', '60.00 (scale=0.1)', '80.00† (scale=0.1)', '50.00 (scale=1)'],
    ]);
    const transfer = tableRows(md, '## Transfer across arch');
    expect(transfer[0]).toEqual(['pair (A → B)', 'best on A', 'on A (%)', 'on B (%)', "B's best (%)", 'loss (points)', 'mean loss per primitives (points)', 'Spearman ρ', 'configurations']);
    expect(transfer.find((row) => row[0] === 'A → B')).toEqual(['A → B', 'primitives=none scale=0.1', '90.00', '50.00', '70.00', '20.00', '10.00 (2/2)', '0.40', '4']);
    expect(transfer.find((row) => row[0] === 'A → C')).toEqual(['A → C', 'primitives=none scale=0.1', '90.00', '–', '80.00', '–', '0.00 (1/2)', '–', '2']);
    const perRow = tableRows(md, '### Loss per primitives (points)');
    expect(perRow[1].slice(0, 3)).toEqual(['none', '20.00', '–']);
    // sensitivity to the scale: best and median test error, and the best per architecture
    const scale = tableRows(md, '### scale');
    expect(scale[0]).toEqual(['value', 'best test error (%)', 'median (%)', 'combinations', 'best, A', 'best, B', 'best, C', 'best, D']);
    expect(scale[1]).toEqual(['0.1', '10.00', '30.00', '5/6', '10.00', '40.00', '20.00', '–']);
    const svg = readFileSync(join(folder, 'heatmap-primitives-by-arch.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['90.00', '80.00†', 'failed', 'none', 'self']) expect(svg).toContain(`>${label}<`);

    const refused = await runCli(['sweep', 'report', folder, '--out', 'report.md'], cwd);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/exists.*--force/);
    const swapped = await runCli(['sweep', 'report', folder, '--rows', 'scale', '--columns', 'arch', '--out', 'report.md', '--force', '--no-plot'], cwd);
    expect(swapped.code, swapped.stderr).toBe(0);
    expect(tableRows(readFileSync(join(cwd, 'report.md'), 'utf8'), '## Best test accuracy: scale × arch')[1]).toEqual(['0.1', '90.00 (primitives=none)', '60.00 (primitives=self)', '80.00 (primitives=self)', '–']);
    expect(existsSync(join(folder, 'heatmap-scale-by-arch.svg'))).toBe(false);
    const unknown = await runCli(['sweep', 'report', folder, '--columns', 'depth'], cwd);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--columns depth: the sweep has no such key \(its keys: primitives, scale, arch\)/);
  }, 60_000);
});
