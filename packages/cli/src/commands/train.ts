import { join } from 'node:path';
import type { Command } from 'commander';
import { compareTable, readRunExtra } from '../compare.js';
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
import { runOne, type RuleOptions, type RunCheckpointExtra, type RunOptions } from '../run.js';
import type { CommandContext } from './context.js';

interface TrainFlags extends TrainingFlags {
  rule?: string;
  ruleOptions?: RuleOptions;
}

/** `bioprop train`: one rule, a one-row table on stdout, results JSON and curves on request. */
export function trainCommand(root: Command, ctx: CommandContext): void {
  addTrainingOptions(
    root
      .command('train')
      .description("train one rule; every option left out takes the rule's tuned default")
      .option('--rule <id>', 'rule id (see bioprop rules)')
      .option('--rule-options <json>', "the rule's options as a JSON object, inline or a .json file (see bioprop rules --json)", jsonObject('--rule-options')),
  ).action(async (flags: TrainFlags, cmd: Command) => ctx.setCode(await train(flags, cmd, ctx)));
}

async function train(flags: TrainFlags, cmd: Command, ctx: CommandContext): Promise<number> {
  let options: RunOptions;
  let resumeExtra: RunCheckpointExtra | undefined;
  if (flags.resume) {
    checkResumeFlags(cmd);
    resumeExtra = await readRunExtra(flags.resume);
    options = resumedOptions(cmd, flags, resumeExtra.options);
  } else {
    if (!flags.rule) throw new UsageError(`train needs --rule <id> (installed rules: see '${ctx.bin} rules')`);
    options = { ...compareOptionsFrom(flags), rule: flags.rule, ruleOptions: flags.ruleOptions ?? null };
  }
  const registry = await rulesFor(flags);
  const entry = registry.entry(options.rule);
  checkEarly(entry, options);
  const progress = createProgress();
  const backend = await activateBackend(cmd, flags.backend, resumeExtra?.backend, progress.note);
  const data = await loadRunData(options, progress);
  const outcome = await withInterrupt(progress, (signal) =>
    runOne({
      entry,
      options,
      data,
      backend: backend.name,
      progress,
      signal,
      checkpointDir: flags.checkpoint ?? flags.resume ?? null,
      interruptDir: join(DEFAULTS.checkpointRoot, `${options.rule}-seed${options.seed}`),
      resumeDir: flags.resume,
      resumeExtra,
      label: `[${options.rule}]`,
    }),
  );
  if (outcome.status === 'stopped') {
    const next = commandLine(ctx.bin, ['train', '--resume', outcome.checkpointDir, ...pluginArgs(flags)]);
    progress.note(`stopped: checkpoint saved to ${outcome.checkpointDir}; continue with: ${next}`);
    return EXIT.interrupted;
  }
  ctx.out(`${compareTable([outcome.result])}\n`);
  await writeOutputs({ json: flags.out, plot: flags.plot, value: outcome.result, results: [outcome.result] }, progress);
  return EXIT.ok;
}
