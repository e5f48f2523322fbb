import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, type CliRun } from './helpers.js';

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

const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

describe('Ctrl-C and --resume', () => {
  it('an interrupted run saves a checkpoint and resumes to the same bits as an uninterrupted run', async () => {
    const cwd = tempDir();
    const straight = startCli(['train', ...RUN, '--checkpoint', 'straight', '--out', 'straight.json'], cwd);

    // started as `node <path>/bin.js` (no package manager around it)
    const cut = startCli(['train', ...RUN, '--checkpoint', 'cut'], cwd, { env: { npm_config_user_agent: '' } });
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
    expect(interrupted.stderr).toMatch(/checkpoint saved to cut/);
    expect(existsSync(join(cwd, 'cut', 'manifest.json'))).toBe(true);
    const position = manifest(join(cwd, 'cut')).trainer.position;
    expect(position.epoch).toBeLessThan(12);
    expect(position.epoch * 30 + position.batch).toBeGreaterThan(30);

    // the printed command continues the run where the user is
    const hint = /continue with: (.+)$/m.exec(interrupted.stderr)?.[1];
    expect(hint).toMatch(/^node \S+\/dist\/bin\.js train --resume cut$/);
    const resumed = await runShell(`${hint} --out resumed.json`, cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    // the backend comes back from the checkpoint too (auto would say "auto: …")
    expect(resumed.stderr).toMatch(/backend: wasm \(asked for wasm\b/);
    const full = await straight.done;
    expect(full.code, full.stderr).toBe(0);

    // every tensor (weights, rule state, optimizer slots) hashes the same, and so do the random streams
    const a = manifest(join(cwd, 'cut'));
    const b = manifest(join(cwd, 'straight'));
    expect(a.trainer.position).toEqual(b.trainer.position);
    expect(a.sha256).toBe(b.sha256);
    expect(a.trainer.random).toEqual(b.trainer.random);
    const ra = JSON.parse(readFileSync(join(cwd, 'resumed.json'), 'utf8'));
    const rb = JSON.parse(readFileSync(join(cwd, 'straight.json'), 'utf8'));
    expect(ra.testAccuracy).toBe(rb.testAccuracy);
    expect(ra.history.map((h: { trainLoss: number }) => h.trainLoss)).toEqual(rb.history.map((h: { trainLoss: number }) => h.trainLoss));
    expect(ra.history.map((h: { testAccuracy: number }) => h.testAccuracy)).toEqual(rb.history.map((h: { testAccuracy: number }) => h.testAccuracy));
  });

  it('--resume refuses to change the run options, exit 2', async () => {
    const cwd = tempDir();
    const first = await runCli(['train', ...RUN, '--epochs', '1', '--limit-train', '100', '--checkpoint', 'ck'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const r = await runCli(['train', '--resume', 'ck', '--lr', '0.1'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--lr cannot change/);
    // --epochs may grow: the run continues from its last epoch
    const more = await runCli(['train', '--resume', 'ck', '--epochs', '2', '--out', 'more.json'], cwd);
    expect(more.code, more.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(cwd, 'more.json'), 'utf8'));
    expect(res.history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);
    expect(res.samples).toBe(200);
  });
});
