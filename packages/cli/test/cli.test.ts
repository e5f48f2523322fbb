import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, TINY, runCli, tempDir } from './helpers.js';

let installed: { id: string; package: string | null; defaults: { batchSize: number; optimizer: { name: string; lr: number } } }[] = [];
const has = (id: string) => installed.some((r) => r.id === id);

beforeAll(async () => {
  expect(existsSync(BIN), `${BIN} must be built (pnpm build) before the CLI tests`).toBe(true);
  const r = await runCli(['rules', '--json'], tempDir());
  expect(r.code).toBe(0);
  installed = JSON.parse(r.stdout);
});

describe('bioprop rules', () => {
  it('lists every installed rule with one line each', async () => {
    const r = await runCli(['rules'], tempDir());
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').slice(2);
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(installed.map((e) => e.id));
    expect(installed[0].id).toBe('bp');
    for (const e of installed) expect(e.defaults.batchSize).toBeGreaterThan(0);
  });
});

describe('bioprop train', () => {
  it('trains backprop on the embedded digits and writes results JSON and an SVG', async () => {
    const cwd = tempDir();
    // later flags win: 1,000 samples for 2 epochs (16 steps at the default batch size) so learning shows
    const r = await runCli(['train', '--rule', 'bp', ...TINY, '--limit-train', '1000', '--epochs', '2', '--seed', '3', '--out', 'r.json', '--plot', 'c.svg'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8'));
    expect(res).toMatchObject({ rule: 'bp', dataset: 'digits', arch: '784-32-10', epochs: 2, seed: 3, backend: 'wasm', trainCount: 1000, testCount: 100 });
    // the rule's tuned defaults fill what was left out
    const bp = installed.find((e) => e.id === 'bp')!;
    expect(res.batchSize).toBe(bp.defaults.batchSize);
    expect(res.optimizer).toEqual(bp.defaults.optimizer);
    expect(res.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(res.testAccuracy).toBeLessThanOrEqual(1);
    expect(res.testError).toBeCloseTo(1 - res.testAccuracy, 12);
    // 16 steps of backprop on digits do far better than chance (10%): 70% measured with this seed (lr 0.03)
    expect(res.testAccuracy).toBeGreaterThan(0.5);
    expect(res.samplesPerSecond).toBeGreaterThan(0);
    expect(res.samples).toBe(2000);
    expect(res.samplesPerSecond).toBeCloseTo(res.samples / res.trainSeconds, 6);
    expect(res.history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);
    expect(res.history[1]).toMatchObject({ angleToBackpropDeg: [0, 0], testAccuracy: res.testAccuracy });
    expect(res.history[0].trainLoss).toBeGreaterThan(0);
    expect(readFileSync(join(cwd, 'c.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(r.stderr).toMatch(/backend: wasm \(asked for wasm\b/);
    expect(r.stdout).toMatch(/^rule\s+test error/m);
  });

  it('measures a nonzero angle to backprop for feedback alignment (0 at the output layer)', async ({ skip }) => {
    if (!has('fa')) skip('@bioprop/feedback-alignment is not installed');
    const cwd = tempDir();
    const r = await runCli(['train', '--rule', 'fa', ...TINY, '--arch', '784-32-32-10', '--out', 'r.json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8'));
    const angles: number[] = res.history[0].angleToBackpropDeg;
    expect(angles).toHaveLength(3);
    expect(angles[2]).toBe(0);
    expect(angles[0]).toBeGreaterThan(1);
    expect(angles[1]).toBeGreaterThan(1);
  });
});

describe('bioprop compare', () => {
  it('trains each rule in one run folder, prints the table and writes the results JSON and the curves', async () => {
    const rules = ['bp', 'fa', 'dfa'].filter(has);
    const cwd = tempDir();
    const r = await runCli(['compare', '--rules', rules.join(','), ...TINY, '--out', 'cmp.json', '--plot', 'cmp.svg'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(cwd, 'cmp.json'), 'utf8'));
    expect(json).toMatchObject({ kind: 'bioprop-results', name: 'compare-digits', mode: 'tuned', complete: true, failures: [] });
    expect(json.runs.map((x: { rule: string }) => x.rule)).toEqual(rules);
    // one seed is one seed: no spread is made up
    expect(json.summary.map((s: { testError: { n: number; std: number | null } }) => [s.testError.n, s.testError.std])).toEqual(rules.map(() => [1, null]));
    expect(r.stdout).not.toContain('±');
    for (const x of json.runs) {
      expect(x.testError).toBeGreaterThanOrEqual(0);
      expect(x.testError).toBeLessThanOrEqual(1);
      expect(x.history[0].angleToBackpropDeg.every((a: unknown) => typeof a === 'number')).toBe(true);
    }
    for (const rule of rules) expect(r.stdout).toMatch(new RegExp(`^${rule}\\s+\\d+\\.\\d+%`, 'm'));
    expect(r.stdout).toMatch(/angle to bp per layer/);
    const svg = readFileSync(join(cwd, 'cmp.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('angle to backprop');
  });
});

describe('bioprop bench', () => {
  it('--json prints only a JSON array on stdout', async () => {
    const r = await runCli(['bench', '--json', '--rules', 'bp', '--arch', '784-32-10', '--batch-size', '16', '--backend', 'wasm', '--min-time', '0.2'], tempDir());
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0])).toEqual(['rule', 'backend', 'arch', 'batchSize', 'samplesPerSecond', 'msPerStep', 'gflops', 'sgemmPeakGflops', 'efficiency']);
    expect(rows[0]).toMatchObject({ rule: 'bp', backend: 'wasm', arch: '784-32-10', batchSize: 16 });
    expect(rows[0].samplesPerSecond).toBeCloseTo((16 * 1000) / rows[0].msPerStep, 6);
    // gflops is the step's matmul FLOPs over its time: 2·16·(784·32·2 + 32·10·3) FLOPs per step
    const flops = 2 * 16 * (784 * 32 * 2 + 32 * 10 * 3);
    expect(rows[0].gflops).toBeCloseTo(flops / (rows[0].msPerStep * 1e6), 6);
    expect(r.stderr).toMatch(/backend: wasm/);
    // efficiency is against the sgemm peak measured through the blas addon, or null (said on stderr) without it
    if (rows[0].sgemmPeakGflops === null) {
      expect(rows[0].efficiency).toBeNull();
      expect(r.stderr).toMatch(/sgemm peak: not measured \(blas: .+\)/);
    } else {
      expect(rows[0].sgemmPeakGflops).toBeGreaterThan(1);
      expect(rows[0].efficiency).toBeCloseTo(rows[0].gflops / rows[0].sgemmPeakGflops, 12);
    }
  });
});

describe('bad input', () => {
  const expectUsage = async (args: string[], message: RegExp) => {
    const r = await runCli(args, tempDir());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  };

  it('an unknown rule exits 2', () => expectUsage(['train', '--rule', 'nope'], /unknown rule "nope"/));
  it('an unknown option exits 2', () => expectUsage(['train', '--rule', 'bp', '--frobnicate', '3'], /unknown option '--frobnicate'/));
  it('a negative epoch count exits 2', () => expectUsage(['train', '--rule', 'bp', '--epochs', '-1'], /--epochs must be at least 1/));
  it('a non-numeric learning rate exits 2', () => expectUsage(['train', '--rule', 'bp', '--lr', 'abc'], /--lr must be a positive number/));
  it('numbers are decimal: hex, octal, binary and Infinity learning rates exit 2', async () => {
    for (const lr of ['0x10', '0o7', '0b1', 'Infinity']) await expectUsage(['train', '--rule', 'bp', '--lr', lr], /--lr must be a positive number written in decimal \(e\.g\. 0\.05 or 1e-3\), got "/);
  });
  it('object-prototype names are unknown names (exit 2, before any data is loaded)', async () => {
    await expectUsage(['train', '--rule', 'bp', '--activation', '__proto__'], /unknown activation "__proto__"/);
    await expectUsage(['train', '--rule', 'bp', '--activation', 'constructor'], /unknown activation "constructor"/);
  });
  it('an --out in a folder where no file can be created (procfs) is refused before training (exit 2)', () =>
    expectUsage(['train', '--rule', 'bp', '--out', '/proc/bioprop-results.json'], /--out \/proc\/bioprop-results\.json: cannot create files in \/proc/));
  it('a --runs-dir under procfs is refused at once (exit 2; a recursive mkdir there never returns)', () =>
    expectUsage(['train', '--rule', 'bp', '--runs-dir', '/proc/bioprop/runs'], /runs folder \/proc\/bioprop\/runs: cannot create it \(ENOENT\)/));
  it('decimal learning rates of every common form are accepted', async () => {
    const { positiveNumber } = await import('../src/options/values.js');
    for (const [text, n] of [['0.05', 0.05], ['1e-3', 1e-3], ['.5', 0.5], ['3', 3], ['2.5E+1', 25]] as const) expect(positiveNumber('--lr')(text)).toBe(n);
  });
  it('an unknown rule in --rules exits 2', () => expectUsage(['compare', '--rules', 'bp,zz'], /unknown rule "zz"/));
  it('an input width that does not match the dataset exits 2 naming both', () =>
    expectUsage(['train', '--rule', 'bp', '--arch', '100-10'], /100 inputs but digits samples have 784 features/));
  it('a different optimizer without --lr exits 2 (no global guess)', () =>
    expectUsage(['train', '--rule', 'bp', '--optimizer', 'rmsprop'], /needs --lr as well/));
  it('an unknown command exits 2', () => expectUsage(['fly'], /unknown command 'fly'/));

  it('a finite loss that explodes stops the run with exit 1: a rate that blows the weights up at once, and weights out of scale', async () => {
    for (const [flags, message] of [
      [['--lr', '1e6'], /running loss .* at step 2 \(epoch 1, batch 2\) is over 100× (the loss at the initial weights|an all-zero output's loss on the first batch) \(2\.\d+\)/],
      [['--init', 'normal:1e30'], /the loss at the initial weights, .*e\+\d+ at step 1 \(epoch 1, batch 1\), is over 10000× the loss of an all-zero output \(2\.303\)/],
    ] as const) {
      for (const rule of ['bp', 'fa']) {
        const r = await runCli(['train', '--rule', rule, ...TINY, '--limit-train', '500', ...flags], tempDir());
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(message);
      }
    }
  });

  it('a truncated train-images-idx3-ubyte.gz fails with its file name, exit 1', async () => {
    const dir = tempDir('bioprop-bad-data-');
    mkdirSync(dir, { recursive: true });
    const header = (magic: number, dims: number[]) => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
      return b;
    };
    const images = gzipSync(Buffer.concat([header(0x803, [100, 28, 28]), Buffer.alloc(100 * 784, 7)]));
    const labels = gzipSync(Buffer.concat([header(0x801, [100]), Buffer.alloc(100, 1)]));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), images.subarray(0, Math.floor(images.length / 2)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), labels);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), images);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), labels);
    const r = await runCli(['train', '--rule', 'bp', '--dataset', 'fashion-mnist', '--data-dir', dir, '--epochs', '1', '--backend', 'wasm'], tempDir());
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(join(dir, 'train-images-idx3-ubyte.gz'));
  });

  it('a backend that is named but not installed is an error naming the package', async () => {
    // @tensorflow/tfjs-node is never installed here (its install step downloads libtensorflow); blas is a CLI dependency
    const r = await runCli(['train', '--rule', 'bp', ...TINY, '--backend', 'tensorflow'], tempDir());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('backend "tensorflow" is not available: @tensorflow/tfjs-node is not installed');
    expect(r.stdout).toBe('');
  });
});
