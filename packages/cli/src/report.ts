/**
 * Reports from finished runs: a markdown table over seeds (mean ± std, each seed's value) beside published figures
 * read from a file (`data/published.yaml` in this package, or the user's), and the curves.
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ResultsFileError } from './errors.js';
import type { Failure } from './execute.js';
import { renderCurvesSvg } from './plot.js';
import type { EpochResult, RunResult } from './run.js';
import { formatStats, summarize } from './stats.js';

export interface PublishedFigure {
  value: number;
  setup: string;
  source: string;
}

export interface PublishedTable {
  errors: Record<string, PublishedFigure[]>;
  notes: Record<string, string>;
  angles: Record<string, PublishedFigure>;
}

/** The published figures shipped with the CLI (`data/published.yaml`). */
export const DEFAULT_PUBLISHED = fileURLToPath(new URL('../data/published.yaml', import.meta.url));

/** Read a published-figures file, checking its shape (a figure is a number with its setup and source). */
export function readPublished(file: string = DEFAULT_PUBLISHED): PublishedTable {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ResultsFileError(`${file}: cannot read published figures (${(e as Error).message.split('\n')[0]})`);
  }
  const bad = (what: string) => new ResultsFileError(`${file}: ${what}`);
  const d = (doc ?? {}) as Record<string, unknown>;
  const figure = (f: unknown, where: string): PublishedFigure => {
    const o = f as Record<string, unknown>;
    if (!o || typeof o.value !== 'number' || typeof o.setup !== 'string' || typeof o.source !== 'string') throw bad(`${where} must have value (number), setup and source`);
    return { value: o.value, setup: o.setup, source: o.source };
  };
  const errors: Record<string, PublishedFigure[]> = {};
  for (const [rule, list] of Object.entries((d.errors ?? {}) as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw bad(`errors.${rule} must be a list`);
    errors[rule] = list.map((f, i) => figure(f, `errors.${rule}[${i}]`));
  }
  const angles: Record<string, PublishedFigure> = {};
  for (const [rule, f] of Object.entries((d.angles ?? {}) as Record<string, unknown>)) angles[rule] = figure(f, `angles.${rule}`);
  const notes: Record<string, string> = {};
  for (const [rule, n] of Object.entries((d.notes ?? {}) as Record<string, unknown>)) {
    if (typeof n !== 'string') throw bad(`notes.${rule} must be a string`);
    notes[rule] = n;
  }
  return { errors, notes, angles };
}

/** Results from runs of earlier versions carry fewer fields: fill them so tables and plots read them alike. */
export function normalizeResult(r: RunResult): RunResult {
  return {
    ...r,
    label: r.label ?? r.rule,
    mode: r.mode ?? 'tuned',
    validationCount: r.validationCount ?? 0,
    bestValidationError: r.bestValidationError ?? null,
    bestValidationEpoch: r.bestValidationEpoch ?? null,
    stoppedBy: r.stoppedBy ?? null,
    history: r.history.map((h: EpochResult) => ({ ...h, validationError: h.validationError ?? null })),
  };
}

const MAX_RESULTS_BYTES = 256 << 20;

/**
 * Runs from run folders (their results.json) or results files: a run folder's `results.json`, `train --out`'s one
 * run, or an earlier version's `{ results }` / `{ runs }` files. A run of the same rule label and seed in a later
 * source replaces the earlier one, so a rerun of some rules can update a report.
 */
export function readResultSources(sources: readonly string[]): { results: RunResult[]; failures: Failure[] } {
  const results: RunResult[] = [];
  const failures: Failure[] = [];
  for (const src of sources) {
    const file = existsSync(join(src, 'results.json')) ? join(src, 'results.json') : src;
    if (!existsSync(file)) throw new ResultsFileError(`${src}: neither a run folder (with results.json) nor a results file`);
    const st = lstatSync(file);
    if (!st.isFile()) throw new ResultsFileError(`${file}: not a regular file`);
    if (st.size > MAX_RESULTS_BYTES) throw new ResultsFileError(`${file}: ${st.size} bytes is too large for a results file`);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ResultsFileError(`${file}: cannot read results (${(e as Error).message})`);
    }
    let runs: unknown[];
    if (Array.isArray(parsed.runs)) runs = (parsed.runs as unknown[]).flat();
    else if (Array.isArray(parsed.results)) runs = parsed.results as unknown[];
    else if (typeof parsed.rule === 'string' && Array.isArray(parsed.history)) runs = [parsed];
    else throw new ResultsFileError(`${file}: holds no runs (a run folder's results.json, or train --out's result)`);
    for (const [i, r] of runs.entries()) {
      const o = r as RunResult;
      if (!o || typeof o.rule !== 'string' || !Array.isArray(o.history) || typeof o.seed !== 'number') throw new ResultsFileError(`${file}: run ${i} is not a run result`);
      const run = normalizeResult(o);
      // a later source's run of the same rule label and seed replaces an earlier one (a rerun after a retune)
      const same = results.findIndex((x) => (x.label ?? x.rule) === (run.label ?? run.rule) && x.seed === run.seed);
      if (same >= 0) results[same] = run;
      else results.push(run);
    }
    for (const f of (parsed.failures ?? []) as Failure[]) failures.push({ ...f, label: f.label ?? f.rule, seed: f.seed ?? 0 });
  }
  if (!results.length) throw new ResultsFileError(`${sources.join(', ')}: no finished runs`);
  return { results, failures };
}

export interface ReportInput {
  results: RunResult[];
  failures: Failure[];
  /** The command that produced it, for the reader to rerun. */
  command: string;
  plotPath: string;
  outPath: string;
  published: PublishedTable;
  title?: string;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The markdown of a results report. */
export function reportMarkdown(input: ReportInput): string {
  const all = input.results;
  const first = all[0];
  const summaries = summarize(all);
  const seeds = [...new Set(all.map((r) => r.seed))];
  const mode = all.every((r) => r.mode === 'same') ? 'same' : all.every((r) => r.mode !== 'same') ? 'tuned' : 'mixed';
  const lines: string[] = [];
  lines.push(`# ${input.title ?? 'Results'}`);
  lines.push('');
  lines.push('<!-- generated by `bioprop report`; do not edit by hand -->');
  lines.push('');
  if (first) {
    lines.push(
      `Every rule trained on **${first.dataset}** (${first.trainCount.toLocaleString('en-US')} training, ${first.testCount.toLocaleString('en-US')} test samples), ` +
        `network **${first.arch}${/^\d/.test(first.arch) ? ` ${first.activation}` : ''}** (${first.loss} loss), **${first.epochs} epoch${first.epochs === 1 ? '' : 's'}**, ${seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds.join(', ')}`}, ` +
        `backend ${first.backend}. ` +
        (mode === 'same'
          ? `Like for like: every rule with the same optimizer (${first.optimizer.name} lr ${first.optimizer.lr}), init and batch size.`
          : mode === 'tuned'
            ? "Each rule uses its package's tuned defaults (optimizer, learning rate, initialization, batch size; columns below)."
            : 'Some rules ran with their tuned defaults, some with one shared optimizer (columns below).'),
    );
  }
  lines.push('');
  lines.push(`Command: \`${input.command}\``);
  lines.push('');
  lines.push(
    seeds.length > 1
      ? 'Test error: mean over seeds ± sample standard deviation (percentage points), then each seed\'s value. '
      : 'Test error of the one seed (run more seeds for a spread). ',
  );
  lines.push("The angle is the mean angle between the rule's teaching signal and backprop's at the end of training, per hidden");
  lines.push('layer (input side first; the output layer, 0° for every rule, is left out), on a fixed probe batch of the training set.');
  lines.push('');
  lines.push(`| rule | test error | ${seeds.length > 1 ? 'per seed | ' : ''}angle to BP per hidden layer (°) | samples/s | optimizer | init | batch | published (other setups) |`);
  lines.push(`|---|---|${seeds.length > 1 ? '---|' : ''}---|---|---|---|---|---|`);
  for (const s of summaries) {
    const r0 = all.find((r) => (r.label ?? r.rule) === s.label)!;
    const angles = s.angleToBackpropDeg.slice(0, -1).map((a) => a.toFixed(1)).join(' / ') || '–';
    const opt = `${r0.optimizer.name} lr ${r0.optimizer.lr}`;
    const pub = [
      ...(input.published.errors[s.rule] ?? []).map((f) => `${f.setup}: ${f.value}% (${f.source})`),
      ...(input.published.notes[s.rule] ? [input.published.notes[s.rule]] : []),
      ...(input.published.angles[s.rule] ? [`angle ${input.published.angles[s.rule].value}° (${input.published.angles[s.rule].setup}, ${input.published.angles[s.rule].source})`] : []),
    ];
    const perSeed = seeds.length > 1 ? `${(s.testError?.values ?? []).map((v) => (100 * v).toFixed(2)).join(', ')} | ` : '';
    lines.push(
      `| ${s.label} | ${formatStats(s.testError, { percent: true })} | ${perSeed}${angles} | ${Math.round(s.samplesPerSecond).toLocaleString('en-US')} | ${opt} | ${r0.kernelInit} | ${r0.batchSize} | ${cell(pub.join('<br>')) || '–'} |`,
    );
  }
  for (const f of input.failures) lines.push(`| ${f.label} | failed (seed ${f.seed}) | ${seeds.length > 1 ? '| ' : ''}| | | | | ${cell(f.error).slice(0, 200)} |`);
  lines.push('');
  lines.push('Published figures are read from `packages/cli/data/published.yaml`; each names its own setup, none of them this one.');
  lines.push('');
  lines.push('## Curves');
  lines.push('');
  lines.push(`![learning and alignment curves${seeds.length > 1 ? ', mean over seeds with their range' : ''}](${relative(dirname(input.outPath), input.plotPath) || input.plotPath})`);
  lines.push('');
  lines.push('## Where the defaults come from');
  lines.push('');
  for (const s of summaries) {
    const r0 = all.find((r) => (r.label ?? r.rule) === s.label)!;
    lines.push(`- **${s.label}** (${r0.ruleName}): ${r0.defaultsSource}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Write the markdown and the SVG. */
export async function writeReport(input: ReportInput, write: (file: string, text: string) => void): Promise<void> {
  write(input.plotPath, await renderCurvesSvg(input.results, { title: input.title ?? 'bioprop results' }));
  write(input.outPath, reportMarkdown(input));
}
