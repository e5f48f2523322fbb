import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { DatasetNotFoundError } from '@bioprop/datasets';
import { BACKEND_CHOICES, useBackend, type BackendPreference } from '../backend.js';
import { EXIT, UsageError } from '../errors.js';
import { executeExperiment } from '../execute.js';
import { describeExperiment, loadExperiment, ruleLabel, type Experiment } from '../experiment.js';
import { loadRunData } from '../options/data.js';
import { withInterrupt } from '../options/interrupt.js';
import { commandLine } from '../options/invocation.js';
import { integer } from '../options/values.js';
import { renderCurvesSvg } from '../plot.js';
import { createProgress } from '../progress.js';
import { collectSettings, committedFailure, committedRun, listSettings, readCommittedFailure, readCommittedRun, reproductionsMarkdown, staleSettings } from '../reproduce.js';
import { ENVIRONMENT_FILE, EXPERIMENT_FILE, environment, makeDirs, openRunFolder, writeFileAtomic, writeOutputFile, type RunFolder } from '../run-folder.js';
import { loadRules } from '../rules.js';
import { checkExperiment, expectedTrainCount } from '../session.js';
import { resolveRun, type RunResult } from '../run.js';
import { knownShape } from '../data.js';
import type { CommandContext } from './context.js';

interface ReproduceFlags {
  dir: string;
  docs: string;
  runsDir: string;
  maxSteps?: number;
  backend?: BackendPreference;
  list?: boolean;
  reportOnly?: boolean;
}

/** `bioprop reproduce [settings…]`: run the published settings (resumable), commit each run, write docs/reproductions.md. */
export function reproduceCommand(root: Command, ctx: CommandContext): void {
  root
    .command('reproduce')
    .description('run the published settings of experiments/reproductions (resumable: finished runs are never repeated) and write docs/reproductions.md')
    .argument('[settings...]', 'setting names (default: all)')
    .option('--dir <dir>', 'the settings (experiment files)', join('experiments', 'reproductions'))
    .option('--docs <dir>', 'where runs are committed (<docs>/runs/<setting>/) and reproductions.md is written', 'docs')
    .option('--runs-dir <dir>', 'work folders with checkpoints (<runs-dir>/reproduce/<setting>)', 'runs')
    .option('--max-steps <n>', 'smoke run: each run stops after n steps, and nothing is committed', integer('--max-steps', 1))
    .addOption(new Option('--backend <name>', "TensorFlow.js backend (over the settings')").choices(BACKEND_CHOICES))
    .option('--list', 'list the settings, their compute estimates and what is committed')
    .option('--report-only', 'only rewrite reproductions.md from what is committed')
    .action(async (names: string[], flags: ReproduceFlags) => ctx.setCode(await reproduce(names, flags, ctx)));
}

/** The work folder of a setting: created with its experiment, or reopened when it holds the same one. */
function workFolder(root: string, name: string, exp: Experiment): RunFolder {
  const dir = join(root, 'reproduce', name);
  if (existsSync(join(dir, EXPERIMENT_FILE))) {
    const { folder, experiment } = openRunFolder(dir);
    if (JSON.stringify(experiment) !== JSON.stringify(exp)) {
      throw new UsageError(`${dir} holds an earlier version of ${name}'s experiment: remove the folder (its runs are not committed) or give another --runs-dir`);
    }
    return folder;
  }
  makeDirs(dir);
  writeFileAtomic(join(dir, EXPERIMENT_FILE), `${JSON.stringify(exp, null, 2)}\n`);
  return openRunFolder(dir).folder;
}

async function reproduce(names: string[], flags: ReproduceFlags, ctx: CommandContext): Promise<number> {
  const progress = createProgress();
  const all = listSettings(flags.dir);
  for (const n of names) if (!all.some((s) => s.name === n)) throw new UsageError(`unknown setting "${n}" (settings: ${all.map((s) => s.name).join(', ')})`);
  const chosen = names.length ? all.filter((s) => names.includes(s.name)) : all;
  const docsRuns = join(flags.docs, 'runs');
  const smoke = flags.maxSteps !== undefined;
  if (flags.list) {
    for (const s of collectSettings(flags.dir, docsRuns)) {
      const total = s.experiment.rules.length * s.experiment.seeds.length;
      ctx.out(`${s.name}: ${total - s.missing.length}/${total} runs committed; ${s.experiment.compute ?? 'no compute estimate'}\n`);
    }
    return EXIT.ok;
  }
  let failed = 0;
  if (!flags.reportOnly) {
    const registry = await loadRules({ cwd: process.cwd() });
    for (const { name, file } of chosen) {
      const exp = loadExperiment(file, smoke ? [`maxSteps=${flags.maxSteps}`] : []);
      await checkExperiment(exp, registry, { runsDir: flags.runsDir, force: false });
      const committed = (label: string, seed: number): RunResult | null => (smoke ? null : readCommittedRun(committedRun(docsRuns, name, label, seed)));
      // a committed run stands for its setting only while the file still gives it the settings it trained with
      const stale: string[] = [];
      const shape = { ...knownShape(exp.data.name), task: exp.data.name === 'linear' ? ('regression' as const) : ('classification' as const), count: expectedTrainCount(exp) };
      for (const seed of exp.seeds) {
        for (const rule of exp.rules) {
          const run = committed(ruleLabel(rule), seed);
          if (!run) continue;
          const diff = staleSettings(run, resolveRun({ experiment: exp, rule, seed }, registry, shape).config);
          if (diff.length) stale.push(`${run.label} seed ${seed} (${diff.join('; ')})`);
        }
      }
      if (stale.length) {
        throw new UsageError(
          `${name}: ${stale.length} committed run(s) trained with settings ${file} no longer gives: ${stale.join(', ')}. ` +
            `Remove them from ${join(docsRuns, name)} to run them with the current settings, or restore the file`,
        );
      }
      const todo = exp.seeds
        .flatMap((seed) => exp.rules.map((r) => ({ label: ruleLabel(r), seed })))
        .filter((x) => !committed(x.label, x.seed) && (smoke || readCommittedFailure(committedFailure(docsRuns, name, x.label, x.seed)) === null));
      if (!todo.length) {
        progress.note(`${name}: every run is committed; nothing to do`);
        continue;
      }
      const folder = workFolder(smoke ? join(flags.runsDir, 'smoke') : flags.runsDir, name, exp);
      const backend = await useBackend(flags.backend ?? exp.backend, progress.note);
      folder.writeJson(ENVIRONMENT_FILE, environment(backend, exp.plugins, ctx.argv));
      progress.note(`${describeExperiment(exp)}; ${todo.length} run(s) to go; work folder ${folder.dir}`);
      let data;
      try {
        data = await loadRunData({ dataset: exp.data.name, dataDir: exp.data.dir, limitTrain: exp.data.limitTrain, limitTest: exp.data.limitTest }, progress);
      } catch (e) {
        if (!(e instanceof DatasetNotFoundError)) throw e;
        progress.note(`${name}: skipped, its data is not here (${e.message})`);
        continue;
      }
      const outcome = await withInterrupt(progress, (signal) =>
        executeExperiment(
          {
            experiment: exp,
            registry,
            folder,
            data,
            backend,
            done: committed,
            failedBefore: (label, seed) => !smoke && readCommittedFailure(committedFailure(docsRuns, name, label, seed)) !== null,
            onFailure: (f) => {
              if (!smoke) writeOutputFile(committedFailure(docsRuns, name, f.label, f.seed), `${JSON.stringify(f, null, 2)}\n`);
            },
            onResult: (r) => {
              if (!smoke) writeOutputFile(committedRun(docsRuns, name, r.label, r.seed), `${JSON.stringify(r, null, 2)}\n`);
            },
          },
          { progress, signal },
        ),
      );
      if (outcome.status === 'stopped') {
        progress.note(`stopped: progress kept in ${folder.dir}; continue with: ${commandLine(ctx.bin, ['reproduce', ...names])}`);
        return EXIT.interrupted;
      }
      failed += outcome.failures.length;
      if (!smoke && outcome.results.length) writeOutputFile(join(docsRuns, name, 'curves.svg'), await renderCurvesSvg(outcome.results, { title: name }));
    }
  }
  if (!smoke) {
    const out = join(flags.docs, 'reproductions.md');
    const settings = collectSettings(flags.dir, docsRuns);
    writeOutputFile(out, reproductionsMarkdown(settings, { out, docsRuns, command: 'bioprop reproduce [settings…]' }));
    progress.note(`report: ${out}`);
  }
  return failed ? EXIT.failure : EXIT.ok;
}
