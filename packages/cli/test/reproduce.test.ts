/**
 * `bioprop reproduce` on a tiny setting of its own (digits, one rule, two seeds): a run once committed is never
 * repeated, a reproduction split over two invocations commits every run, and the setting's curves plot every
 * committed run, not only the last invocation's.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCurvesSvg } from '../src/plot.js';
import type { RunResult } from '../src/run.js';
import { runCli, tempDir } from './helpers.js';

const SETTING = (seeds: number[]) => `name: tiny
description: a tiny setting for the reproduce command's tests
data: { name: digits, limitTrain: 300, limitTest: 100 }
arch: 784-16-10
rules: [bp]
optimizer: { name: sgd, lr: 0.1 }
epochs: 1
seeds: [${seeds.join(', ')}]
backend: wasm
published:
  source: none (a test)
  values: { bp: 10 }
`;

describe('bioprop reproduce', () => {
  it('split over two invocations: each commits its runs, none repeats a committed one, and the curves show every committed run', async () => {
    const cwd = tempDir();
    for (const [dir, seeds] of [['first', [1]], ['all', [1, 2]]] as const) {
      mkdirSync(join(cwd, dir));
      writeFileSync(join(cwd, dir, 'tiny.yaml'), SETTING([...seeds]));
    }
    const first = await runCli(['reproduce', 'tiny', '--dir', 'first', '--docs', 'docs', '--runs-dir', 'work1'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const runs = join(cwd, 'docs', 'runs', 'tiny');
    const seed1 = readFileSync(join(runs, 'bp-seed1.json'), 'utf8');

    const all = await runCli(['reproduce', 'tiny', '--dir', 'all', '--docs', 'docs', '--runs-dir', 'work2'], cwd);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toMatch(/1 run\(s\) to go/);
    expect(readFileSync(join(runs, 'bp-seed1.json'), 'utf8')).toBe(seed1);
    const committed = [1, 2].map((s) => JSON.parse(readFileSync(join(runs, `bp-seed${s}.json`), 'utf8')) as RunResult);
    expect(committed.map((r) => r.seed)).toEqual([1, 2]);
    // the plot of both seeds, not of seed 2 alone (what this invocation ran)
    const svg = readFileSync(join(runs, 'curves.svg'), 'utf8');
    expect(svg).toBe(await renderCurvesSvg(committed, { title: 'tiny' }));
    expect(svg).not.toBe(await renderCurvesSvg([committed[1]], { title: 'tiny' }));
    expect(readFileSync(join(cwd, 'docs', 'reproductions.md'), 'utf8')).toMatch(/tiny/);

    const again = await runCli(['reproduce', 'tiny', '--dir', 'all', '--docs', 'docs', '--runs-dir', 'work2'], cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/every run is committed; nothing to do/);
  }, 120_000);

  it('refuses to count a committed run that the setting no longer describes, and runs it again once it is removed', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'set'));
    writeFileSync(join(cwd, 'set', 'tiny.yaml'), SETTING([1]));
    expect((await runCli(['reproduce', 'tiny', '--dir', 'set', '--docs', 'docs', '--runs-dir', 'work'], cwd)).code).toBe(0);
    const file = join(cwd, 'docs', 'runs', 'tiny', 'bp-seed1.json');
    const before = readFileSync(file, 'utf8');

    // the rule's own optimizer and batch size now differ from what the committed run trained with
    writeFileSync(join(cwd, 'set', 'tiny.yaml'), SETTING([1]).replace('rules: [bp]', 'rules: [{ id: bp, optimizer: { name: adam, lr: 0.001 }, batchSize: 50 }]'));
    const stale = await runCli(['reproduce', 'tiny', '--dir', 'set', '--docs', 'docs', '--runs-dir', 'work2'], cwd);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/tiny: 1 committed run\(s\) trained with settings .*tiny\.yaml no longer gives: bp seed 1 \(batch size: 128 → 50; optimizer: sgd lr 0\.1 → adam lr 0\.001\)/);
    expect(stale.stderr).toMatch(/Remove them from .*docs[/\\]runs[/\\]tiny/);
    expect(readFileSync(file, 'utf8')).toBe(before);

    rmSync(file);
    const rerun = await runCli(['reproduce', 'tiny', '--dir', 'set', '--docs', 'docs', '--runs-dir', 'work2'], cwd);
    expect(rerun.code, rerun.stderr).toBe(0);
    const run = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
    expect([run.optimizer, run.batchSize]).toEqual([{ name: 'adam', lr: 0.001 }, 50]);
    expect(readFileSync(join(cwd, 'docs', 'reproductions.md'), 'utf8')).toMatch(/optimizer adam lr 0\.001; batch 50;/);
  }, 120_000);
});
