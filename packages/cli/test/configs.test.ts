/**
 * Every shipped experiment file smoke-runs: a few steps of every rule it names, on a small slice of its data (CIFAR-10,
 * which cannot be downloaded here, from generated files in its binary format).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CLI_DIR, runCli, tempDir } from './helpers.js';

const EXPERIMENTS = resolve(CLI_DIR, '..', '..', 'experiments');
const files = [
  ...readdirSync(join(EXPERIMENTS, 'reproductions')).map((f) => join(EXPERIMENTS, 'reproductions', f)),
  ...readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.yaml')).map((f) => join(EXPERIMENTS, f)),
].filter((f) => f.endsWith('.yaml'));

/** CIFAR-10 in its binary format: 3,073 bytes a record (label, then 32×32 planes of R, G, B); n records per file. */
function fakeCifar(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  const names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  names.forEach((name, f) => {
    const b = Buffer.alloc(n * 3073);
    for (let r = 0; r < n; r++) {
      b[r * 3073] = (r + f) % 10;
      for (let i = 1; i < 3073; i++) b[r * 3073 + i] = (r * 31 + i * 7 + f) % 256;
    }
    writeFileSync(join(dir, name), b);
  });
}

describe('shipped experiment files', () => {
  it('are all here, and the schema published beside them is the one bioprop schema prints', async () => {
    expect(files.length).toBeGreaterThanOrEqual(13);
    const printed = await runCli(['schema'], tempDir());
    expect(printed.code, printed.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(EXPERIMENTS, 'experiment.schema.json'), 'utf8'))).toEqual(JSON.parse(printed.stdout));
  });

  it.each(files.map((f) => [f.slice(EXPERIMENTS.length + 1), f]))('%s smoke-runs every rule for a few steps', async (_, file) => {
    const doc = parse(readFileSync(file, 'utf8'));
    const cwd = tempDir();
    // small batches and slices: a smoke run checks that every rule builds, steps, evaluates and probes on the network
    const sets = ['seeds=[1]', 'epochs=1', 'batchSize=8', 'data.limitTest=16', 'metrics.everySteps=1'];
    if (doc.data.name !== 'linear') sets.push('data.limitTrain=64');
    if (doc.data.validation) sets.push('data.validation=16');
    // locally connected layers have no native kernel: one step and no probes keep their smoke run to a minute
    const lc = /-lc\.yaml$/.test(file);
    if (lc) sets.push('metrics.angles=false');
    if (doc.data.name === 'cifar10') {
      fakeCifar(join(cwd, 'cifar'), 20);
      sets.push(`data.dir=${join(cwd, 'cifar')}`);
    }
    const r = await runCli(['run', file, '--max-steps', lc ? '1' : '2', '--out', 'r.json', ...sets.flatMap((s) => ['--set', s])], cwd);
    const res = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8'));
    expect(res.complete).toBe(true);
    // a run may diverge (FA through 100 tanh layers: the setting's point), which exits 1; anything else is a defect
    for (const f of res.failures) expect(f.error).toMatch(/^training diverged/);
    expect(r.code, r.stderr).toBe(res.failures.length ? 1 : 0);
    expect(res.runs.length + res.failures.length).toBe(doc.rules?.length ?? 1);
    for (const run of res.runs) {
      expect(run.history.length).toBeGreaterThan(0);
      expect(Number.isFinite(run.history[0].testLoss)).toBe(true);
    }
  }, 600_000);
});
