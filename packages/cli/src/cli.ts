import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BackendError, CheckpointError, DivergenceError, OptionError, RuleSupportError, presets, resolveActivation } from '@bioprop/core';
import { ALL_BACKENDS, BACKEND_CHOICES, measureSgemmPeak, useBackend, type BackendPreference } from './backend.js';
import { benchJsonRow, benchRule, benchShape, type BenchResult } from './bench.js';
import {
  compareTable,
  parseRuleList,
  readCompareState,
  readRunExtra,
  ruleEntry,
  runCompare,
  type CompareOptions,
  type CompareState,
} from './compare.js';
import { DATASETS, knownShape, loadData, type DatasetName } from './data.js';
import { EXIT, UsageError } from './errors.js';
import { archLayers, parseArch, parseInit } from './network.js';
import { renderCurvesSvg } from './plot.js';
import { createProgress, type Progress } from './progress.js';
import { readResultFiles, writeReport } from './report.js';
import { RULES, missingRuleIds, RULE_PACKAGES } from './rules.js';
import { OPTIMIZERS, resolveConfig, runOne, type OptimizerName, type RunOptions, type RunResult } from './run.js';
import { formatTable } from './table.js';

/** The default budget: short enough that `bioprop compare` over every rule on the embedded digits takes minutes. */
export const DEFAULTS = {
  dataset: 'digits' as DatasetName,
  epochs: 3,
  seed: 0,
  backend: 'auto' as BackendPreference,
  compareOut: 'bioprop-results.json',
  comparePlot: 'bioprop-curves.svg',
  checkpointRoot: 'bioprop-checkpoints',
};

// ------------------------------------------------------------------------------------------------
// value parsers: a bad value is a usage error (exit 2) naming the option

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^[-+]?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer, got "${value}".`);
    const n = Number(value);
    if (n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      throw new InvalidArgumentError(`${name} must be ${range}, got ${n}.`);
    }
    return n;
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got "${value}".`);
    return n;
  };
}

function archArg(value: string): string {
  try {
    parseArch(value);
    return value;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function initArg(value: string): string {
  try {
    parseInit(value);
    return value;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function activationArg(value: string): string {
  try {
    resolveActivation(value);
    return value;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `bench --backend`: a comma-separated list of backends, or `all` (every one that loads). */
type BenchBackend = BackendPreference | 'all';

function backendList(value: string): BenchBackend[] {
  const names = value.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'all' && !(BACKEND_CHOICES as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`unknown backend "${n}" (choose from all, ${BACKEND_CHOICES.join(', ')}).`);
    }
  }
  return names as BenchBackend[];
}

// ------------------------------------------------------------------------------------------------
// the options train and compare share

interface TrainingFlags {
  dataset: DatasetName;
  dataDir?: string;
  arch?: string;
  activation?: string;
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerName;
  lr?: number;
  init?: string;
  seed: number;
  limitTrain?: number;
  limitTest?: number;
  backend: BackendPreference;
  out?: string;
  plot?: string;
  checkpoint?: string;
  resume?: string;
  angles: boolean;
}

/** Options that `--resume` may change (everything else comes back from the checkpoint). */
const RESUMABLE = new Set(['epochs', 'backend', 'out', 'plot', 'checkpoint', 'resume', 'angles']);

function addTrainingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--dataset <name>', 'dataset').choices(DATASETS).default(DEFAULTS.dataset))
    .option('--data-dir <dir>', 'read the dataset files from this directory only')
    .option(
      '--arch <arch>',
      `layer widths, input first (default: <input>-256-256-<classes>; linear task 30-20-10), a preset (${Object.keys(presets).join(', ')}), or a JSON layer list (inline or a .json file)`,
      archArg,
    )
    .option('--activation <name>', "hidden activation (default: the rule's)", activationArg)
    .option('--epochs <n>', 'epochs', integer('--epochs', 1), DEFAULTS.epochs)
    .option('--batch-size <n>', "batch size (default: the rule's)", integer('--batch-size', 1))
    .addOption(new Option('--optimizer <name>', "optimizer of the forward weights (default: the rule's)").choices(OPTIMIZERS))
    .option('--lr <x>', "learning rate (default: the rule's)", positiveNumber('--lr'))
    .option('--init <init>', "kernel init: glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω, normal:σ (default: the rule's; a preset's own)", initArg)
    .option('--seed <n>', 'seed of the run (init, shuffling, rule state)', integer('--seed', 0, 0xffffffff), DEFAULTS.seed)
    .option('--limit-train <n>', 'use the first n training samples', integer('--limit-train', 1))
    .option('--limit-test <n>', 'use the first n test samples', integer('--limit-test', 1))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default(DEFAULTS.backend))
    .option('--out <file>', 'write results JSON here')
    .option('--plot <file>', 'write learning and alignment curves (SVG) here')
    .option('--checkpoint <dir>', 'save a checkpoint here at every epoch end and at the end')
    .option('--resume <dir>', 'continue the run saved in this checkpoint (bit-for-bit)')
    .option('--no-angles', 'skip the per-epoch angle to backprop');
}

function given(cmd: Command, key: string): boolean {
  return cmd.getOptionValueSource(key) === 'cli';
}

function runOptionsFrom(flags: TrainingFlags): Omit<RunOptions, 'rule'> {
  return {
    dataset: flags.dataset,
    dataDir: flags.dataDir ?? null,
    arch: flags.arch ?? null,
    activation: flags.activation ?? null,
    epochs: flags.epochs,
    batchSize: flags.batchSize ?? null,
    optimizer: flags.optimizer ?? null,
    lr: flags.lr ?? null,
    init: flags.init ?? null,
    seed: flags.seed,
    limitTrain: flags.limitTrain ?? null,
    limitTest: flags.limitTest ?? null,
    angles: flags.angles,
  };
}

/** Resumed runs take their options from the checkpoint; only a few may change. */
function checkResumeFlags(cmd: Command): void {
  const changed = Object.keys(cmd.opts()).filter((k) => given(cmd, k) && !RESUMABLE.has(k));
  if (changed.length) {
    const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(
      `--resume takes the run's options from the checkpoint; ${changed.map(flag).join(', ')} cannot change (only --epochs, --backend, --out, --plot, --checkpoint, --no-angles can)`,
    );
  }
}

/** The backend of a resumed run is the one it ran on, unless `--backend` is given. */
function backendFor(cmd: Command, flag: BackendPreference, saved: string | undefined): BackendPreference {
  if (given(cmd, 'backend') || saved === undefined) return flag;
  return (BACKEND_CHOICES as readonly string[]).includes(saved) ? (saved as BackendPreference) : flag;
}

/** Catch option problems before loading data: arch vs dataset widths, optimizer without lr. */
function checkEarly(options: RunOptions): void {
  const entry = ruleEntry(options.rule);
  const shape = knownShape(options.dataset);
  const config = resolveConfig(entry, options, { ...shape, task: options.dataset === 'linear' ? 'regression' : 'classification' });
  // builds the layer specs (not the weights): a preset or layer list that does not fit the data fails here
  archLayers(config.arch, shape, config);
}

async function writeText(file: string, text: string): Promise<void> {
  await mkdir(dirname(resolve(file)), { recursive: true });
  await writeFile(file, text);
}

/** Ctrl-C: the first stops after the current step and saves a checkpoint; a second quits at once. */
function interruptOnSigint(progress: Progress): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      progress.note('interrupted again: quitting without saving');
      process.exit(EXIT.interrupted);
    }
    progress.note('interrupt: stopping after the current step and saving a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

// ------------------------------------------------------------------------------------------------
// commands

async function trainCommand(flags: TrainingFlags & { rule?: string }, cmd: Command, out: (s: string) => void): Promise<number> {
  let options: RunOptions;
  let resumeExtra;
  if (flags.resume) {
    checkResumeFlags(cmd);
    resumeExtra = await readRunExtra(flags.resume);
    options = {
      ...resumeExtra.options,
      epochs: given(cmd, 'epochs') ? flags.epochs : resumeExtra.options.epochs,
      angles: given(cmd, 'angles') ? flags.angles : resumeExtra.options.angles,
    };
  } else {
    if (!flags.rule) throw new UsageError("train needs --rule <id> (installed rules: see 'bioprop rules')");
    options = { ...runOptionsFrom(flags), rule: flags.rule };
  }
  const entry = ruleEntry(options.rule);
  checkEarly(options);
  const progress = createProgress();
  if (options.dataset === 'digits' && options.dataDir) progress.note('note: --data-dir is not used by --dataset digits (embedded data)');
  const backend = await useBackend(backendFor(cmd, flags.backend, resumeExtra?.backend), progress.note);
  const data = await loadData({ dataset: options.dataset, dataDir: options.dataDir ?? undefined, limitTrain: options.limitTrain ?? undefined, limitTest: options.limitTest ?? undefined });
  progress.note(`data: ${data.name}, ${data.train.count} training and ${data.test.count} test samples from ${data.source}`);
  const interrupt = interruptOnSigint(progress);
  try {
    const outcome = await runOne({
      entry,
      options,
      data,
      backend: backend.name,
      progress,
      signal: interrupt.signal,
      checkpointDir: flags.checkpoint ?? flags.resume ?? null,
      interruptDir: join(DEFAULTS.checkpointRoot, `${options.rule}-seed${options.seed}`),
      resumeDir: flags.resume,
      resumeExtra,
      label: `[${options.rule}]`,
    });
    if (outcome.status === 'stopped') {
      progress.note(`stopped: checkpoint saved to ${outcome.checkpointDir}; continue with: bioprop train --resume ${outcome.checkpointDir}`);
      return EXIT.interrupted;
    }
    out(`${compareTable([outcome.result])}\n`);
    await writeOutputs({ json: flags.out, plot: flags.plot, value: outcome.result, results: [outcome.result] }, progress);
    return EXIT.ok;
  } finally {
    interrupt.dispose();
  }
}

async function writeOutputs(what: { json?: string; plot?: string; value: unknown; results: RunResult[] }, progress: Progress): Promise<void> {
  if (what.json) {
    await writeText(what.json, `${JSON.stringify(what.value, null, 2)}\n`);
    progress.note(`results: ${what.json}`);
  }
  if (what.plot) {
    await writeText(what.plot, await renderCurvesSvg(what.results));
    progress.note(`curves: ${what.plot}`);
  }
}

async function compareCommand(flags: TrainingFlags & { rules?: string }, cmd: Command, out: (s: string) => void): Promise<number> {
  let options: CompareOptions;
  let rules: string[];
  let resume: { dir: string; state: CompareState } | undefined;
  if (flags.resume) {
    checkResumeFlags(cmd);
    const state = await readCompareState(flags.resume);
    options = {
      ...state.options,
      epochs: given(cmd, 'epochs') ? flags.epochs : state.options.epochs,
      angles: given(cmd, 'angles') ? flags.angles : state.options.angles,
    };
    rules = state.rules;
    rules.forEach((r) => ruleEntry(r));
    resume = { dir: flags.resume, state };
  } else {
    options = runOptionsFrom(flags);
    rules = parseRuleList(flags.rules);
  }
  for (const rule of rules) checkEarly({ ...options, rule });
  const progress = createProgress();
  const missing = missingRuleIds();
  if (!flags.rules && !flags.resume && missing.length) {
    progress.note(`note: not installed, so not compared: ${missing.join(', ')}`);
  }
  const backend = await useBackend(backendFor(cmd, flags.backend, resume?.state.backend), progress.note);
  const data = await loadData({ dataset: options.dataset, dataDir: options.dataDir ?? undefined, limitTrain: options.limitTrain ?? undefined, limitTest: options.limitTest ?? undefined });
  progress.note(`data: ${data.name}, ${data.train.count} training and ${data.test.count} test samples from ${data.source}`);
  progress.note(`comparing ${rules.join(', ')}: ${options.epochs} epoch(s), seed ${options.seed}; every option left out takes each rule's tuned default`);
  const interrupt = interruptOnSigint(progress);
  try {
    const outcome = await runCompare(
      {
        rules,
        options,
        checkpointDir: flags.checkpoint ?? flags.resume ?? null,
        interruptDir: join(DEFAULTS.checkpointRoot, `compare-seed${options.seed}`),
        resume,
        data,
      },
      { progress, signal: interrupt.signal, backend: backend.name },
    );
    if (outcome.status === 'stopped') {
      progress.note(`stopped: checkpoint saved to ${outcome.checkpointDir}; continue with: bioprop compare --resume ${outcome.checkpointDir}`);
      return EXIT.interrupted;
    }
    const first = outcome.results[0];
    out(
      `\n${data.name}, ${first?.arch ?? ''} ${options.epochs} epoch(s), seed ${options.seed}, backend ${backend.name}, ${data.train.count} train / ${data.test.count} test samples\n`,
    );
    out(`${compareTable(outcome.results, outcome.failures)}\n`);
    await writeOutputs(
      {
        json: flags.out ?? DEFAULTS.compareOut,
        plot: flags.plot ?? DEFAULTS.comparePlot,
        value: { results: outcome.results, failures: outcome.failures },
        results: outcome.results,
      },
      progress,
    );
    return outcome.failures.length ? EXIT.failure : EXIT.ok;
  } finally {
    interrupt.dispose();
  }
}

function rulesCommand(flags: { json?: boolean }, out: (s: string) => void): number {
  const entries = [...RULES.values()];
  if (flags.json) {
    out(
      `${JSON.stringify(
        entries.map((e) => ({ id: e.id, name: e.name, summary: e.summary, supports: e.supports, package: RULE_PACKAGES[e.id] ?? null, defaults: e.defaults })),
        null,
        2,
      )}\n`,
    );
    return EXIT.ok;
  }
  const body = entries.map((e) => [e.id, e.name, e.summary]);
  out(`${formatTable(['id', 'name', 'summary'], body)}\n`);
  const missing = missingRuleIds();
  if (missing.length) {
    const pkgs = [...new Set(missing.map((id) => RULE_PACKAGES[id]))];
    process.stderr.write(`not installed: ${missing.join(', ')} (packages ${pkgs.join(', ')})\n`);
  }
  return EXIT.ok;
}

interface BenchFlags {
  rules?: string;
  arch: string;
  batchSize?: number;
  activation?: string;
  optimizer?: OptimizerName;
  lr?: number;
  seed: number;
  backend: BenchBackend[];
  minTime: number;
  json?: boolean;
}

/** The backends to time: named ones must load (an error otherwise); those `all` adds are skipped when absent. */
function benchBackends(list: readonly BenchBackend[]): { preference: BackendPreference; required: boolean }[] {
  const out: { preference: BackendPreference; required: boolean }[] = [];
  for (const b of list) {
    if (b === 'all') out.push(...ALL_BACKENDS.map((preference) => ({ preference, required: false })));
    else out.push({ preference: b, required: true });
  }
  return out;
}

const percent = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

async function benchCommand(flags: BenchFlags, out: (s: string) => void): Promise<number> {
  const rules = parseRuleList(flags.rules);
  const note = (line: string) => void process.stderr.write(`${line}\n`);
  const shape = benchShape(parseArch(flags.arch));
  for (const rule of rules) resolveConfig(ruleEntry(rule), { ...benchRunOptions(flags), rule }, { ...shape, task: 'classification' });
  // one peak per run, before any step is timed, so every row divides by the same figure
  const peak = await measureSgemmPeak();
  if (peak.gflops === null) {
    note(`sgemm peak: not measured (blas: ${peak.why}); sgemmPeakGflops and efficiency are null`);
  } else {
    note(`sgemm peak: ${peak.gflops.toFixed(1)} GFLOP/s (1024² sgemm, best of 10; ${peak.openblas}); efficiency = gflops / peak`);
  }
  const results: BenchResult[] = [];
  const done = new Set<string>();
  for (const { preference, required } of benchBackends(flags.backend)) {
    let choice;
    try {
      choice = await useBackend(preference, note);
    } catch (err) {
      if (required || !(err instanceof BackendError)) throw err;
      note(`skipped ${preference}: ${err.message}`);
      continue;
    }
    if (done.has(choice.name)) {
      note(`skipped ${preference}: ${choice.name} is already timed in this run`);
      continue;
    }
    done.add(choice.name);
    for (const rule of rules) {
      const r = await benchRule(ruleEntry(rule), {
        arch: flags.arch,
        batchSize: flags.batchSize ?? null,
        activation: flags.activation ?? null,
        optimizer: flags.optimizer ?? null,
        lr: flags.lr ?? null,
        seed: flags.seed,
        minSeconds: flags.minTime,
        backend: choice.name,
        sgemmPeakGflops: peak.gflops,
      });
      note(
        `${r.rule} on ${r.backend}: ${r.msPerStep.toFixed(2)} ms/step (median ${r.msPerStepMedian.toFixed(2)}, best ${r.msPerStepBest.toFixed(2)}, ${r.steps} steps), ` +
          `${Math.round(r.samplesPerSecond)} samples/s (median ${Math.round((r.batchSize * 1000) / r.msPerStepMedian)}, best ${Math.round((r.batchSize * 1000) / r.msPerStepBest)}), ` +
          `${r.gflops.toFixed(2)} GFLOP/s` +
          (r.efficiency === null || r.sgemmPeakGflops === null
            ? ''
            : `, efficiency ${percent(r.efficiency)} (median ${percent(r.flopsPerStep / (r.msPerStepMedian * 1e6) / r.sgemmPeakGflops)}, best ${percent(r.flopsPerStep / (r.msPerStepBest * 1e6) / r.sgemmPeakGflops)})`),
      );
      results.push(r);
    }
  }
  if (flags.json) {
    out(`${JSON.stringify(results.map(benchJsonRow), null, 2)}\n`);
  } else {
    out(
      `${formatTable(
        ['rule', 'backend', 'arch', 'batch', 'ms/step', 'median ms', 'best ms', 'samples/s', 'GFLOP/s', 'of sgemm peak'],
        results.map((r) => [
          r.rule,
          r.backend,
          r.arch,
          String(r.batchSize),
          r.msPerStep.toFixed(2),
          r.msPerStepMedian.toFixed(2),
          r.msPerStepBest.toFixed(2),
          Math.round(r.samplesPerSecond).toLocaleString('en-US'),
          r.gflops.toFixed(2),
          percent(r.efficiency),
        ]),
      )}\n`,
    );
  }
  return EXIT.ok;
}

function benchRunOptions(flags: BenchFlags): Omit<RunOptions, 'rule'> {
  return {
    dataset: 'digits',
    dataDir: null,
    arch: flags.arch,
    activation: flags.activation ?? null,
    epochs: 1,
    batchSize: flags.batchSize ?? null,
    optimizer: flags.optimizer ?? null,
    lr: flags.lr ?? null,
    init: null,
    seed: flags.seed,
    limitTrain: null,
    limitTest: null,
    angles: false,
  };
}

interface ReportFlags {
  dataset: DatasetName;
  dataDir?: string;
  rules?: string;
  arch: string;
  activation: string;
  epochs: number;
  seeds: number[];
  limitTrain?: number;
  limitTest?: number;
  backend: BackendPreference;
  workDir: string;
  out: string;
  plot: string;
  json: string;
  from?: string;
}

async function reportCommand(flags: ReportFlags, argv: readonly string[]): Promise<number> {
  const progress = createProgress();
  const command = `bioprop ${argv.join(' ')}`.trim();
  let perSeed: RunResult[][] = [];
  const failures: { seed: number; rule: string; error: string }[] = [];
  if (flags.from) {
    perSeed = await readResultFiles(flags.from.split(',').map((s) => s.trim()).filter(Boolean));
  } else {
    const rules = parseRuleList(flags.rules);
    const options: CompareOptions = {
      dataset: flags.dataset,
      dataDir: flags.dataDir ?? null,
      arch: flags.arch,
      activation: flags.activation,
      epochs: flags.epochs,
      batchSize: null,
      optimizer: null,
      lr: null,
      init: null,
      seed: flags.seeds[0],
      limitTrain: flags.limitTrain ?? null,
      limitTest: flags.limitTest ?? null,
      angles: true,
    };
    for (const rule of rules) checkEarly({ ...options, rule });
    const backend = await useBackend(flags.backend, progress.note);
    const data = await loadData({ dataset: options.dataset, dataDir: options.dataDir ?? undefined, limitTrain: options.limitTrain ?? undefined, limitTest: options.limitTest ?? undefined });
    progress.note(`data: ${data.name}, ${data.train.count} training and ${data.test.count} test samples from ${data.source}`);
    const interrupt = interruptOnSigint(progress);
    try {
      for (const seed of flags.seeds) {
        const dir = join(flags.workDir, `seed-${seed}`);
        const seedOptions = { ...options, seed };
        let resume: { dir: string; state: CompareState } | undefined;
        if (existsSync(join(dir, 'compare.json'))) {
          const state = await readCompareState(dir);
          if (JSON.stringify(state.options) === JSON.stringify(seedOptions) && JSON.stringify(state.rules) === JSON.stringify(rules)) {
            resume = { dir, state };
            progress.note(`seed ${seed}: continuing from ${dir}`);
          } else {
            progress.note(`seed ${seed}: ${dir} holds a run with other options; starting over`);
          }
        }
        const outcome = await runCompare(
          { rules, options: seedOptions, checkpointDir: dir, interruptDir: dir, resume, data },
          { progress, signal: interrupt.signal, backend: backend.name },
        );
        if (outcome.status === 'stopped') {
          progress.note(`stopped: progress kept in ${flags.workDir}; run the same command again to continue`);
          return EXIT.interrupted;
        }
        perSeed.push(outcome.results);
        for (const f of outcome.failures) failures.push({ seed, ...f });
      }
    } finally {
      interrupt.dispose();
    }
  }
  await writeReport({ perSeed, failures, command, plotPath: flags.plot, outPath: flags.out, jsonPath: flags.json || null });
  progress.note(`report: ${flags.out} (curves ${flags.plot}${flags.json ? `, runs ${flags.json}` : ''})`);
  return failures.length ? EXIT.failure : EXIT.ok;
}

// ------------------------------------------------------------------------------------------------

/** Build the commander program; `run` records the exit code of the command that ran. */
function program(argv: readonly string[], out: (s: string) => void, setCode: (code: number) => void): Command {
  const root = new Command('bioprop')
    .description('Train, compare and benchmark biologically plausible learning rules against backprop.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => out(s), writeErr: (s) => void process.stderr.write(s) });

  addTrainingOptions(
    root
      .command('train')
      .description("train one rule; every option left out takes the rule's tuned default")
      .option('--rule <id>', 'rule id (see bioprop rules)'),
  ).action(async (flags, cmd: Command) => setCode(await trainCommand(flags, cmd, out)));

  addTrainingOptions(
    root
      .command('compare')
      .description('train several rules on the same data and seed; print a table, write JSON and SVG curves')
      .option('--rules <ids>', 'comma-separated rule ids, or all (default: all installed)'),
  ).action(async (flags, cmd: Command) => setCode(await compareCommand(flags, cmd, out)));

  root
    .command('rules')
    .description('list the installed rules')
    .option('--json', 'print the entries (with their tuned defaults) as JSON')
    .action((flags) => setCode(rulesCommand(flags, out)));

  root
    .command('bench')
    .description('samples/s of one training step per rule and backend')
    .option('--rules <ids>', 'comma-separated rule ids, or all (default: all installed)')
    .option('--arch <arch>', 'layer widths (input first), a preset, or a JSON layer list', archArg, '784-256-256-10')
    .option('--batch-size <n>', "batch size (default: the rule's)", integer('--batch-size', 1))
    .option('--activation <name>', "hidden activation (default: the rule's)", activationArg)
    .addOption(new Option('--optimizer <name>', "optimizer (default: the rule's)").choices(OPTIMIZERS))
    .option('--lr <x>', "learning rate (default: the rule's)", positiveNumber('--lr'))
    .option('--seed <n>', 'seed', integer('--seed', 0, 0xffffffff), 0)
    .option('--backend <names>', `comma-separated backends (${BACKEND_CHOICES.join(', ')}), or all: every one that loads`, backendList, ['auto'] as BenchBackend[])
    .option('--min-time <s>', 'time each rule for at least this many seconds', positiveNumber('--min-time'), 1)
    .option('--json', 'print only a JSON array on stdout (notes go to stderr)')
    .action(async (flags) => setCode(await benchCommand(flags, out)));

  root
    .command('report')
    .description('reproduction report: every rule on full Fashion-MNIST, 784-256-256-10 tanh, 10 epochs, fixed seeds → docs/results.md')
    .addOption(new Option('--dataset <name>', 'dataset').choices(DATASETS).default('fashion-mnist'))
    .option('--data-dir <dir>', 'read the dataset files from this directory only')
    .option('--rules <ids>', 'comma-separated rule ids (default: all installed)')
    .option('--arch <arch>', 'layer widths (input first), a preset, or a JSON layer list', archArg, '784-256-256-10')
    .option('--activation <name>', 'hidden activation', activationArg, 'tanh')
    .option('--epochs <n>', 'epochs', integer('--epochs', 1), 10)
    .option('--seeds <list>', 'comma-separated seeds', (v: string) => v.split(',').map((s) => integer('--seeds', 0, 0xffffffff)(s)), [1, 2, 3])
    .option('--limit-train <n>', 'use the first n training samples', integer('--limit-train', 1))
    .option('--limit-test <n>', 'use the first n test samples', integer('--limit-test', 1))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default('auto'))
    .option('--work-dir <dir>', 'checkpoints of the runs (an interrupted report continues from here)', join('bioprop-checkpoints', 'report'))
    .option('--out <file>', 'the markdown report', join('docs', 'results.md'))
    .option('--plot <file>', 'the SVG of the curves', join('docs', 'results.svg'))
    .option('--json <file>', 'every run as JSON', join('docs', 'results.json'))
    .option('--from <files>', 'render from earlier compare --out files (one per seed) instead of training')
    .action(async (flags) => setCode(await reportCommand(flags, argv)));

  return root;
}

/** Run the CLI on `argv` (without node and script); resolves with the exit code. */
export async function main(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let code: number = EXIT.ok;
  const cmd = program(argv, out, (c) => (code = c));
  try {
    await cmd.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every parse error is a usage error
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const e = err as Error;
    if (err instanceof UsageError || err instanceof OptionError) {
      process.stderr.write(`bioprop: usage error: ${e.message}\n(run bioprop --help for usage)\n`);
      return EXIT.usage;
    }
    const known = err instanceof BackendError || err instanceof CheckpointError || err instanceof DivergenceError || err instanceof RuleSupportError;
    const named = e?.name && e.name !== 'Error' && !known ? `${e.name}: ` : '';
    process.stderr.write(`bioprop: error: ${named}${e?.message ?? String(err)}\n`);
    // the loaders speak to library users ({ dir }); say it the command line's way
    if (e?.name === 'DatasetNotFoundError') process.stderr.write('(with bioprop: --data-dir DIR reads the files from DIR)\n');
    if (process.env.BIOPROP_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT.failure;
  }
}
