/**
 * Distributed sweeps on Redis with BullMQ. The coordinator (`bioprop sweep <file> --queue redis://…`) enqueues each
 * pending trial as a job whose id is the trial's key, waits for the results and appends each to the sweep's store: it
 * is the store's only writer. Workers (`bioprop worker --queue redis://…`) run each job as the same child
 * `bioprop run` a local sweep uses and send its results back as the job's return value. BullMQ and ioredis are loaded
 * only here, on first use, so local sweeps never need them.
 */
import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { JsonValue } from '@bioprop/core';
import { EXIT, QueueError, UsageError } from './errors.js';
import type { ResultsFile } from './execute.js';
import type { Experiment } from './experiment.js';
import { makeDirs, writeFileAtomic } from './run-folder.js';
import { appendRecord, describeOverrides, executeTrial, outcomeLine, promotable, readStore, rungEpochs, trialKey, type Stage, type SweepRunOptions, type SweepSpec, type Trial, type TrialRecord } from './sweep.js';

/** A Redis sorted set of the sweeps being coordinated (queue name → when it was first registered). */
export const SWEEP_REGISTRY = 'bioprop:sweeps';

/** Where a `--queue` URL points. `url` is for messages: the password, if any, is masked. */
export interface RedisTarget {
  url: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

const URL_FORM = 'redis://[user:password@]host[:port][/db] (rediss:// for TLS), e.g. redis://127.0.0.1:6379';

/** Parse `--queue`: a malformed URL is a usage error naming the option and the value. */
export function parseRedisUrl(value: string, option = '--queue'): RedisTarget {
  const bad = (why: string) => new UsageError(`${option} "${value}": ${why} (expected ${URL_FORM})`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw bad('not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`the scheme must be redis: or rediss:, got ${u.protocol}`);
  if (!u.hostname) throw bad('no host');
  if (u.search || u.hash) throw bad('no query or fragment is read');
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw bad(`the path must be a database number, got "/${path}"`);
  const db = path === '' ? 0 : Number(path);
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port ${u.port} is out of range`);
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const auth = u.username || u.password ? `${u.username}${u.password ? ':***' : ''}@` : '';
  return { url: `${u.protocol}//${auth}${u.host}/${db}`, host: u.hostname.replace(/^\[|\]$/g, ''), port, db, username, password, tls: u.protocol === 'rediss:' };
}

/** ioredis options for a target (BullMQ adds its own retry strategy and, for blocking connections, no retry limit). */
function connection(t: RedisTarget): Record<string, unknown> {
  return { host: t.host, port: t.port, db: t.db, username: t.username, password: t.password, tls: t.tls ? {} : undefined, connectTimeout: 5000 };
}

type Bullmq = typeof import('bullmq');
type Queue = InstanceType<Bullmq['Queue']>;
type Job = Awaited<ReturnType<Queue['getJob']>> & object;

async function loadBullmq(): Promise<Bullmq> {
  try {
    return await import('bullmq');
  } catch (e) {
    throw new QueueError(`--queue needs the bullmq package, which does not load here (${(e as Error).message.split('\n')[0]})`);
  }
}

/**
 * Connect once, without reconnecting, and ask the server to answer: an unreachable or refusing Redis is an error
 * naming the URL within seconds, before BullMQ (which reconnects forever) is involved.
 */
export async function probeRedis(t: RedisTarget): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis({ ...connection(t), connectTimeout: 3000, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // the socket's error (ECONNREFUSED, ETIMEDOUT, ENOTFOUND) says more than the rejection ("Connection is closed.")
  let cause: Error | null = null;
  client.on('error', (e: Error) => (cause ??= e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const err = (cause ?? e) as NodeJS.ErrnoException;
    throw new QueueError(`cannot reach Redis at ${t.url}: ${err.message || err.code || String(err)}`);
  } finally {
    client.disconnect();
  }
}

/** The queue of a sweep folder: `sweep-<folder name>` (the name and start time), so two sweeps never share one. */
export const queueName = (folder: string) => `sweep-${basename(resolve(folder))}`;

/** What a job carries: everything a worker needs to run the trial without the sweep's files. */
export interface TrialJobData {
  kind: 'bioprop-trial';
  sweep: string;
  key: string;
  overrides: Record<string, JsonValue>;
  seed: number;
  experiment: Experiment;
  /** With halving: the rung, and the epochs to train from the start (a promoted trial is trained afresh to its rung). */
  rung?: number;
  epochs?: number;
}

/** A job's id: the trial's key, with its rung after the first one (a trial's rungs are separate jobs). */
export const jobIdOf = (key: string, rung?: number) => (rung ? `${key}-rung${rung}` : key);

/** A job's return value: the trial's store line (as the worker saw it) and the results file its run wrote. */
export interface TrialJobResult {
  record: TrialRecord;
  results: ResultsFile | null;
}

/** Say each distinct connection problem once (BullMQ emits one per reconnect attempt). */
function onceEach(note: (line: string) => void, what: string) {
  const said = new Set<string>();
  return (e: Error) => {
    const m = e?.message ?? String(e);
    if (said.has(m)) return;
    said.add(m);
    note(`${what}: ${m}`);
  };
}

const sleep = (ms: number, wake?: Promise<void>) => new Promise<void>((res) => {
  const t = setTimeout(res, ms);
  void wake?.then(() => {
    clearTimeout(t);
    res();
  });
});

/** A promise that resolves on `fire()`, re-armed after each firing: a loop's wake-up call. */
function alarm() {
  let fire!: () => void;
  let p!: Promise<void>;
  const arm = () => {
    p = new Promise<void>((r) => (fire = r));
  };
  arm();
  return {
    get next() {
      return p;
    },
    fire() {
      const f = fire;
      arm();
      f();
    },
  };
}

export interface QueuedSweepOptions extends Omit<SweepRunOptions, 'workers'> {
  target: RedisTarget;
  /** Tries per job (a worker crash or a killed trial counts; a trial that diverges is a result, not retried). */
  attempts: number;
  /** The first retry's delay; each later one doubles it. */
  backoffMs: number;
}

/** One job of a queued sweep: a trial, and with halving its rung and epochs. */
interface QueuedStage {
  trial: Trial;
  stage: Stage;
}

/**
 * Coordinate a sweep over a queue: enqueue the trials not stored as ok (a job already in the queue is not added
 * again; one left failed by an earlier run is replaced), then append each job's result to the store as it finishes.
 * With `halving`, successive halving by rungs: every trial's first rung goes to the queue, and when all of a rung's
 * results are in, the best 1/factor of each group (as a local sweep ranks them) go to the queue for the next rung.
 * A promoted trial is trained afresh to its rung's epochs on whichever worker takes it (its earlier rung's checkpoint
 * is on another machine); resumed training is bit for bit the same, so the result equals a local sweep's. Ctrl-C
 * removes the jobs no worker has taken; results of the running ones stay in Redis for `--resume`.
 */
export async function runQueued(opts: QueuedSweepOptions & { halving?: SweepSpec['halving'] }): Promise<{ ran: number; failed: number; skipped: number; interrupted: boolean }> {
  const stored = readStore(opts.folder);
  const halving = opts.halving ?? null;
  const budget = opts.trials[0]?.experiment.epochs ?? 1;
  const rungs = halving ? rungEpochs(halving.minEpochs, halving.factor, budget) : [budget];
  const top = rungs.length - 1;
  const keys = new Set(opts.trials.map((t) => t.key));
  /** results[k]: key → its ok record at rung k (without halving, the one rung). */
  const results = rungs.map(() => new Map<string, TrialRecord>());
  for (const r of stored) {
    if (r.status !== 'ok' || !keys.has(r.key)) continue;
    const k = halving ? r.rung : 0;
    if (k !== undefined && k >= 0 && k <= top) results[k].set(r.key, r);
  }
  const skipped = opts.trials.filter((t) => results[top].has(t.key)).length;
  if (skipped) opts.note(halving ? `${skipped} of ${opts.trials.length} trials already at the full ${budget} epochs` : `${skipped} of ${opts.trials.length} trials already done`);
  if (skipped === opts.trials.length) return { ran: 0, failed: 0, skipped, interrupted: false };
  await probeRedis(opts.target);
  const { Queue, QueueEvents } = await loadBullmq();
  const name = queueName(opts.folder);
  const conn = connection(opts.target);
  const queue = new Queue(name, {
    connection: conn,
    defaultJobOptions: { attempts: opts.attempts, backoff: { type: 'exponential', delay: opts.backoffMs }, removeOnComplete: false, removeOnFail: false },
  });
  queue.on('error', onceEach(opts.note, `queue ${name}`));
  const events = new QueueEvents(name, { connection: conn });
  events.on('error', onceEach(opts.note, `queue ${name} events`));
  const { Redis } = await import('ioredis');
  const client = new Redis({ ...conn, maxRetriesPerRequest: 3 });
  client.on('error', onceEach(opts.note, 'redis'));
  const wake = alarm();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    opts.note('interrupt: removing the trials no worker has taken; results of running ones stay in Redis for --resume');
    wake.fire();
  };
  process.on('SIGINT', onSigint);
  // a store line already written for a job (a coordinator stopped between appending and removing it) is not written again
  const written = new Set(stored.map((r) => `${r.key} ${r.rung ?? ''} ${r.started} ${r.finished}`));
  let ran = 0;
  let failed = 0;
  let finished = 0;
  const total = () => (halving ? `rung ${finishedRung} (${rungs[finishedRung]} epochs)` : `${skipped + finished}/${opts.trials.length}`);
  let finishedRung = 0;

  /** Enqueue these jobs (unless there already) and store each result as it comes. */
  const runJobs = async (jobs: QueuedStage[]): Promise<void> => {
    const pending = new Map(jobs.map((j) => [jobIdOf(j.trial.key, j.stage.rung), j]));
    let added = 0;
    let waiting = 0;
    for (const { trial: t, stage } of jobs) {
      if (interrupted) break;
      const id = jobIdOf(t.key, stage.rung);
      const job = await queue.getJob(id);
      if (job) {
        const state = await job.getState();
        if (state !== 'failed' && state !== 'unknown') {
          waiting++;
          continue;
        }
        await job.remove();
      }
      const data: TrialJobData = { kind: 'bioprop-trial', sweep: name, key: t.key, overrides: t.overrides, seed: t.seed, experiment: t.experiment };
      if (stage.rung !== undefined) Object.assign(data, { rung: stage.rung, epochs: stage.epochs });
      await queue.add('trial', data, { jobId: id });
      added++;
    }
    const what = halving ? `rung ${jobs[0]?.stage.rung ?? 0} (${jobs[0]?.stage.epochs} epochs): ` : '';
    opts.note(`queue ${name} on ${opts.target.url}: ${what}${added} trial(s) enqueued${waiting ? `, ${waiting} already there` : ''}; waiting for workers (bioprop worker --queue ${opts.target.url})`);
    while (pending.size && !interrupted) {
      const done = (await queue.getJobs(['completed', 'failed'], 0, -1)) as Job[];
      for (const job of done) {
        const entry = job?.id ? pending.get(job.id) : undefined;
        if (!entry) continue;
        const record = await recordOf(job, entry, opts.folder);
        const line = `${record.key} ${record.rung ?? ''} ${record.started} ${record.finished}`;
        if (!written.has(line)) {
          written.add(line);
          appendRecord(opts.folder, record);
          ran++;
          finished++;
          finishedRung = entry.stage.rung ?? 0;
          if (record.status === 'failed') failed++;
          else results[entry.stage.rung ?? 0].set(record.key, record);
          opts.note(`[${total()}] ${outcomeLine(record)}${record.worker ? ` on ${record.worker.id}` : ''}`);
        } else if (record.status === 'ok') results[entry.stage.rung ?? 0].set(record.key, record);
        pending.delete(job.id!);
        await job.remove();
      }
      if (pending.size) await sleep(2000, wake.next);
    }
  };

  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    await client.zadd(SWEEP_REGISTRY, 'NX', Date.now(), name);
    for (const ev of ['completed', 'failed', 'stalled'] as const) events.on(ev, () => wake.fire());
    events.on('stalled', ({ jobId }) => opts.note(`stalled: the worker running ${jobId} stopped renewing its lock; the trial goes back to the queue`));
    if (!halving) {
      await runJobs(opts.trials.filter((t) => !results[0].has(t.key)).map((trial) => ({ trial, stage: {} })));
    } else {
      const byKey = new Map(opts.trials.map((t) => [t.key, t]));
      const score = (r: TrialRecord) => r.metrics[halving.metric] ?? Infinity;
      const fresh = opts.trials.filter((t) => !results.some((m) => m.has(t.key)));
      if (fresh.length) await runJobs(fresh.map((trial) => ({ trial, stage: { rung: 0, epochs: rungs[0] } })));
      for (let k = 0; k < top && !interrupted; k++) {
        const next = promotable([...results[k].values()], halving.factor, score, halving.groupBy).filter((r) => !results[k + 1].has(r.key) && byKey.has(r.key));
        if (next.length) await runJobs(next.map((r) => ({ trial: byKey.get(r.key)!, stage: { rung: k + 1, epochs: rungs[k + 1] } })));
      }
    }
    if (interrupted) {
      await queue.drain(true);
      await client.zrem(SWEEP_REGISTRY, name);
    } else {
      // every trial is stored: nothing of this sweep stays in Redis
      await queue.obliterate({ force: true });
      await client.zrem(SWEEP_REGISTRY, name);
    }
  } finally {
    process.off('SIGINT', onSigint);
    await Promise.allSettled([events.close(), queue.close()]);
    client.disconnect();
  }
  return { ran, failed, skipped, interrupted };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The store line for a finished job; its results file (and experiment) go to `trials/<key>/` of the sweep folder
 * (`results.json`, or `results-rung<k>.json` for a later rung).
 */
async function recordOf(job: Job, { trial, stage }: QueuedStage, folder: string): Promise<TrialRecord> {
  const dir = join(folder, 'trials', trial.key);
  makeDirs(dir);
  writeFileAtomic(join(dir, 'trial.json'), `${JSON.stringify(trial.experiment, null, 2)}\n`);
  const value = job.returnvalue as TrialJobResult | null;
  const rung = stage.rung === undefined ? {} : { rung: stage.rung, epochs: stage.epochs };
  if (job.finishedOn && isObject(value) && isObject(value.record) && (value.record.status === 'ok' || value.record.status === 'failed') && (await job.getState()) === 'completed') {
    if (value.results) writeFileAtomic(join(dir, stage.rung ? `results-rung${stage.rung}.json` : 'results.json'), `${JSON.stringify(value.results, null, 2)}\n`);
    // the key, overrides, seed and rung are the coordinator's; what ran and how it went are the worker's
    return { ...value.record, key: trial.key, overrides: trial.overrides, seed: trial.seed, runFolder: null, ...rung };
  }
  const attempts = job.attemptsMade;
  return {
    ...rung,
    key: trial.key,
    overrides: trial.overrides,
    seed: trial.seed,
    status: 'failed',
    metrics: { testError: null, bestValidationError: null, trainLoss: null, seconds: 0 },
    error: `${job.failedReason || 'the worker returned no result'} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`,
    started: new Date(job.processedOn ?? job.timestamp).toISOString(),
    finished: new Date(job.finishedOn ?? Date.now()).toISOString(),
    runFolder: null,
  };
}

export interface WorkerOptions {
  target: RedisTarget;
  /** Trials this process runs at once. */
  concurrency: number;
  /** The worker's own work folder: `<runsDir>/<queue name>/trials/<key>/`. */
  runsDir: string;
  /** BullMQ's lock duration; stalled jobs are looked for at the same interval. */
  lockDurationMs: number;
  /** How often an idle worker looks for sweeps with work. */
  pollMs?: number;
  note: (line: string) => void;
}

/**
 * Serve the sweeps registered on a Redis, one at a time (oldest first): while a sweep's queue has jobs (waiting,
 * delayed or running anywhere), take them, up to `concurrency` at once, each in a child `bioprop run`. SIGINT or
 * SIGTERM abandons the running trials: their children are stopped and their jobs go back to the queue at once (no
 * attempt used), for another worker; a second signal quits at once. Resolves with the exit code.
 */
export async function serveQueue(opts: WorkerOptions): Promise<number> {
  await probeRedis(opts.target);
  const { Queue, Worker, WaitingError, UnrecoverableError } = await loadBullmq();
  const { Redis } = await import('ioredis');
  const conn = connection(opts.target);
  const id = `${hostname()}:${process.pid}`;
  const pollMs = opts.pollMs ?? 1000;
  const registry = new Redis({ ...conn, maxRetriesPerRequest: null });
  registry.on('error', onceEach(opts.note, 'redis'));
  const queues = new Map<string, Queue>();
  const children = new Set<ChildProcess>();
  const wake = alarm();
  let stopping: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      opts.note(`${signal} again: quitting at once (the running trials' jobs go back to the queue when their locks expire)`);
      for (const c of children) c.kill('SIGKILL');
      process.exit(EXIT.interrupted);
    }
    stopping = signal;
    opts.note(`${signal}: abandoning ${children.size} running trial(s) (their jobs go back to the queue for another worker), taking no more`);
    for (const c of children) c.kill('SIGTERM');
    wake.fire();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const queueOf = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: conn });
      q.on('error', onceEach(opts.note, `queue ${name}`));
      queues.set(name, q);
    }
    return q;
  };
  const hasJobs = async (name: string) => {
    const counts = await queueOf(name).getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'waiting-children');
    return Object.values(counts).some((n) => n > 0);
  };

  const serve = async (name: string) => {
    const folder = join(opts.runsDir, name);
    makeDirs(folder);
    let running = 0;
    const worker = new Worker(
      name,
      async (job, token) => {
        const data = job.data as TrialJobData;
        if (data?.kind !== 'bioprop-trial' || !isObject(data.experiment) || trialKey(data.experiment) !== data.key || job.id !== jobIdOf(data.key, data.rung)) {
          throw new UnrecoverableError(`job ${job.id}: not a bioprop trial (its experiment does not hash to its key)`);
        }
        const staged = data.rung !== undefined || data.epochs !== undefined;
        const budget = data.experiment.epochs;
        if (staged && !(Number.isInteger(data.rung) && data.rung! >= 0 && Number.isInteger(data.epochs) && data.epochs! >= 1 && data.epochs! <= budget)) {
          throw new UnrecoverableError(`job ${job.id}: rung ${String(data.rung)} and epochs ${String(data.epochs)} are not a rung of a ${budget}-epoch trial`);
        }
        const stage: Stage = staged ? { rung: data.rung, epochs: data.epochs } : {};
        const trial: Trial = { key: data.key, overrides: data.overrides, seed: data.seed, experiment: data.experiment };
        opts.note(`${name}: took ${trial.key} ${describeOverrides(trial.overrides) || '(base)'} seed ${trial.seed}${staged ? `, rung ${stage.rung} (${stage.epochs} epochs)` : ''} (attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}${job.stalledCounter ? `, after its worker stalled ${job.stalledCounter === 1 ? 'once' : `${job.stalledCounter} times`}` : ''})`);
        running++;
        let child: ChildProcess | null = null;
        let outcome;
        try {
          outcome = await executeTrial(
            folder,
            trial,
            (c) => {
              if (c) children.add((child = c));
              else if (child) children.delete(child);
            },
            stage,
          );
        } finally {
          running--;
        }
        if (stopping && outcome.record.status !== 'ok') {
          // abandoned: back to the queue now rather than after its lock expires, without using an attempt
          await job.moveToWait(token);
          throw new WaitingError();
        }
        const { record, results } = outcome;
        record.worker = { id, runFolder: record.runFolder ? resolve(folder, record.runFolder) : null };
        opts.note(`${name}: ${outcomeLine(record)}`);
        // a trial that failed inside bioprop run (it diverged: its results file says so) is a result; a crash, a
        // killed child or a missing results file is a failed attempt, retried with backoff
        if (record.status === 'ok' || (results?.failures?.length ?? 0) > 0) return { record, results } satisfies TrialJobResult;
        throw new Error(`${id}: ${record.error ?? 'the trial failed'}`);
      },
      { connection: conn, concurrency: opts.concurrency, lockDuration: opts.lockDurationMs, stalledInterval: opts.lockDurationMs, maxStalledCount: 2 },
    );
    worker.on('error', onceEach(opts.note, `worker ${name}`));
    worker.on('failed', (job, err) => {
      if (job && !(err instanceof WaitingError)) opts.note(`${name}: ${job.id} failed attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}: ${err.message}`);
    });
    opts.note(`serving ${name}`);
    try {
      while (!stopping) {
        await sleep(pollMs, wake.next);
        if (stopping) break;
        if (running === 0 && !(await hasJobs(name))) break;
      }
    } finally {
      await worker.close();
    }
    if (!stopping) opts.note(`${name}: no jobs left`);
  };

  opts.note(`worker ${id} on ${opts.target.url}: up to ${opts.concurrency} trial(s) at once, work folder ${opts.runsDir}`);
  let idleSaid = false;
  try {
    while (!stopping) {
      const names = await registry.zrange(SWEEP_REGISTRY, 0, -1);
      for (const n of [...queues.keys()]) {
        if (!names.includes(n)) {
          await queues.get(n)!.close();
          queues.delete(n);
        }
      }
      let served = false;
      for (const n of names) {
        if (stopping) break;
        if (await hasJobs(n)) {
          idleSaid = false;
          await serve(n);
          served = true;
          break;
        }
      }
      if (!served && !stopping) {
        if (!idleSaid) opts.note('waiting for sweeps (bioprop sweep <file> --queue …)');
        idleSaid = true;
        await sleep(pollMs, wake.next);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.allSettled([...queues.values()].map((q) => q.close()));
    registry.disconnect();
  }
  opts.note(`worker ${id} stopped`);
  return EXIT.interrupted;
}
