import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { pluginArgs, rulesFor } from '../options/plugins.js';
import { given } from '../options/resume.js';
import { addTrainingOptions, checkResumeFlags, experimentFromTraining, sessionOutputs, type TrainingFlags } from '../options/training.js';
import { jsonObject } from '../options/values.js';
import type { RuleOptions } from '../run.js';
import { resumeFolder, runSession } from '../session.js';
import type { CommandContext } from './context.js';

interface TrainFlags extends TrainingFlags {
  rule?: string;
  ruleOptions?: RuleOptions;
}

/** `bioprop train`: one rule (over one or more seeds) in a new run folder; a table on stdout. */
export function trainCommand(root: Command, ctx: CommandContext): void {
  addTrainingOptions(
    root
      .command('train')
      .description("train one rule in a run folder (runs/<name>-<time>/); every option left out takes the rule's tuned default")
      .option('--rule <id>', 'rule id (see bioprop rules)')
      .option('--rule-options <json>', "the rule's options as a JSON object, inline or a .json file (see bioprop rules --json)", jsonObject('--rule-options')),
  ).action(async (flags: TrainFlags, cmd: Command) => ctx.setCode(await train(flags, cmd, ctx)));
}

async function train(flags: TrainFlags, cmd: Command, ctx: CommandContext): Promise<number> {
  const registry = await rulesFor(flags);
  const outputs = sessionOutputs(flags, true);
  if (flags.resume) {
    checkResumeFlags(cmd);
    const { folder, experiment } = resumeFolder(flags.resume, given(cmd, 'epochs') ? flags.epochs : undefined);
    return runSession({ experiment, registry, outputs, resume: { folder }, backend: given(cmd, 'backend') ? flags.backend : undefined, resumeArgs: ['train', ...pluginArgs(flags)] }, ctx);
  }
  if (!flags.rule) throw new UsageError(`train needs --rule <id> (installed rules: see '${ctx.bin} rules')`);
  registry.entry(flags.rule);
  const experiment = experimentFromTraining(flags, [{ id: flags.rule, options: flags.ruleOptions }]);
  return runSession({ experiment, registry, outputs, resumeArgs: ['train', ...pluginArgs(flags)] }, ctx);
}
