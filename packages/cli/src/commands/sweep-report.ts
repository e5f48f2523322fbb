import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { checkOutputFile, writeFileAtomic, writeOutputFile } from '../run-folder.js';
import { renderHeatmapSvg } from '../sweep-plot.js';
import { analyzeSweep, heatmapFile, reportMarkdown } from '../sweep-report.js';
import type { CommandContext } from './context.js';

interface ReportFlags {
  out?: string;
  force?: boolean;
  rows?: string;
  columns?: string;
  plot: boolean;
}

/** `bioprop sweep report <folder>`: the report as markdown, and its heatmap as SVG in the sweep folder. */
export function sweepReportCommand(sweep: Command, ctx: CommandContext): void {
  sweep
    .command('report')
    .description(
      'markdown tables of a sweep folder: each override combination over seeds, best first; each key\'s sensitivity; with an architecture (or --columns) swept, a heatmap of the best accuracy per row × column value and the transfer of the best settings between columns',
    )
    .argument('<folder>', 'the sweep folder')
    .option('--out <file>', 'write the report here (default: stdout)')
    .option('--force', 'replace --out when it exists')
    .option('--rows <key>', 'the heatmap\'s rows: a swept key (default: the varied key with the most values, other than the columns)')
    .option('--columns <key>', 'the heatmap\'s columns, between which settings transfer (default: arch, when the sweep varies it)')
    .option('--no-plot', 'do not write the heatmap\'s SVG into the sweep folder')
    .action(async (folder: string, flags: ReportFlags) => {
      if (flags.out) await checkOutputFile(flags.out, '--out', flags.force ?? false);
      const analysis = analyzeSweep(folder, { rows: flags.rows, columns: flags.columns });
      const text = reportMarkdown(analysis);
      if (analysis.heatmap && flags.plot) {
        // derived from the store: rewritten on every report
        const svg = join(folder, heatmapFile(analysis.heatmap));
        writeFileAtomic(svg, await renderHeatmapSvg(analysis.heatmap, `${analysis.sweep.spec.name}: best mean test accuracy (%), ${analysis.heatmap.rows ?? 'all'} × ${analysis.heatmap.columns}`));
        process.stderr.write(`heatmap: ${svg}\n`);
      }
      if (flags.out && flags.out !== '-') {
        writeOutputFile(flags.out, text);
        process.stderr.write(`report: ${flags.out}\n`);
      } else ctx.out(text);
      ctx.setCode(EXIT.ok);
    });
}
