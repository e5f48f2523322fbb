import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { BACKEND_CHOICES, useBackend, type BackendPreference } from '../backend.js';
import { readCompareState, runCompare, runOptionsOf, type CompareOptions, type CompareState } from '../compare.js';
import { DATASETS, type DatasetName } from '../data.js';
import { EXIT } from '../errors.js';
import { loadRunData } from '../options/data.js';
import { withInterrupt } from '../options/interrupt.js';
import { addPluginOption, rulesFor } from '../options/plugins.js';
import { checkEarly } from '../options/training.js';
import { activationArg, archArg, integer, seedList } from '../options/values.js';
import { createProgress } from '../progress.js';
import { readResultFiles, writeReport } from '../report.js';
import { parseRuleList } from '../rules.js';
import type { RunResult } from '../run.js';
import type { CommandContext } from './context.js';

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
  plugin?: string[];
}

/** `bioprop report`: every rule over several seeds → docs/results.md, the curves and the runs' JSON. */
export function reportCommand(root: Command, ctx: CommandContext): void {
  addPluginOption(
    root
      .command('report')
      .description('reproduction report: every rule on full Fashion-MNIST, 784-256-256-10 tanh, 10 epochs, fixed seeds → docs/results.md')
      .addOption(new Option('--dataset <name>', 'dataset').choices(DATASETS).default('fashion-mnist'))
      .option('--data-dir <dir>', 'read the dataset files from this directory only')
      .option('--rules <ids>', 'comma-separated rule ids (default: all installed)')
      .option('--arch <arch>', 'layer widths (input first), a preset, or a JSON layer list', archArg, '784-256-256-10')
      .option('--activation <name>', 'hidden activation', activationArg, 'tanh')
      .option('--epochs <n>', 'epochs', integer('--epochs', 1), 10)
      .option('--seeds <list>', 'comma-separated seeds', seedList, [1, 2, 3])
      .option('--limit-train <n>', 'use the first n training samples', integer('--limit-train', 1))
      .option('--limit-test <n>', 'use the first n test samples', integer('--limit-test', 1))
      .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default('auto'))
      .option('--work-dir <dir>', 'checkpoints of the runs (an interrupted report continues from here)', join('bioprop-checkpoints', 'report'))
      .option('--out <file>', 'the markdown report', join('docs', 'results.md'))
      .option('--plot <file>', 'the SVG of the curves', join('docs', 'results.svg'))
      .option('--json <file>', 'every run as JSON', join('docs', 'results.json'))
      .option('--from <files>', 'render from earlier compare --out files (one per seed) instead of training'),
  ).action(async (flags: ReportFlags) => ctx.setCode(await report(flags, ctx)));
}

async function report(flags: ReportFlags, ctx: CommandContext): Promise<number> {
  const progress = createProgress();
  const command = `bioprop ${ctx.argv.join(' ')}`.trim();
  let perSeed: RunResult[][] = [];
  const failures: { seed: number; rule: string; error: string }[] = [];
  if (flags.from) {
    perSeed = await readResultFiles(flags.from.split(',').map((s) => s.trim()).filter(Boolean));
  } else {
    const registry = await rulesFor(flags);
    const rules = parseRuleList(flags.rules, registry);
    const entries = rules.map((id) => registry.entry(id));
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
    for (const entry of entries) checkEarly(entry, runOptionsOf(options, entry.id));
    const backend = await useBackend(flags.backend, progress.note);
    const data = await loadRunData(options, progress);
    const stopped = await withInterrupt(progress, async (signal) => {
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
          { entries, options: seedOptions, checkpointDir: dir, interruptDir: dir, resume, data },
          { progress, signal, backend: backend.name },
        );
        if (outcome.status === 'stopped') return true;
        perSeed.push(outcome.results);
        for (const f of outcome.failures) failures.push({ seed, ...f });
      }
      return false;
    });
    if (stopped) {
      progress.note(`stopped: progress kept in ${flags.workDir}; run the same command again to continue`);
      return EXIT.interrupted;
    }
  }
  await writeReport({ perSeed, failures, command, plotPath: flags.plot, outPath: flags.out, jsonPath: flags.json || null });
  progress.note(`report: ${flags.out} (curves ${flags.plot}${flags.json ? `, runs ${flags.json}` : ''})`);
  return failures.length ? EXIT.failure : EXIT.ok;
}
