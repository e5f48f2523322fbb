/**
 * `bioprop sweep report`: one row per override combination (mean ± std of the test error over its seeds), best
 * first, and for each swept path its sensitivity: the best combination's error at each of its values.
 */
import type { JsonValue } from '@bioprop/core';
import { canonicalJson, describeOverrides, readStore, readSweepFile, type TrialRecord } from './sweep.js';

export interface SweepRow {
  overrides: Record<string, JsonValue>;
  /** Test errors (fractions) of the trials that finished. */
  errors: number[];
  mean: number | null;
  std: number | null;
  /** Trials of the combination that failed. */
  failed: number;
  /** Epochs its finished trials reached (with halving, the rung each stopped at). */
  epochs: number[];
}

/** Each trial's latest record (an `ok` line beats a failed one: a rerun that succeeded). */
export function latestRecords(records: TrialRecord[]): TrialRecord[] {
  const byKey = new Map<string, TrialRecord>();
  for (const r of records) {
    const prev = byKey.get(r.key);
    if (!prev || r.status === 'ok' || prev.status !== 'ok') byKey.set(r.key, r);
  }
  return [...byKey.values()];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (0 for one seed). */
const std = (xs: number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

/** Rows by override combination, best mean test error first (combinations with no finished trial last). */
export function sweepRows(records: TrialRecord[]): SweepRow[] {
  const groups = new Map<string, SweepRow>();
  for (const r of latestRecords(records)) {
    const id = canonicalJson(r.overrides);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { overrides: r.overrides, errors: [], mean: null, std: null, failed: 0, epochs: [] }));
    if (r.status === 'ok' && r.metrics.testError !== null) {
      g.errors.push(r.metrics.testError);
      if (r.epochs !== undefined && !g.epochs.includes(r.epochs)) g.epochs.push(r.epochs);
    }
    else g.failed++;
  }
  const rows = [...groups.values()].map((g) => ({ ...g, mean: g.errors.length ? mean(g.errors) : null, std: g.errors.length ? std(g.errors) : null }));
  // with halving, the combinations that trained longest come first
  const reached = (r: SweepRow) => Math.max(0, ...r.epochs);
  return rows.sort((a, b) => reached(b) - reached(a) || (a.mean ?? Infinity) - (b.mean ?? Infinity));
}

const pct = (x: number | null) => (x === null ? '–' : (x * 100).toFixed(2));
const show = (v: JsonValue) => (typeof v === 'string' ? v : JSON.stringify(v));
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The report of a sweep folder, as markdown. */
export function sweepReport(folder: string): string {
  const sweep = readSweepFile(folder);
  const records = readStore(folder);
  const rows = sweepRows(records);
  const paths = [...new Set(rows.flatMap((r) => Object.keys(r.overrides)))];
  const lines: string[] = [`# Sweep ${sweep.spec.name}`, ''];
  const latest = latestRecords(records);
  lines.push(
    `${sweep.trials.length} trials: ${latest.filter((r) => r.status === 'ok').length} ok, ${latest.filter((r) => r.status === 'failed').length} failed, ${sweep.trials.length - latest.length} not run. Test error (%) over seeds, best first.`,
    '',
  );
  const halving = rows.some((r) => r.epochs.length > 0);
  const header = [...(paths.length ? paths : ['overrides']), 'test error (%)', 'std', 'seeds', 'failed', ...(halving ? ['epochs'] : [])];
  lines.push(`| ${header.map(cell).join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`);
  for (const r of rows) {
    const keys = paths.length ? paths.map((p) => (p in r.overrides ? show(r.overrides[p]) : '')) : [describeOverrides(r.overrides) || '(base)'];
    const epochs = halving ? [r.epochs.sort((a, b) => a - b).join(', ')] : [];
    lines.push(`| ${[...keys, pct(r.mean), pct(r.std), String(r.errors.length), String(r.failed), ...epochs].map(cell).join(' | ')} |`);
  }
  if (paths.length) {
    lines.push('', '## Sensitivity', '', 'For each swept path: the best mean test error (%) among the combinations with each value.', '');
    for (const p of paths) {
      const best = new Map<string, number | null>();
      for (const r of rows) {
        if (!(p in r.overrides)) continue;
        const v = show(r.overrides[p]);
        const prev = best.get(v);
        if (prev === undefined || (r.mean !== null && (prev === null || r.mean < prev))) best.set(v, r.mean);
      }
      lines.push(`### ${p}`, '', '| value | best test error (%) |', '| --- | --- |');
      for (const [v, e] of best) lines.push(`| ${cell(v)} | ${pct(e)} |`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
