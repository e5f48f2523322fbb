import { Option, type Command } from 'commander';
import { BACKEND_CHOICES, type BackendPreference } from '../backend.js';
import { EXIT, UsageError } from '../errors.js';
import { experimentJsonSchema, loadExperiment } from '../experiment.js';
import { DEFAULTS } from '../options/defaults.js';
import { pluginArgs, rulesFor } from '../options/plugins.js';
import { given } from '../options/resume.js';
import { sessionOutputs } from '../options/training.js';
import { collect, integer, memorySize } from '../options/values.js';
import { writeOutputFile, checkOutputFile } from '../run-folder.js';
import { loadRules } from '../rules.js';
import { resumeFolder, runSession } from '../session.js';
import type { CommandContext } from './context.js';

interface RunFlags {
  set?: string[];
  maxSteps?: number;
  epochs?: number;
  backend?: BackendPreference;
  runsDir: string;
  out?: string;
  plot?: string;
  force?: boolean;
  maxMemory?: number;
  resume?: string;
  plugin?: string[];
}

/** `bioprop run <file>`: an experiment file (JSON or YAML) in a new run folder. */
export function runCommand(root: Command, ctx: CommandContext): void {
  root
    .command('run')
    .description('run an experiment file (JSON or YAML; see bioprop schema) in a new run folder')
    .argument('[file]', 'the experiment file')
    .option('--set <path=value>', 'override a setting, e.g. --set rule.options.feedbackInit=glorot (value: JSON, else a string); repeatable', collect)
    .option('--max-steps <n>', 'stop each run after n steps (smoke runs; same as --set maxSteps=n)', integer('--max-steps', 1))
    .option('--epochs <n>', 'epochs (with --resume: train on to this many)', integer('--epochs', 1))
    .addOption(new Option('--backend <name>', "TensorFlow.js backend (over the file's)").choices(BACKEND_CHOICES))
    .option('--runs-dir <dir>', 'where run folders go', DEFAULTS.runsDir)
    .option('--out <file>', 'also write the results JSON here (- for stdout)')
    .option('--plot <file>', 'also write the curves (SVG) here')
    .option('--force', 'replace --out and --plot files that exist')
    .option('--max-memory <size>', "refuse runs estimated to need more memory (e.g. 8GB; default: half of this machine's)", memorySize)
    .option('--resume <folder>', 'continue a run folder (finished runs are kept)')
    .option('--plugin <package>', 'also use the rules of this package; repeatable', collect)
    .action(async (file: string | undefined, flags: RunFlags, cmd: Command) => ctx.setCode(await run(file, flags, cmd, ctx)));
}

async function run(file: string | undefined, flags: RunFlags, cmd: Command, ctx: CommandContext): Promise<number> {
  const outputs = sessionOutputs(flags);
  if (flags.resume) {
    if (file !== undefined || flags.set?.length || flags.maxSteps !== undefined) {
      throw new UsageError('--resume continues the run folder\'s own experiment: give no file, --set or --max-steps with it');
    }
    const { folder, experiment } = resumeFolder(flags.resume, flags.epochs);
    const registry = await rulesFor({ plugin: [...experiment.plugins, ...(flags.plugin ?? [])] });
    return runSession({ experiment, registry, outputs, resume: { folder }, backend: given(cmd, 'backend') ? flags.backend : undefined, resumeArgs: ['run', ...pluginArgs(flags)] }, ctx);
  }
  if (file === undefined) throw new UsageError('run needs an experiment file (or --resume <run folder>)');
  const sets = [...(flags.set ?? [])];
  if (flags.maxSteps !== undefined) sets.push(`maxSteps=${flags.maxSteps}`);
  if (flags.epochs !== undefined) sets.push(`epochs=${flags.epochs}`);
  const experiment = loadExperiment(file, sets);
  const registry = await rulesFor({ plugin: [...experiment.plugins, ...(flags.plugin ?? [])] });
  return runSession({ experiment, registry, outputs, backend: flags.backend, resumeArgs: ['run', ...pluginArgs(flags)] }, ctx);
}

/** `bioprop schema`: the JSON Schema of experiment files, with every installed rule's options. */
export function schemaCommand(root: Command, ctx: CommandContext): void {
  root
    .command('schema')
    .description('print the JSON Schema of experiment files (editor completion), with every installed rule and its options')
    .option('--out <file>', 'write it here instead of stdout')
    .option('--force', 'replace --out when it exists')
    .option('--plugin <package>', 'also describe the rules of this package; repeatable', collect)
    .action(async (flags: { out?: string; force?: boolean; plugin?: string[] }) => {
      const registry = await loadRules({ plugins: flags.plugin ?? [], cwd: process.cwd() });
      const text = `${JSON.stringify(experimentJsonSchema(registry), null, 2)}\n`;
      if (flags.out) {
        await checkOutputFile(flags.out, '--out', flags.force ?? false);
        writeOutputFile(flags.out, text);
      } else ctx.out(text);
      ctx.setCode(EXIT.ok);
    });
}
