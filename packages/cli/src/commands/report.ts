import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../errors.js';
import { commandLine } from '../options/invocation.js';
import { createProgress } from '../progress.js';
import { DEFAULT_PUBLISHED, readPublished, readResultSources, writeReport } from '../report.js';
import { checkOutputFile, writeOutputFile } from '../run-folder.js';
import type { CommandContext } from './context.js';

interface ReportFlags {
  out: string;
  plot?: string;
  published: string;
  title?: string;
  force?: boolean;
}

/** `bioprop report <run folders or results files…>`: a markdown table over seeds and the curves. */
export function reportCommand(root: Command, ctx: CommandContext): void {
  root
    .command('report')
    .description('write a markdown report (mean ± std over seeds, published figures beside) and its curves from finished runs')
    .argument('<sources...>', 'run folders (runs/<name>-<time>) or results files; a later one\'s run of the same rule and seed replaces an earlier one')
    .option('--out <file>', 'the markdown report', join('docs', 'results.md'))
    .option('--plot <file>', 'the SVG of the curves (default: beside --out, .svg)')
    .option('--published <file>', 'published figures to show beside ours (YAML)', DEFAULT_PUBLISHED)
    .option('--title <text>', 'the report\'s title')
    .option('--force', 'replace --out and --plot when they exist')
    .action(async (sources: string[], flags: ReportFlags) => ctx.setCode(await report(sources, flags, ctx)));
}

async function report(sources: string[], flags: ReportFlags, ctx: CommandContext): Promise<number> {
  if (!sources.length) throw new UsageError('report needs run folders or results files');
  const plotPath = flags.plot ?? flags.out.replace(/\.md$/i, '') + '.svg';
  await checkOutputFile(flags.out, '--out', flags.force ?? false);
  await checkOutputFile(plotPath, '--plot', flags.force ?? false);
  const { results, failures } = readResultSources(sources);
  const published = readPublished(flags.published);
  const command = commandLine('bioprop', ctx.argv);
  await writeReport({ results, failures, command, plotPath, outPath: flags.out, published, title: flags.title }, writeOutputFile);
  createProgress().note(`report: ${flags.out} (curves ${plotPath})`);
  return EXIT.ok;
}
