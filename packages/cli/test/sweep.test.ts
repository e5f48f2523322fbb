import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_DIR, onlyFolder, readTrials, runCli, startCli, tempDir } from './helpers.js';

const EXAMPLE = resolve(CLI_DIR, '..', '..', 'experiments', 'sweeps', 'fa-feedback-scale.yaml');

interface StoreLine {
  key: string;
  overrides: Record<string, unknown>;
  seed: number;
  status: 'ok' | 'failed';
  metrics: { testError: number | null; bestValidationError: number | null; trainLoss: number | null; seconds: number };
  error?: string;
  started: string;
  finished: string;
  runFolder: string | null;
}

const store = (folder: string): StoreLine[] => readTrials<StoreLine>(folder);

/** Every folder under `dir` (relative paths, sorted). */
const folders = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();

/** The same canonical JSON the sweep hashes: object keys sorted at every level. */
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

const BASE = `name: tiny
data: { name: digits, limitTrain: 300, limitTest: 100 }
arch: 784-16-10
rule: bp
optimizer: { name: sgd, lr: 0.1 }
loss: mse
epochs: 1
backend: wasm
metrics: { angles: false }
`;

describe('bioprop sweep', () => {
  it('runs the example grid (2 feedback scales × 2 learning rates × 2 seeds) in child processes, two at once; --resume runs nothing new; the report matches the store', async () => {
    const cwd = tempDir();
    const r = await runCli(['sweep', EXAMPLE, '--max-steps', '2', '--workers', '2', '--runs-dir', 'runs'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const folder = onlyFolder(join(cwd, 'runs'));
    expect(folder).toMatch(/fa-feedback-scale-\d{8}T\d{6}Z$/);
    const sweep = JSON.parse(readFileSync(join(folder, 'sweep.json'), 'utf8'));
    expect(sweep.trials).toHaveLength(2 * 2 * 2);
    expect(sweep.maxSteps).toBe(2);

    const lines = store(folder);
    expect(lines).toHaveLength(8);
    expect(new Set(lines.map((l) => l.key))).toEqual(new Set(sweep.trials.map((t: { key: string }) => t.key)));
    const combos = new Set(lines.map((l) => JSON.stringify([l.overrides, l.seed])));
    expect(combos.size).toBe(8);
    for (const l of lines) {
      expect(l.status).toBe('ok');
      expect(Object.keys(l.overrides).sort()).toEqual(['optimizer.lr', 'rule.options.feedbackInit']);
      expect([1, 2]).toContain(l.seed);
      for (const m of [l.metrics.testError, l.metrics.bestValidationError, l.metrics.trainLoss, l.metrics.seconds]) expect(Number.isFinite(m)).toBe(true);
      // each trial ran as `bioprop run` in its own run folder, with its overrides, its one seed and the step limit
      const trial = JSON.parse(readFileSync(join(folder, 'trials', l.key, 'trial.json'), 'utf8'));
      expect(createHash('sha256').update(canonical(trial)).digest('hex').startsWith(l.key)).toBe(true);
      expect(trial).toMatchObject({ seeds: [l.seed], maxSteps: 2, optimizer: { lr: l.overrides['optimizer.lr'] }, rules: [{ id: 'fa', options: { feedbackInit: l.overrides['rule.options.feedbackInit'] } }] });
      expect(trial.data).toMatchObject({ limitTrain: 1000, limitTest: 300, validation: 100 });
      const results = JSON.parse(readFileSync(join(folder, l.runFolder!, 'results.json'), 'utf8'));
      expect(results.complete).toBe(true);
      expect(results.runs[0].testError).toBe(l.metrics.testError);
    }
    // with two workers, some two trials ran at the same time
    const spans = lines.map((l) => [Date.parse(l.started), Date.parse(l.finished)]);
    const overlapped = spans.some(([s1, f1], i) => spans.some(([s2, f2], j) => i !== j && s1 < f2 && s2 < f1));
    expect(overlapped).toBe(true);
    // and never more than two
    const maxAtOnce = Math.max(...spans.map(([s]) => spans.filter(([s2, f2]) => s2 <= s && s < f2).length));
    expect(maxAtOnce).toBeLessThanOrEqual(2);

    const before = folders(folder);
    const again = await runCli(['sweep', '--resume', folder, '--workers', '2'], cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/8 of 8 trials already done/);
    expect(store(folder)).toHaveLength(8);
    expect(folders(folder)).toEqual(before);

    const rep = await runCli(['sweep', 'report', folder, '--out', 'report.md'], cwd);
    expect(rep.code, rep.stderr).toBe(0);
    const md = readFileSync(join(cwd, 'report.md'), 'utf8');
    const rows = md
      .split('\n')
      .filter((l) => /^\| \{"uniform"/.test(l))
      .slice(0, 4)
      .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    expect(rows).toHaveLength(4);
    const means: number[] = [];
    for (const [init, lr, mean, std, seeds, failed] of rows) {
      const errs = lines.filter((l) => JSON.stringify(l.overrides['rule.options.feedbackInit']) === init && String(l.overrides['optimizer.lr']) === lr).map((l) => l.metrics.testError!);
      expect(errs).toHaveLength(2);
      const m = (errs[0] + errs[1]) / 2;
      expect(mean).toBe((m * 100).toFixed(2));
      expect(std).toBe((Math.abs(errs[0] - errs[1]) / Math.SQRT2 * 100).toFixed(2));
      expect([seeds, failed]).toEqual(['2', '0']);
      means.push(m);
    }
    // best first
    expect(means).toEqual([...means].sort((a, b) => a - b));
    expect(md).toMatch(/### optimizer\.lr/);
    // an existing report is kept unless --force
    const refused = await runCli(['sweep', 'report', folder, '--out', 'report.md'], cwd);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/exists.*--force/);
    expect((await runCli(['sweep', 'report', folder, '--out', 'report.md', '--force'], cwd)).code).toBe(0);
  }, 120_000);

  it('Ctrl-C stops launching and keeps the store; --resume finishes without repeating a stored trial, records a diverging trial as failed (exit 1), and a second --resume reruns only that one', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'base.yaml'), BASE);
    writeFileSync(join(cwd, 'three.yaml'), 'name: three\nexperiment: base.yaml\ngrid:\n  optimizer.lr: [0.1, 1.0e+30, 0.02]\nseeds: [3]\n');
    const { child, done } = startCli(['sweep', 'three.yaml', '--workers', '1', '--max-steps', '6'], cwd);
    // interrupt once the first trial is stored (an event, not a time)
    const storeFile = () => {
      const runs = join(cwd, 'runs');
      const [name] = existsSync(runs) ? readdirSync(runs) : [];
      return name ? join(runs, name, 'trials.jsonl') : null;
    };
    while (!(storeFile() && existsSync(storeFile()!))) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/sweep --resume/);
    const folder = onlyFolder(join(cwd, 'runs'));
    const stored = store(folder);
    expect(stored.length).toBeGreaterThanOrEqual(1);
    expect(stored.length).toBeLessThan(3);
    expect(stored[0]).toMatchObject({ overrides: { 'optimizer.lr': 0.1 }, status: 'ok' });

    const again = await runCli(['sweep', '--resume', folder, '--workers', '1'], cwd);
    expect(again.code, again.stderr).toBe(1);
    const after = store(folder);
    expect(after).toHaveLength(3);
    expect(after.slice(0, stored.length)).toEqual(stored);
    expect(new Set(after.map((l) => l.key)).size).toBe(3);
    expect(after.map((l) => [l.overrides['optimizer.lr'], l.status]).sort()).toEqual([
      [0.02, 'ok'],
      [0.1, 'ok'],
      [1e30, 'failed'],
    ]);
    const failed = after.find((l) => l.status === 'failed')!;
    expect(failed.error).toMatch(/diverged/);
    expect(failed.metrics.testError).toBeNull();

    const third = await runCli(['sweep', '--resume', folder], cwd);
    expect(third.code).toBe(1);
    const last = store(folder);
    expect(last).toHaveLength(4);
    expect(last[3]).toMatchObject({ key: failed.key, status: 'failed' });
  }, 90_000);

  it('successive halving: every trial trains 1 epoch, the best third by validation error trains on to 3 in its own run folder; --resume runs nothing new', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'base.yaml'), BASE.replace('limitTrain: 300', 'limitTrain: 250, validation: 50').replace('loss: mse\n', '').replace('epochs: 1', 'epochs: 3'));
    writeFileSync(join(cwd, 'asha.yaml'), 'name: asha\nexperiment: base.yaml\ngrid:\n  optimizer.lr: [0.003, 0.03, 0.3]\nseeds: [5]\nhalving: { minEpochs: 1, factor: 3 }\n');
    const r = await runCli(['sweep', 'asha.yaml', '--workers', '2'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rungs of 1, 3 epochs/);
    const folder = onlyFolder(join(cwd, 'runs'));
    const lines = store(folder) as (StoreLine & { rung: number; epochs: number })[];
    expect(lines.map((l) => [l.rung, l.epochs])).toEqual([[0, 1], [0, 1], [0, 1], [1, 3]]);
    const first = lines.slice(0, 3);
    const best = [...first].sort((a, b) => a.metrics.bestValidationError! - b.metrics.bestValidationError!)[0];
    expect(lines[3].key).toBe(best.key);
    expect(lines[3].runFolder).toBe(best.runFolder);
    const results = JSON.parse(readFileSync(join(folder, lines[3].runFolder!, 'results.json'), 'utf8'));
    expect(results.runs[0].history).toHaveLength(3);
    expect(results.runs[0].testError).toBe(lines[3].metrics.testError);

    const again = await runCli(['sweep', '--resume', folder], cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(store(folder)).toHaveLength(4);
    const rep = await runCli(['sweep', 'report', folder], cwd);
    // the promoted combination first, with the epochs it reached
    const firstRow = rep.stdout.split('\n').find((l) => /^\| 0\.\d/.test(l))!;
    expect(firstRow.split('|').map((c) => c.trim())[1]).toBe(String(best.overrides['optimizer.lr']));
    expect(firstRow.trim().endsWith('| 3 |')).toBe(true);
  }, 90_000);

  it('seeds added to a sweep folder\'s spec: --resume runs only the new seeds and the folder\'s trial list (what the report counts) follows', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'base.yaml'), BASE);
    writeFileSync(join(cwd, 's.yaml'), 'name: s\nexperiment: base.yaml\ngrid:\n  optimizer.lr: [0.1, 0.05]\nseeds: [1]\n');
    const first = await runCli(['sweep', 's.yaml', '--workers', '2'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const folder = onlyFolder(join(cwd, 'runs'));
    const sweepFile = join(folder, 'sweep.json');
    const spec = JSON.parse(readFileSync(sweepFile, 'utf8'));
    spec.spec.seeds = [1, 2];
    writeFileSync(sweepFile, JSON.stringify(spec));
    const resumed = await runCli(['sweep', '--resume', folder, '--workers', '2'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/2 trial key\(s\) differ/);
    expect(resumed.stderr).toMatch(/2 trial\(s\) ran \(0 failed\), 2 already done/);
    const trials = JSON.parse(readFileSync(sweepFile, 'utf8')).trials as { seed: number }[];
    expect(trials.map((t) => t.seed).sort()).toEqual([1, 1, 2, 2]);
    const report = await runCli(['sweep', 'report', folder], cwd);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/4 trials: 4 ok, 0 failed, 0 not run/);
  }, 60_000);

  it('refuses a bad value in one grid cell, and unknown keys, before anything runs (exit 2)', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'base.yaml'), BASE);
    writeFileSync(join(cwd, 'bad.yaml'), 'name: bad\nexperiment: base.yaml\ngrid:\n  batchSize: [16, -4]\n');
    const bad = await runCli(['sweep', 'bad.yaml'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/trial batchSize=-4 seed 0: experiment\.batchSize must be an integer ≥ 1/);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);

    writeFileSync(join(cwd, 'typo.yaml'), 'name: typo\nexperiment: base.yaml\nrandom: { samples: 2, space: { lr: { logUniform: [0.001, 0.1] } }, sead: 1 }\n');
    const typo = await runCli(['sweep', 'typo.yaml'], cwd);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/typo\.yaml\.random: unknown option "sead"/);

    writeFileSync(join(cwd, 'opt.yaml'), 'name: opt\nexperiment: base.yaml\ngrid:\n  rule: [{ id: fa, options: { feedbackInit: nonsense } }]\n');
    const opt = await runCli(['sweep', 'opt.yaml'], cwd);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/feedbackInit/);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
  }, 60_000);
});
