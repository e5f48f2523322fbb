import { join } from 'node:path';
import type { Command } from 'commander';
import { compareTable, readCompareState, runCompare, runOptionsOf, type CompareOptions, type CompareState } from '../compare.js';
import { EXIT, UsageError } from '../errors.js';
import { activateBackend } from '../options/backend.js';
import { loadRunData } from '../options/data.js';
import { DEFAULTS } from '../options/defaults.js';
import { withInterrupt } from '../options/interrupt.js';
import { commandLine } from '../options/invocation.js';
import { writeOutputs } from '../options/output.js';
import { pluginArgs, rulesFor } from '../options/plugins.js';
import { checkResumeFlags, resumedOptions } from '../options/resume.js';
import { addTrainingOptions, checkEarly, compareOptionsFrom, type TrainingFlags } from '../options/training.js';
import { jsonObject } from '../options/values.js';
import { createProgress } from '../progress.js';
import { parseRuleList } from '../rules.js';
import type { RuleOptions } from '../run.js';
import type { CommandContext } from './context.js';

interface CompareFlags extends TrainingFlags {
  rules?: string;
  ruleOptions?: Record<string, unknown>;
}

/** `bioprop compare`: several rules on the same data and seed; a table on stdout, results JSON and curves. */
export function compareCommand(root: Command, ctx: CommandContext): void {
  addTrainingOptions(
    root
      .command('compare')
      .description('train several rules on the same data and seed; print a table, write JSON and SVG curves')
      .option('--rules <ids>', 'comma-separated rule ids, or all (default: all installed)')
      .option('--rule-options <json>', 'rule options by rule id, e.g. \'{"fa": {...}}\' (a JSON object inline or a .json file)', jsonObject('--rule-options')),
  ).action(async (flags: CompareFlags, cmd: Command) => ctx.setCode(await compare(flags, cmd, ctx)));
}

/** `--rule-options` of compare: an object of rule options per compared rule id. */
function ruleOptionsById(value: Record<string, unknown> | undefined, rules: readonly string[]): Record<string, RuleOptions> | null {
  if (value === undefined) return null;
  for (const [id, o] of Object.entries(value)) {
    if (!rules.includes(id)) throw new UsageError(`--rule-options names "${id}", which is not compared (rules: ${rules.join(', ')})`);
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`--rule-options: the options of "${id}" must be a JSON object`);
  }
  return value as Record<string, RuleOptions>;
}

async function compare(flags: CompareFlags, cmd: Command, ctx: CommandContext): Promise<number> {
  const registry = await rulesFor(flags);
  let options: CompareOptions;
  let rules: string[];
  let resume: { dir: string; state: CompareState } | undefined;
  if (flags.resume) {
    checkResumeFlags(cmd);
    const state = await readCompareState(flags.resume);
    options = resumedOptions(cmd, flags, state.options);
    rules = state.rules;
    resume = { dir: flags.resume, state };
  } else {
    rules = parseRuleList(flags.rules, registry);
    options = { ...compareOptionsFrom(flags), ruleOptions: ruleOptionsById(flags.ruleOptions, rules) };
  }
  const entries = rules.map((id) => registry.entry(id));
  for (const entry of entries) checkEarly(entry, runOptionsOf(options, entry.id));
  const progress = createProgress();
  if (!flags.rules && !flags.resume && registry.missing.length) {
    progress.note(`note: not installed, so not compared: the rules of ${registry.missing.join(', ')}`);
  }
  const backend = await activateBackend(cmd, flags.backend, resume?.state.backend, progress.note);
  const data = await loadRunData(options, progress);
  progress.note(`comparing ${rules.join(', ')}: ${options.epochs} epoch(s), seed ${options.seed}; every option left out takes each rule's tuned default`);
  const outcome = await withInterrupt(progress, (signal) =>
    runCompare(
      {
        entries,
        options,
        checkpointDir: flags.checkpoint ?? flags.resume ?? null,
        interruptDir: join(DEFAULTS.checkpointRoot, `compare-seed${options.seed}`),
        resume,
        data,
      },
      { progress, signal, backend: backend.name },
    ),
  );
  if (outcome.status === 'stopped') {
    const next = commandLine(ctx.bin, ['compare', '--resume', outcome.checkpointDir, ...pluginArgs(flags)]);
    progress.note(`stopped: checkpoint saved to ${outcome.checkpointDir}; continue with: ${next}`);
    return EXIT.interrupted;
  }
  const first = outcome.results[0];
  ctx.out(
    `\n${data.name}, ${first?.arch ?? ''} ${options.epochs} epoch(s), seed ${options.seed}, backend ${backend.name}, ${data.train.count} train / ${data.test.count} test samples\n`,
  );
  ctx.out(`${compareTable(outcome.results, outcome.failures)}\n`);
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
}
