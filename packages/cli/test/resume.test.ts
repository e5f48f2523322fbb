import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onlyFolder, runCli, startCli, tempDir, type CliRun } from './helpers.js';

/** Enough steps that a Ctrl-C sent after the first progress line of epoch 2 lands well before the end. */
const RUN = ['--rule', 'bp', '--dataset', 'digits', '--arch', '784-64-10', '--limit-train', '600', '--limit-test', '200', '--epochs', '12', '--batch-size', '20', '--seed', '5', '--backend', 'wasm'];

/** Run a command line through the shell, as a user pastes it. */
function runShell(line: string, cwd: string): Promise<CliRun> {
  const child = spawn('sh', ['-c', line], { cwd, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

/** The one run folder under a runs directory. */
const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const results = (folder: string) => JSON.parse(readFileSync(join(folder, 'results.json'), 'utf8'));

describe('Ctrl-C and --resume', () => {
  it('an interrupted run keeps its folder and resumes there to the same bits as an uninterrupted run', async () => {
    const cwd = tempDir();
    const straight = startCli(['train', ...RUN, '--runs-dir', 'straight'], cwd);

    // started as `node <path>/bin.js` (no package manager around it)
    const cut = startCli(['train', ...RUN, '--runs-dir', 'cut'], cwd, { env: { npm_config_user_agent: '' } });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (/epoch 2\/12 batch/.test(cut.stderrSoFar())) {
          clearInterval(timer);
          cut.child.kill('SIGINT');
          resolve();
        }
      }, 20);
      cut.done.then(() => {
        clearInterval(timer);
        reject(new Error('the run ended before it could be interrupted'));
      }, reject);
    });
    const interrupted = await cut.done;
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const folder = onlyFolder(join(cwd, 'cut'));
    expect(interrupted.stderr).toContain(`checkpoint saved in ${join('cut', folder.split('/').pop()!)}`);
    const ck = join(folder, 'checkpoints', 'bp-seed5');
    const position = manifest(ck).trainer.position;
    expect(position.epoch).toBeLessThan(12);
    expect(position.epoch * 30 + position.batch).toBeGreaterThan(30);
    // the folder already says what ran and where
    for (const f of ['experiment.json', 'environment.json', 'metrics.jsonl']) expect(existsSync(join(folder, f)), f).toBe(true);

    // the printed command continues the run in its own folder
    const hint = /continue with: (.+)$/m.exec(interrupted.stderr)?.[1];
    expect(hint).toMatch(/^node \S+\/dist\/bin\.js train --resume cut\/bp-digits-\d{8}T\d{6}Z$/);
    const resumed = await runShell(hint!, cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/backend: wasm \(asked for wasm\b/);
    expect(readdirSync(join(cwd, 'cut'))).toHaveLength(1);
    expect(readdirSync(folder).filter((f) => f.startsWith('environment-resumed-'))).toHaveLength(1);
    const full = await straight.done;
    expect(full.code, full.stderr).toBe(0);

    // every tensor (weights, rule state, optimizer slots) hashes the same, and so do the random streams
    const other = onlyFolder(join(cwd, 'straight'));
    const a = manifest(ck);
    const b = manifest(join(other, 'checkpoints', 'bp-seed5'));
    expect(a.trainer.position).toEqual(b.trainer.position);
    expect(a.sha256).toBe(b.sha256);
    expect(a.trainer.random).toEqual(b.trainer.random);
    const ra = results(folder).runs[0];
    const rb = results(other).runs[0];
    expect(ra.testAccuracy).toBe(rb.testAccuracy);
    expect(ra.history.map((h: { trainLoss: number }) => h.trainLoss)).toEqual(rb.history.map((h: { trainLoss: number }) => h.trainLoss));
    expect(ra.history.map((h: { testAccuracy: number }) => h.testAccuracy)).toEqual(rb.history.map((h: { testAccuracy: number }) => h.testAccuracy));
    // the step metrics of the resumed run continue where the cut one stopped, without gaps
    const steps = readFileSync(join(folder, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'epoch')
      .map((l) => l.epoch);
    expect(steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('--resume refuses to change the run options (exit 2); --epochs may grow, in the same folder', async () => {
    const cwd = tempDir();
    const first = await runCli(['train', ...RUN, '--epochs', '1', '--limit-train', '100'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const folder = onlyFolder(join(cwd, 'runs'));
    const r = await runCli(['train', '--resume', folder, '--lr', '0.1'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--lr cannot change/);
    // a checkpoint inside the folder names the same run
    const more = await runCli(['train', '--resume', join(folder, 'checkpoints', 'bp-seed5'), '--epochs', '2', '--out', 'more.json'], cwd);
    expect(more.code, more.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(cwd, 'more.json'), 'utf8'));
    expect(res.history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);
    expect(res.samples).toBe(200);
    expect(results(folder).runs[0].epochs).toBe(2);
    expect(JSON.parse(readFileSync(join(folder, 'experiment.json'), 'utf8')).epochs).toBe(2);
    expect(readdirSync(join(cwd, 'runs'))).toHaveLength(1);
  });
});
