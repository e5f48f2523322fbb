import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../errors.js';
import { DEFAULTS } from '../options/defaults.js';
import { rulesFor } from '../options/plugins.js';
import { integer } from '../options/values.js';
import { writeFileAtomic } from '../run-folder.js';
import { checkExperiment } from '../session.js';
import { commandLine } from '../options/invocation.js';
import { parseRedisUrl, probeRedis, runQueued } from '../queue.js';
import { SWEEP_FILE, TRIALS_FILE, createSweepFolder, expandTrials, readSweep, readSweepFile, rungEpochs, runHalving, runTrials, type SweepFile, type Trial } from '../sweep.js';
import { sweepReportCommand } from './sweep-report.js';
import type { CommandContext } from './context.js';

interface SweepFlags {
  workers?: number;
  runsDir: string;
  maxSteps?: number;
  resume?: string;
  queue?: string;
  attempts: number;
}

/** `bioprop sweep <file>` (trials in child processes, a JSON Lines store) and `bioprop sweep report <folder>`. */
export function sweepCommand(root: Command, ctx: CommandContext): void {
  const sweep = root
    .command('sweep')
    .description('run a sweep file (grid or random search over experiment settings × seeds), each trial in its own process')
    .argument('[file]', 'the sweep file (JSON or YAML)')
    .option('--workers <n>', 'trials run at once (default: one per core)', integer('--workers', 1, 1024))
    .option('--runs-dir <dir>', 'where the sweep folder goes', DEFAULTS.runsDir)
    .option('--max-steps <n>', 'stop each trial after n steps (smoke runs; part of each trial\'s key)', integer('--max-steps', 1))
    .option('--resume <folder>', 'continue a sweep folder: trials stored as ok are skipped, failed or missing ones run')
    .option('--queue <url>', 'run the trials on `bioprop worker` processes through Redis (redis://host:port[/db]): this process enqueues them and stores the results')
    .option('--attempts <n>', 'with --queue: tries per trial when a worker or its trial crashes (a diverging trial is a result)', integer('--attempts', 1, 100), 3)
    .action(async (file: string | undefined, flags: SweepFlags) => ctx.setCode(await runSweep(file, flags, ctx)));
  sweepReportCommand(sweep, ctx);
}

async function runSweep(file: string | undefined, flags: SweepFlags, ctx: CommandContext): Promise<number> {
  const note = (line: string) => void process.stderr.write(`${line}\n`);
  // checked before anything is read: a malformed URL is a usage error, an unreachable Redis a failure (queue.ts)
  const target = flags.queue === undefined ? null : parseRedisUrl(flags.queue);
  if (target && flags.workers !== undefined) throw new UsageError('--workers runs trials in this process; with --queue the trials run on `bioprop worker` processes (their --concurrency)');
  let folder: string;
  let resolved: SweepFile;
  let trials: Trial[];
  if (flags.resume) {
    if (file !== undefined || flags.maxSteps !== undefined) throw new UsageError("--resume continues the sweep folder's own sweep: give no file or --max-steps with it");
    folder = flags.resume;
    resolved = readSweepFile(folder);
    trials = expandTrials(resolved.spec, resolved.document, resolved.maxSteps);
    const stored = new Set((resolved.trials ?? []).map((t) => t.key));
    const moved = trials.filter((t) => !stored.has(t.key)).length;
    // a key changes when the resolved experiment does (new defaults in this version, or seeds added to the spec):
    // such trials run, and the folder's trial list (what the report counts) follows the expansion
    if (moved) {
      note(`${moved} trial key(s) differ from ${SWEEP_FILE}'s (the experiments resolve differently now): those trials run again`);
      resolved = { ...resolved, trials: trials.map((t) => ({ key: t.key, overrides: t.overrides, seed: t.seed })) };
      writeFileAtomic(join(folder, SWEEP_FILE), `${JSON.stringify(resolved, null, 2)}\n`);
    }
  } else {
    if (file === undefined) throw new UsageError('sweep needs a sweep file (or --resume <sweep folder>)');
    const { spec, document, experimentFile } = readSweep(file);
    trials = expandTrials(spec, document, flags.maxSteps ?? null);
    resolved = {
      kind: 'bioprop-sweep',
      spec,
      source: { sweep: file, experiment: relative(process.cwd(), experimentFile) || experimentFile },
      document,
      maxSteps: flags.maxSteps ?? null,
      created: new Date().toISOString(),
      trials: trials.map((t) => ({ key: t.key, overrides: t.overrides, seed: t.seed })),
    };
    folder = '';
  }
  // every trial checked as `bioprop run` would check it (rule options, architecture, memory) before any runs
  const registry = await rulesFor({ plugin: [...new Set(trials.flatMap((t) => t.experiment.plugins))] });
  for (const t of trials) await checkExperiment(t.experiment, registry, { runsDir: flags.runsDir, force: false });
  // an unreachable Redis fails before a sweep folder is made
  if (target && !flags.resume) await probeRedis(target);
  if (!flags.resume) {
    folder = createSweepFolder(flags.runsDir, resolved.spec.name);
    writeFileAtomic(join(folder, SWEEP_FILE), `${JSON.stringify(resolved, null, 2)}\n`);
  }
  const workers = flags.workers ?? availableParallelism();
  note(`sweep folder: ${folder}`);
  note(`${resolved.spec.name}: ${trials.length} trials, ${target ? `on the workers of ${target.url}` : `up to ${workers} at once`}`);
  const halving = resolved.spec.halving;
  if (halving && new Set(trials.map((t) => t.experiment.epochs)).size > 1) throw new UsageError('halving needs one epoch budget for every trial (do not sweep epochs with it)');
  if (halving) note(`successive halving: rungs of ${rungEpochs(halving.minEpochs, halving.factor, trials[0].experiment.epochs).join(', ')} epochs, the best 1/${halving.factor} by ${halving.metric} go on${halving.groupBy.length ? ` within each ${halving.groupBy.join(' × ')}` : ''}`);
  const outcome = target
    ? await runQueued({ folder, trials, note, target, attempts: flags.attempts, backoffMs: 5000, halving })
    : halving
      ? await runHalving({ folder, trials, workers, note, halving })
      : await runTrials({ folder, trials, workers, note });
  if (outcome.interrupted) {
    note(`stopped: ${join(folder, TRIALS_FILE)} keeps the finished trials; continue with: ${commandLine(ctx.bin, ['sweep', '--resume', folder])}`);
    return EXIT.interrupted;
  }
  note(`${outcome.ran} trial(s) ran (${outcome.failed} failed), ${outcome.skipped} already done; store: ${join(folder, TRIALS_FILE)}`);
  note(`report: ${commandLine(ctx.bin, ['sweep', 'report', folder])}`);
  return outcome.failed ? EXIT.failure : EXIT.ok;
}
