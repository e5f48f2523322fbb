import { Option, type Command } from 'commander';
import { BackendError } from '@bioprop/core';
import { ALL_BACKENDS, BACKEND_CHOICES, measureSgemmPeak, readsAsynchronously, useBackend, type BackendPreference } from '../backend.js';
import { benchJsonRow, benchRule, benchShape, type BenchResult } from '../bench.js';
import { EXIT } from '../errors.js';
import { parseArch } from '../network.js';
import { addPluginOption, rulesFor } from '../options/plugins.js';
import { activationArg, archArg, backendList, integer, positiveNumber, type BenchBackend } from '../options/values.js';
import { parseRuleList } from '../rules.js';
import { OPTIMIZERS, resolveConfig, type OptimizerName, type RunOptions } from '../run.js';
import { formatTable } from '../table.js';
import type { CommandContext } from './context.js';

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
  plugin?: string[];
}

/** `bioprop bench`: samples/s of one training step per rule and backend, against the machine's sgemm peak. */
export function benchCommand(root: Command, ctx: CommandContext): void {
  addPluginOption(
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
      .option('--json', 'print only a JSON array on stdout (notes go to stderr)'),
  ).action(async (flags: BenchFlags) => ctx.setCode(await bench(flags, ctx)));
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

function benchRunOptions(flags: BenchFlags, rule: string): RunOptions {
  return {
    rule,
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

const percent = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

async function bench(flags: BenchFlags, ctx: CommandContext): Promise<number> {
  const registry = await rulesFor(flags);
  const entries = parseRuleList(flags.rules, registry).map((id) => registry.entry(id));
  const note = (line: string) => void process.stderr.write(`${line}\n`);
  const shape = benchShape(parseArch(flags.arch));
  for (const entry of entries) resolveConfig(entry, benchRunOptions(flags, entry.id), { ...shape, task: 'classification' });
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
    // `all` takes webgpu as `auto` does: on a hardware adapter only (name it to time a software one)
    if (!required && choice.adapter?.isSoftware) {
      note(`skipped ${preference}: software adapter ${choice.adapter.description}; ask for it by name (--backend webgpu) to time it`);
      continue;
    }
    done.add(choice.name);
    const adapter = choice.adapter ? `${choice.adapter.isSoftware ? 'software' : 'hardware'} adapter ${choice.adapter.description}` : undefined;
    if (adapter) note(`${choice.name}: ${adapter}`);
    for (const entry of entries) {
      const r = await benchRule(entry, {
        arch: flags.arch,
        batchSize: flags.batchSize ?? null,
        activation: flags.activation ?? null,
        optimizer: flags.optimizer ?? null,
        lr: flags.lr ?? null,
        seed: flags.seed,
        minSeconds: flags.minTime,
        backend: choice.name,
        sgemmPeakGflops: peak.gflops,
        asyncSteps: readsAsynchronously(choice.tfBackend),
        adapter,
      });
      note(
        `${r.rule} on ${r.backend}${r.adapter ? ` (${r.adapter})` : ''}: ${r.msPerStep.toFixed(2)} ms/step (median ${r.msPerStepMedian.toFixed(2)}, best ${r.msPerStepBest.toFixed(2)}, ${r.steps} steps), ` +
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
    ctx.out(`${JSON.stringify(results.map(benchJsonRow), null, 2)}\n`);
    return EXIT.ok;
  }
  ctx.out(
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
  return EXIT.ok;
}
