import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlyFolder, readTrials, runCli, startCli, tempDir } from './helpers.js';

interface StoreLine {
  key: string;
  overrides: Record<string, unknown>;
  seed: number;
  status: 'ok' | 'failed';
  metrics: { testError: number | null; bestValidationError: number | null; trainLoss: number | null; seconds: number };
  runFolder: string | null;
  worker?: { id: string; runFolder: string | null };
}

const store = (folder: string): StoreLine[] => readTrials<StoreLine>(folder);

/** Debian's redis-server (CI installs it; under CI=true its absence fails the suite). */
const REDIS_SERVER = ['/usr/bin/redis-server', ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'redis-server'))].find((p) => p && existsSync(p));
const CI = !!process.env.CI && process.env.CI !== 'false';

const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });

const accepts = (port: number) =>
  new Promise<boolean>((res) => {
    const c = createConnection({ port, host: '127.0.0.1' }, () => {
      c.destroy();
      res(true);
    });
    c.on('error', () => res(false));
  });

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The processes a process started (Linux), so a killed worker's trial dies with it, as on a machine that fails. */
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

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
const SWEEP = 'name: q\nexperiment: base.yaml\ngrid:\n  optimizer.lr: [0.1, 0.05]\nseeds: [1, 2]\n';

describe('bioprop sweep --queue / bioprop worker (BullMQ on a local redis-server)', () => {
  it('refuses a malformed URL (exit 2), an unreachable Redis (exit 1, within seconds) and --workers with --queue (exit 2), all naming what is wrong', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'q.yaml'), SWEEP);
    writeFileSync(join(cwd, 'base.yaml'), BASE);
    const closed = await freePort();
    const t0 = Date.now();
    const [bad, worker, unreachable, workers] = await Promise.all([
      runCli(['sweep', 'q.yaml', '--queue', 'http://127.0.0.1:6379'], cwd),
      runCli(['worker', '--queue', 'redis://127.0.0.1:6379/x'], cwd),
      runCli(['sweep', 'q.yaml', '--queue', `redis://127.0.0.1:${closed}`], cwd),
      runCli(['sweep', 'q.yaml', '--queue', `redis://127.0.0.1:${closed}`, '--workers', '2'], cwd),
    ]);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toMatch(/--queue "http:\/\/127\.0\.0\.1:6379": the scheme must be redis: or rediss:/);
    expect(worker.code, worker.stderr).toBe(2);
    expect(worker.stderr).toMatch(/--queue "redis:\/\/127\.0\.0\.1:6379\/x": the path must be a database number/);
    expect(unreachable.code, unreachable.stderr).toBe(1);
    expect(unreachable.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${closed}/0: connect ECONNREFUSED`);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(workers.code, workers.stderr).toBe(2);
    expect(workers.stderr).toMatch(/--workers .*--queue/);
    // nothing was started anywhere
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
  }, 30_000);

  describe.skipIf(!REDIS_SERVER && !CI)('with redis-server', () => {
    let redis: ChildProcess | null = null;
    let port = 0;
    const started: ChildProcess[] = [];

    beforeAll(async () => {
      if (!REDIS_SERVER) throw new Error('CI is set and redis-server is not installed (apt-get install redis-server)');
      port = await freePort();
      const dir = tempDir('bioprop-redis-');
      redis = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      await until(`redis-server on port ${port}`, () => accepts(port), 10_000);
    }, 15_000);

    afterAll(async () => {
      for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      redis?.kill('SIGTERM');
    });

    it('two workers run a sweep; one is killed mid-trial (SIGKILL) and the other takes its stalled job; one stored result per trial, each equal bit for bit to a local sweep; --resume enqueues nothing', async () => {
      const t0 = Date.now();
      const cwd = tempDir();
      writeFileSync(join(cwd, 'base.yaml'), BASE);
      writeFileSync(join(cwd, 'q.yaml'), SWEEP);
      const url = `redis://127.0.0.1:${port}`;
      // a 2 s lock: a dead worker's job is noticed within a few seconds (the default is 30 s)
      const worker = (dir: string) => {
        mkdirSync(join(cwd, dir));
        const w = startCli(['worker', '--queue', url, '--runs-dir', dir, '--lock-duration', '2000'], cwd);
        started.push(w.child);
        return w;
      };
      const a = worker('wa');
      const b = worker('wb');
      const local = runCli(['sweep', 'q.yaml', '--max-steps', '4', '--workers', '2', '--runs-dir', 'local'], cwd);
      const coordinator = startCli(['sweep', 'q.yaml', '--max-steps', '4', '--queue', url, '--runs-dir', 'queued'], cwd);
      started.push(coordinator.child);

      // kill worker A (and its trial, as a failing machine would) as soon as it has taken a trial
      await until('worker A to take a trial', () => /took [0-9a-f]{16}/.test(a.stderrSoFar()), 40_000);
      const taken = a.stderrSoFar().match(/took ([0-9a-f]{16})/)![1];
      const trialProcesses = childrenOf(a.child.pid!);
      a.child.kill('SIGKILL');
      for (const pid of trialProcesses) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      expect((await a.done).signal).toBe('SIGKILL');

      const [q, l] = await Promise.all([coordinator.done, local]);
      expect(l.code, l.stderr).toBe(0);
      expect(q.code, q.stderr).toBe(0);
      expect(q.stderr).toMatch(new RegExp(`stalled: the worker running ${taken}`));
      const localFolder = onlyFolder(join(cwd, 'local'));
      const folder = onlyFolder(join(cwd, 'queued'));
      const sweep = JSON.parse(readFileSync(join(folder, 'sweep.json'), 'utf8'));
      const keys = sweep.trials.map((t: { key: string }) => t.key).sort();
      expect(keys).toHaveLength(4);

      // exactly one line per trial, every one ok, equal to the local run of the same trial
      const lines = store(folder);
      expect(lines.map((x) => x.key).sort()).toEqual(keys);
      const localLines = new Map(store(localFolder).map((x) => [x.key, x]));
      expect([...localLines.keys()].sort()).toEqual(keys);
      for (const line of lines) {
        const mine = localLines.get(line.key)!;
        expect(line.status).toBe('ok');
        expect([line.overrides, line.seed]).toEqual([mine.overrides, mine.seed]);
        expect(Number.isFinite(line.metrics.testError)).toBe(true);
        expect(line.metrics.testError).toBe(mine.metrics.testError);
        expect(line.metrics.trainLoss).toBe(mine.metrics.trainLoss);
        expect(line.metrics.bestValidationError).toBe(mine.metrics.bestValidationError);
        // the results came back through Redis into the sweep folder
        const results = JSON.parse(readFileSync(join(folder, 'trials', line.key, 'results.json'), 'utf8'));
        const localResults = JSON.parse(readFileSync(join(localFolder, mine.runFolder!, 'results.json'), 'utf8'));
        expect(results.runs[0].testError).toBe(localResults.runs[0].testError);
        expect(results.runs[0].trainLoss).toBe(localResults.runs[0].trainLoss);
        const curve = (r: { history: Record<string, unknown>[] }) => r.history.map(({ seconds: _s, ...h }) => h);
        expect(curve(results.runs[0])).toEqual(curve(localResults.runs[0]));
        expect(line.runFolder).toBeNull();
        expect(line.worker?.id).toMatch(/:\d+$/);
      }
      // the trial A was running when it died was finished by B, after the stall
      const killed = lines.find((x) => x.key === taken)!;
      expect(killed.worker!.id.endsWith(`:${b.child.pid}`)).toBe(true);
      expect(b.stderrSoFar()).toMatch(new RegExp(`took ${taken} .*after its worker stalled once`));
      expect(existsSync(join(killed.worker!.runFolder!, 'results.json'))).toBe(true);

      // a finished sweep leaves nothing in Redis
      const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
      await client.connect();
      expect(await client.zrange('bioprop:sweeps', 0, -1)).toEqual([]);
      expect(await client.keys('bull:*')).toEqual([]);
      client.disconnect();

      // --resume: every trial is stored, nothing is enqueued, it finishes at once
      const again = await runCli(['sweep', '--resume', folder, '--queue', url], cwd);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/4 of 4 trials already done/);
      expect(again.stderr).not.toMatch(/enqueued/);
      expect(store(folder)).toEqual(lines);

      // SIGTERM stops an idle worker cleanly
      b.child.kill('SIGTERM');
      const bDone = await b.done;
      expect(bDone.code, bDone.stderr).toBe(130);
      expect(bDone.stderr).toMatch(/SIGTERM: abandoning 0 running trial/);
      process.stderr.write(`queue test: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }, 90_000);

    it('successive halving on the queue: rung by rung, the best third of each rung trained afresh to the next on any worker; every result equals the local sweep\'s for the same trial and rung', async () => {
      const cwd = tempDir();
      writeFileSync(join(cwd, 'base.yaml'), BASE.replace('epochs: 1', 'epochs: 3'));
      writeFileSync(join(cwd, 'asha.yaml'), 'name: asha\nexperiment: base.yaml\ngrid:\n  optimizer.lr: [0.1, 0.03, 0.01]\nseeds: [1, 2]\nhalving: { minEpochs: 1, factor: 3, metric: testError }\n');
      const url = `redis://127.0.0.1:${port}`;
      const workers = ['wa', 'wb'].map((dir) => {
        mkdirSync(join(cwd, dir));
        const w = startCli(['worker', '--queue', url, '--runs-dir', dir], cwd);
        started.push(w.child);
        return w;
      });
      const [q, l] = await Promise.all([runCli(['sweep', 'asha.yaml', '--queue', url, '--runs-dir', 'queued'], cwd), runCli(['sweep', 'asha.yaml', '--workers', '2', '--runs-dir', 'local'], cwd)]);
      expect(q.code, q.stderr).toBe(0);
      expect(l.code, l.stderr).toBe(0);
      expect(q.stderr).toMatch(/rung 0 \(1 epochs\): 6 trial\(s\) enqueued/);
      expect(q.stderr).toMatch(/rung 1 \(3 epochs\): 2 trial\(s\) enqueued/);
      const lines = store(onlyFolder(join(cwd, 'queued'))) as (StoreLine & { rung: number; epochs: number })[];
      const rung0 = lines.filter((x) => x.rung === 0);
      const rung1 = lines.filter((x) => x.rung === 1);
      expect(rung0).toHaveLength(6);
      expect(rung0.every((x) => x.status === 'ok' && x.epochs === 1)).toBe(true);
      // the rung-1 trials are the two best of rung 0 (by test error; ties in the order the results came)
      const best = [...rung0].sort((a, b) => a.metrics.testError! - b.metrics.testError!).slice(0, 2).map((x) => x.key);
      expect(rung1.map((x) => x.key).sort()).toEqual([...best].sort());
      expect(rung1.every((x) => x.status === 'ok' && x.epochs === 3)).toBe(true);
      // trained afresh to 3 epochs on a worker = trained 1 epoch, then resumed to 3 locally: bit for bit
      const local = new Map((store(onlyFolder(join(cwd, 'local'))) as (StoreLine & { rung: number })[]).map((x) => [`${x.key}/${x.rung}`, x]));
      let compared = 0;
      for (const line of lines) {
        const mine = local.get(`${line.key}/${line.rung}`);
        if (!mine) continue;
        expect([line.metrics.testError, line.metrics.trainLoss]).toEqual([mine.metrics.testError, mine.metrics.trainLoss]);
        compared++;
      }
      // local ASHA promotes the final best third too (and perhaps a trial that led early): every queued rung is there
      expect(rung1.every((x) => local.has(`${x.key}/1`))).toBe(true);
      expect(compared).toBe(8);
      // the folder moves to a local sweep: with rung 1 dropped from its store, a local --resume trains rung 1 afresh
      // (no checkpoint here) and gets the same results
      const queued = onlyFolder(join(cwd, 'queued'));
      writeFileSync(join(queued, 'trials.jsonl'), rung0.map((x) => `${JSON.stringify(x)}\n`).join(''));
      const resumed = await runCli(['sweep', '--resume', queued, '--workers', '2'], cwd);
      expect(resumed.code, resumed.stderr).toBe(0);
      const again = (store(queued) as (StoreLine & { rung: number })[]).filter((x) => x.rung === 1);
      expect(again.map((x) => [x.key, x.metrics.testError, x.metrics.trainLoss]).sort()).toEqual(rung1.map((x) => [x.key, x.metrics.testError, x.metrics.trainLoss]).sort());
      for (const w of workers) w.child.kill('SIGTERM');
      for (const w of workers) await w.done;
    }, 120_000);
  });
});
