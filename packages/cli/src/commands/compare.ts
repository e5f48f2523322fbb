import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { RuleRef } from '../experiment.js';
import { pluginArgs, rulesFor } from '../options/plugins.js';
import { given } from '../options/resume.js';
import { addTrainingOptions, checkResumeFlags, experimentFromTraining, sessionOutputs, type TrainingFlags } from '../options/training.js';
import { jsonObject } from '../options/values.js';
import { createProgress } from '../progress.js';
import { parseRuleList } from '../rules.js';
import type { RuleOptions } from '../run.js';
import { resumeFolder, runSession } from '../session.js';
import type { CommandContext } from './context.js';

interface CompareFlags extends TrainingFlags {
  rules?: string;
  ruleOptions?: Record<string, unknown>;
}

/** `bioprop compare`: several rules on the same data and seeds, in one run folder; a table on stdout. */
export function compareCommand(root: Command, ctx: CommandContext): void {
  addTrainingOptions(
    root
      .command('compare')
      .description('train several rules on the same data and seeds in one run folder; print a table (mean ± std over seeds)')
      .option('--rules <ids>', 'comma-separated rule ids, or all (default: all installed)')
      .option('--rule-options <json>', 'rule options by rule id, e.g. \'{"fa": {...}}\' (a JSON object inline or a .json file)', jsonObject('--rule-options'))
      .option('--same-optimizer', 'like for like: every rule with one optimizer, schedule, init and batch size (Adam 1e-3, batch 32, glorot unless given)'),
  ).action(async (flags: CompareFlags, cmd: Command) => ctx.setCode(await compare(flags, cmd, ctx)));
}

/** `--rule-options` of compare: an object of rule options per compared rule id. */
function ruleOptionsById(value: Record<string, unknown> | undefined, rules: readonly string[]): Record<string, RuleOptions> {
  if (value === undefined) return {};
  for (const [id, o] of Object.entries(value)) {
    if (!rules.includes(id)) throw new UsageError(`--rule-options names "${id}", which is not compared (rules: ${rules.join(', ')})`);
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`--rule-options: the options of "${id}" must be a JSON object`);
  }
  return value as Record<string, RuleOptions>;
}

async function compare(flags: CompareFlags, cmd: Command, ctx: CommandContext): Promise<number> {
  const registry = await rulesFor(flags);
  const outputs = sessionOutputs(flags);
  const resumeArgs = ['compare', ...pluginArgs(flags)];
  if (flags.resume) {
    checkResumeFlags(cmd);
    const { folder, experiment } = resumeFolder(flags.resume, given(cmd, 'epochs') ? flags.epochs : undefined);
    return runSession({ experiment, registry, outputs, resume: { folder }, backend: given(cmd, 'backend') ? flags.backend : undefined, resumeArgs }, ctx);
  }
  const ids = parseRuleList(flags.rules, registry);
  const options = ruleOptionsById(flags.ruleOptions, ids);
  const rules: RuleRef[] = ids.map((id) => ({ id, options: options[id] }));
  const experiment = experimentFromTraining(flags, rules);
  const progress = createProgress();
  if (!flags.rules && registry.missing.length) progress.note(`note: not installed, so not compared: the rules of ${registry.missing.join(', ')}`);
  if (!experiment.sameOptimizer) progress.note("every option left out takes each rule's tuned default (--same-optimizer for one optimizer for all)");
  return runSession({ experiment, registry, outputs, resumeArgs }, ctx, progress);
}
