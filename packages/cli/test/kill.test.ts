import { existsSync, readdirSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { verifyCheckpoint } from '@bioprop/core/node';
import { describe, expect, it } from 'vitest';
import { rng } from '../src/sweep.js';
import { runCli, startCli, tempDir, type CliRun } from './helpers.js';

/**
 * SIGKILL during training and during checkpoint saves, 30 times, then resume: every checkpoint a kill leaves must
 * verify, hold exactly the reference run's history so far, and resume to the reference run's final bits.
 *
 * One batch per epoch: the CLI saves at every epoch end, so it saves after every step, and with no angles and a
 * 20-sample test set a save (serialize, SHA-256, write and fsync a 0.6 MB weights file, rename, clean up) is much
 * of each epoch. Kills are chained per rule: each resumed process is killed again, the last one trains to the end.
 */
const SEED = 11;
const KILL_SEED = 0x5eed_4b1;
const EPOCHS = 36;
const RULES = ['bp', 'fa', 'dfa', 'kp', 'wm', 'dtp'] as const;
const KILLS_PER_RULE = 5;
/** At most this long after a process's first epoch (ms) for a kill at a random moment. */
const MAX_DELAY_MS = 250;

const args = (rule: string) => [
  'train', '--rule', rule, '--dataset', 'digits', '--arch', '784-64-32-10', '--limit-train', '20', '--limit-test', '20',
  '--batch-size', '20', '--epochs', String(EPOCHS), '--seed', String(SEED), '--backend', 'wasm', '--no-angles', '--name', rule,
];


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `probe` gives a value, or null once the process has exited. */
async function until<T>(probe: () => T | null, exited: () => boolean): Promise<T | null> {
  for (;;) {
    const v = probe();
    if (v !== null) return v;
    if (exited()) return null;
    await sleep(3);
  }
}

type Epoch = Record<string, unknown>;
/** An epoch's record without its wall-clock time. */
const plain = (history: Epoch[]) => history.map(({ seconds: _, ...rest }) => rest);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const onlyFolder = (root: string) => {
  const names = existsSync(root) ? readdirSync(root) : [];
  return names.length === 1 ? join(root, names[0]) : null;
};

interface Kill {
  rule: string;
  mode: 'save' | 'moment';
  inSave: boolean;
  leftovers: string[];
  epochs: number;
  history: Epoch[];
}

interface Chain {
  rule: string;
  kills: Kill[];
  folder: string;
  final: CliRun;
}

/** Train `rule`, SIGKILL it `KILLS_PER_RULE` times (resuming after each), then let the last resume finish. */
async function killChain(rule: string, cwd: string, random: () => number): Promise<Chain> {
  const runsDir = join(cwd, `killed-${rule}`);
  const kills: Kill[] = [];
  let folder: string | null = null;
  let ckDir = '';
  for (let k = 0; k <= KILLS_PER_RULE; k++) {
    const proc = startCli(k === 0 ? [...args(rule), '--runs-dir', runsDir] : ['train', '--resume', folder!], cwd);
    if (k === KILLS_PER_RULE) {
      const final = await proc.done;
      return { rule, kills, folder: folder!, final };
    }
    let exited = false;
    void proc.done.then(() => (exited = true));
    // the anchor: the first checkpoint exists (first process), or this process has trained an epoch (a resume)
    const anchored = await until(() => {
      if (k === 0) {
        folder ??= onlyFolder(runsDir);
        if (!folder) return null;
        ckDir = join(folder, 'checkpoints', `${rule}-seed${SEED}`);
        return existsSync(join(ckDir, 'manifest.json')) ? true : null;
      }
      return /epoch \d+\/\d+: train loss/.test(proc.stderrSoFar()) ? true : null;
    }, () => exited);
    let mode: Kill['mode'] = 'moment';
    let watcher: FSWatcher | null = null;
    if (anchored) {
      if (random() < 0.5) {
        // at the start of the n-th save from now (its weights file appears under a temp name), after 0–2 ms
        mode = 'save';
        const nth = 1 + Math.floor(random() * 3);
        const delay = Math.floor(random() * 3);
        const seen = new Set<string>();
        watcher = watch(ckDir, (_event, name) => {
          if (!name || !/^weights-[0-9a-f]{16}\.bin\.tmp-/.test(name) || seen.has(name)) return;
          seen.add(name);
          if (seen.size !== nth) return;
          watcher?.close();
          if (delay === 0) proc.child.kill('SIGKILL');
          else setTimeout(() => proc.child.kill('SIGKILL'), delay);
        });
      } else {
        setTimeout(() => proc.child.kill('SIGKILL'), Math.floor(random() * MAX_DELAY_MS));
      }
    }
    const r = await proc.done;
    watcher?.close();
    if (r.signal !== 'SIGKILL') throw new Error(`${rule}: process ${k} ended before its kill (exit ${r.code}):\n${r.stderr}`);
    // what the kill left: a temp file, or a second weights file, means it landed inside a save's writes
    const names = readdirSync(ckDir);
    const leftovers = names.filter((n) => n.includes('.tmp-'));
    const weights = names.filter((n) => /^weights-[0-9a-f]{16}\.bin$/.test(n));
    // the directory holds a whole checkpoint, the previous or the new one
    const manifest = await verifyCheckpoint(ckDir);
    const history = (manifest.extra as { history: Epoch[] }).history;
    expect(manifest.trainer?.position.step, `${rule} kill ${k}`).toBe(history.length);
    kills.push({ rule, mode, inSave: leftovers.length > 0 || weights.length > 1, leftovers, epochs: history.length, history });
  }
  throw new Error('unreachable');
}

/** Run tasks, at most `n` at once. */
async function pool<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    }),
  );
  return out;
}

describe('SIGKILL during training and saving', () => {
  it(`${RULES.length * KILLS_PER_RULE} kills, each checkpoint left verifies and resumes bit-for-bit`, async () => {
    const started = performance.now();
    const cwd = tempDir('bioprop-kill-');
    const random = rng(KILL_SEED);
    // each chain draws its schedule up front from its own seed, so concurrency does not change the schedule
    const seeds = RULES.map(() => Math.floor(random() * 2 ** 32));
    const tasks: (() => Promise<Chain | CliRun>)[] = RULES.flatMap((rule, i) => [
      () => killChain(rule, cwd, rng(seeds[i])),
      () => runCli([...args(rule), '--runs-dir', join(cwd, `reference-${rule}`)], cwd),
    ]);
    const done = await pool(tasks, 2);

    let exact = 0;
    const kills: Kill[] = [];
    for (let i = 0; i < RULES.length; i++) {
      const rule = RULES[i];
      const chain = done[2 * i] as Chain;
      const reference = done[2 * i + 1] as CliRun;
      expect(reference.code, reference.stderr).toBe(0);
      expect(chain.final.code, chain.final.stderr).toBe(0);
      const refFolder = onlyFolder(join(cwd, `reference-${rule}`))!;
      const refRun = readJson(join(refFolder, 'results.json')).runs[0];
      const refHistory = plain(refRun.history);
      // every checkpoint a kill left holds the reference's history so far (losses and errors to the bit)
      for (const kill of chain.kills) {
        expect(plain(kill.history), `${rule}: checkpoint after a kill at epoch ${kill.epochs}`).toEqual(refHistory.slice(0, kill.epochs));
      }
      // the last resume ends on the reference's bits: weights, rule state, optimizer slots, random streams
      const ck = (folder: string) => readJson(join(folder, 'checkpoints', `${rule}-seed${SEED}`, 'manifest.json'));
      const a = ck(chain.folder);
      const b = ck(refFolder);
      expect(a.sha256, rule).toBe(b.sha256);
      expect(a.trainer.random, rule).toEqual(b.trainer.random);
      expect(a.trainer.position, rule).toEqual(b.trainer.position);
      const run = readJson(join(chain.folder, 'results.json')).runs[0];
      expect(plain(run.history), rule).toEqual(refHistory);
      expect([run.testAccuracy, run.testLoss, run.trainLoss], rule).toEqual([refRun.testAccuracy, refRun.testLoss, refRun.trainLoss]);
      // metrics.jsonl: what a killed process logged after its last checkpoint is not repeated by the resumed run
      const metrics = (folder: string) => plain(readFileSync(join(folder, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
      expect(metrics(chain.folder), `${rule} metrics.jsonl`).toEqual(metrics(refFolder));
      // temp files a kill left were removed by the next save; one weights file remains
      const left = readdirSync(join(chain.folder, 'checkpoints', `${rule}-seed${SEED}`));
      expect(left.sort(), rule).toEqual(['manifest.json', a.weightsFile]);
      exact += chain.kills.length;
      kills.push(...chain.kills);
    }

    const inSave = kills.filter((k) => k.inSave);
    const seconds = (performance.now() - started) / 1000;
    const perRule = RULES.map((r) => `${r} ${kills.filter((k) => k.rule === r && k.inSave).length}/${kills.filter((k) => k.rule === r).length}`).join(', ');
    console.log(
      `SIGKILL: ${kills.length} kills, ${inSave.length} during a save (temp files: ${inSave.filter((k) => k.leftovers.length).length}), ` +
        `${kills.length - inSave.length} during training; ${exact} resumed bit-for-bit; in a save per rule: ${perRule}; ` +
        `aimed at a save: ${kills.filter((k) => k.mode === 'save').length} (landed ${kills.filter((k) => k.mode === 'save' && k.inSave).length}); ${seconds.toFixed(1)} s`,
    );
    expect(kills).toHaveLength(RULES.length * KILLS_PER_RULE);
    expect(inSave.length).toBeGreaterThanOrEqual(5);
    rmSync(cwd, { recursive: true, force: true });
  }, 300_000);
});
