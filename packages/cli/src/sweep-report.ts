/**
 * `bioprop sweep report`: one row per override combination (mean ± std of the test error over its seeds), best
 * first; for each swept key its sensitivity; and, when the sweep varies an architecture (or `--columns` names a key),
 * a heatmap of the best mean test accuracy per row value × column value and the transfer of the best settings from
 * one column to another (accuracy lost, Spearman's rank correlation of the configurations).
 */
import type { JsonValue } from '@bioprop/core';
import { UsageError } from './errors.js';
import { canonicalJson, describeOverrides, readStore, readSweepFile, type SweepFile, type TrialRecord } from './sweep.js';

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

/** How a value is shown in tables and plots: strings as they are, anything else as JSON. */
export const showValue = (v: JsonValue) => (typeof v === 'string' ? v : JSON.stringify(v));

/** Spearman's rank correlation (average ranks for ties); null with fewer than two pairs or when either side is constant. */
export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} and ${ys.length} values`);
  if (xs.length < 2) return null;
  const rx = ranks(xs);
  const ry = ranks(ys);
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks, ascending; tied values share the mean of their ranks. */
function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** One combination's result, as the heatmap and the transfer tables read it. */
interface Scored {
  overrides: Record<string, JsonValue>;
  /** Mean test accuracy over its finished seeds (null: none finished). */
  accuracy: number | null;
  seeds: number;
  failed: number;
  /** Its place in the sweep (the order of sweep.json's trials): ties go to the earlier. */
  order: number;
}

export interface HeatmapCell {
  /** Best mean test accuracy (fraction) among the cell's combinations. */
  accuracy: number;
  /** Its seeds' standard deviation and count. */
  std: number;
  seeds: number;
  /** The best combination's other settings (neither the row nor the column key). */
  settings: Record<string, JsonValue>;
  /** How many other combinations of the cell reached the same accuracy (the earliest in the sweep is shown). */
  ties: number;
}

export interface Heatmap {
  /** The row key (null: one row over everything) and the column key. */
  rows: string | null;
  columns: string;
  rowLabels: string[];
  columnLabels: string[];
  /** [row][column]; null where no combination has a finished trial. */
  cells: (HeatmapCell | null)[][];
  /** Failed trials per cell. */
  failed: number[][];
}

export interface TransferPair {
  from: string;
  to: string;
  /** The best configuration on `from` (its settings other than the column key), its accuracy there and on `to`. */
  best: Record<string, JsonValue> | null;
  fromAccuracy: number | null;
  toAccuracy: number | null;
  /** `to`'s own best accuracy, and what running `from`'s best costs there (fraction; null when it did not finish there). */
  toBest: number | null;
  loss: number | null;
  /** With a row key: per row value, the loss of the best configuration of that row on `from`, run on `to`. */
  rowLosses: (number | null)[];
  /** Spearman's ρ between the accuracies on `from` and on `to` of the configurations finished on both. */
  rho: number | null;
  compared: number;
}

export interface Transfer {
  rows: string | null;
  columns: string;
  rowLabels: string[];
  pairs: TransferPair[];
}

export interface SweepAnalysis {
  sweep: SweepFile;
  records: TrialRecord[];
  rows: SweepRow[];
  /** Every key the trials' overrides use, in sweep order. */
  keys: string[];
  /** Each key's values in sweep order. */
  values: Map<string, JsonValue[]>;
  heatmap: Heatmap | null;
  transfer: Transfer | null;
}

export interface ReportOptions {
  /** The heatmap's row key (default: the varied key with the most values, other than the columns). */
  rows?: string;
  /** The heatmap's column key (default: `arch`, or a key ending in `arch`, when the sweep varies it). */
  columns?: string;
}

const without = (o: Record<string, JsonValue>, ...keys: (string | null)[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

/** The best of some combinations: the highest accuracy, the earliest in the sweep among equals. */
function best(items: readonly Scored[]): { item: Scored; ties: number } | null {
  const done = items.filter((s) => s.accuracy !== null);
  if (!done.length) return null;
  const top = Math.max(...done.map((s) => s.accuracy!));
  const equal = done.filter((s) => s.accuracy === top).sort((x, y) => x.order - y.order);
  return { item: equal[0], ties: equal.length - 1 };
}

/** Read a sweep folder and compute every table of its report. */
export function analyzeSweep(folder: string, options: ReportOptions = {}): SweepAnalysis {
  const sweep = readSweepFile(folder);
  const records = readStore(folder);
  const rows = sweepRows(records);
  const order = new Map<string, number>();
  const values = new Map<string, JsonValue[]>();
  const seenValue = new Map<string, Set<string>>();
  const note = (o: Record<string, JsonValue>) => {
    const id = canonicalJson(o);
    if (!order.has(id)) order.set(id, order.size);
    for (const [k, v] of Object.entries(o)) {
      if (!values.has(k)) (values.set(k, []), seenValue.set(k, new Set()));
      const c = canonicalJson(v);
      if (!seenValue.get(k)!.has(c)) (seenValue.get(k)!.add(c), values.get(k)!.push(v));
    }
  };
  for (const t of sweep.trials ?? []) note(t.overrides);
  for (const r of rows) note(r.overrides);
  const keys = [...values.keys()];
  const varied = keys.filter((k) => values.get(k)!.length > 1);
  const check = (flag: string, k: string | undefined) => {
    if (k !== undefined && !values.has(k)) throw new UsageError(`${flag} ${k}: the sweep has no such key (its keys: ${keys.join(', ') || 'none'})`);
  };
  check('--rows', options.rows);
  check('--columns', options.columns);
  const columns = options.columns ?? (varied.includes('arch') ? 'arch' : varied.find((k) => /(^|\.)arch$/.test(k)));
  let rowKey: string | null = null;
  if (columns !== undefined) {
    if (options.rows !== undefined && options.rows === columns) throw new UsageError(`--rows and --columns must be different keys (both ${columns})`);
    rowKey = options.rows ?? varied.filter((k) => k !== columns).reduce<string | null>((a, k) => (a === null || values.get(k)!.length > values.get(a)!.length ? k : a), null);
  } else if (options.rows !== undefined) {
    throw new UsageError(`--rows needs a column key: the sweep varies no arch, so give --columns (its keys: ${keys.join(', ')})`);
  }
  const scored: Scored[] = rows.map((r) => ({
    overrides: r.overrides,
    accuracy: r.mean === null ? null : 1 - r.mean,
    seeds: r.errors.length,
    failed: r.failed,
    order: order.get(canonicalJson(r.overrides)) ?? Infinity,
  }));
  const heatmap = columns === undefined ? null : buildHeatmap(scored, rows, values, rowKey, columns);
  const transfer = columns === undefined || values.get(columns)!.length < 2 ? null : buildTransfer(scored, values, rowKey, columns);
  return { sweep, records, rows, keys, values, heatmap, transfer };
}

const valueId = (o: Record<string, JsonValue>, k: string | null) => (k === null ? '' : k in o ? canonicalJson(o[k]) : undefined);

function buildHeatmap(scored: Scored[], rows: SweepRow[], values: Map<string, JsonValue[]>, rowKey: string | null, columns: string): Heatmap {
  const rowValues = rowKey === null ? [null] : values.get(rowKey)!;
  const colValues = values.get(columns)!;
  const byRow = rowValues.map((rv) => (rv === null ? '' : canonicalJson(rv)));
  const byCol = colValues.map((cv) => canonicalJson(cv));
  const cells = byRow.map(() => byCol.map((): HeatmapCell | null => null));
  const failed = byRow.map(() => byCol.map(() => 0));
  const stdOf = new Map(rows.map((r) => [canonicalJson(r.overrides), r.std ?? 0]));
  byRow.forEach((ri, i) =>
    byCol.forEach((ci, j) => {
      const here = scored.filter((s) => valueId(s.overrides, rowKey) === ri && valueId(s.overrides, columns) === ci);
      failed[i][j] = here.reduce((a, s) => a + s.failed, 0);
      const b = best(here);
      if (b) {
        cells[i][j] = {
          accuracy: b.item.accuracy!,
          std: stdOf.get(canonicalJson(b.item.overrides)) ?? 0,
          seeds: b.item.seeds,
          settings: without(b.item.overrides, rowKey, columns),
          ties: b.ties,
        };
      }
    }),
  );
  return { rows: rowKey, columns, rowLabels: rowValues.map((v) => (v === null ? 'all' : showValue(v))), columnLabels: colValues.map(showValue), cells, failed };
}

function buildTransfer(scored: Scored[], values: Map<string, JsonValue[]>, rowKey: string | null, columns: string): Transfer {
  const colValues = values.get(columns)!;
  const rowValues = rowKey === null ? [] : values.get(rowKey)!;
  // per column: configuration (every setting but the column) → its result
  const perColumn = colValues.map((cv) => {
    const id = canonicalJson(cv);
    const m = new Map<string, Scored>();
    for (const s of scored) if (valueId(s.overrides, columns) === id) m.set(canonicalJson(without(s.overrides, columns)), s);
    return m;
  });
  const pairs: TransferPair[] = [];
  colValues.forEach((from, a) =>
    colValues.forEach((to, b) => {
      if (a === b) return;
      const A = perColumn[a];
      const B = perColumn[b];
      const onB = (config: Scored) => B.get(canonicalJson(without(config.overrides, columns)))?.accuracy ?? null;
      const lossOf = (within: (s: Scored) => boolean): { config: Scored | null; to: number | null; best: number | null; loss: number | null } => {
        const bestA = best([...A.values()].filter(within));
        const bestB = best([...B.values()].filter(within));
        const to = bestA ? onB(bestA.item) : null;
        const bestTo = bestB ? bestB.item.accuracy : null;
        return { config: bestA?.item ?? null, to, best: bestTo, loss: to === null || bestTo === null ? null : bestTo - to };
      };
      const overall = lossOf(() => true);
      const rowLosses = rowValues.map((rv) => {
        const id = canonicalJson(rv);
        return lossOf((s) => valueId(s.overrides, rowKey) === id).loss;
      });
      const common = [...A.entries()].filter(([k, s]) => s.accuracy !== null && B.get(k)?.accuracy != null);
      pairs.push({
        from: showValue(from),
        to: showValue(to),
        best: overall.config ? without(overall.config.overrides, columns) : null,
        fromAccuracy: overall.config?.accuracy ?? null,
        toAccuracy: overall.to,
        toBest: overall.best,
        loss: overall.loss,
        rowLosses,
        rho: spearman(
          common.map(([, s]) => s.accuracy!),
          common.map(([k]) => B.get(k)!.accuracy!),
        ),
        compared: common.length,
      });
    }),
  );
  return { rows: rowKey, columns, rowLabels: rowValues.map(showValue), pairs };
}

const pct = (x: number | null) => (x === null ? '–' : (x * 100).toFixed(2));
const points = (x: number | null) => (x === null ? '–' : (x * 100).toFixed(2));
const rho = (x: number | null) => (x === null ? '–' : x.toFixed(2));
const cell = (s: string) => s.replace(/\|/g, '\\|');
const tableRow = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
const tableHead = (cells: string[]) => [tableRow(cells), `|${cells.map(() => ' --- ').join('|')}|`];

/** The file name of a heatmap's SVG in the sweep folder. */
export const heatmapFile = (h: Pick<Heatmap, 'rows' | 'columns'>) => `heatmap-${(h.rows ?? 'all').replace(/[^A-Za-z0-9._-]/g, '_')}-by-${h.columns.replace(/[^A-Za-z0-9._-]/g, '_')}.svg`;

/** The report as markdown. */
export function reportMarkdown(a: SweepAnalysis): string {
  const { sweep, rows } = a;
  const paths = a.keys;
  const lines: string[] = [`# Sweep ${sweep.spec.name}`, ''];
  const latest = latestRecords(a.records);
  lines.push(
    `${sweep.trials.length} trials: ${latest.filter((r) => r.status === 'ok').length} ok, ${latest.filter((r) => r.status === 'failed').length} failed, ${sweep.trials.length - latest.length} not run. Test error (%) over seeds, best first.`,
    '',
  );
  const halving = rows.some((r) => r.epochs.length > 0);
  const header = [...(paths.length ? paths : ['overrides']), 'test error (%)', 'std', 'seeds', 'failed', ...(halving ? ['epochs'] : [])];
  lines.push(...tableHead(header));
  for (const r of rows) {
    const keys = paths.length ? paths.map((p) => (p in r.overrides ? showValue(r.overrides[p]) : '')) : [describeOverrides(r.overrides) || '(base)'];
    const epochs = halving ? [r.epochs.sort((x, y) => x - y).join(', ')] : [];
    lines.push(tableRow([...keys, pct(r.mean), pct(r.std), String(r.errors.length), String(r.failed), ...epochs]));
  }
  const h = a.heatmap;
  if (h) {
    const rowName = h.rows ?? 'all';
    lines.push(
      '',
      `## Best test accuracy: ${rowName} × ${h.columns}`,
      '',
      `The best mean test accuracy (%) over seeds among each cell's combinations of the other swept settings (shown in brackets; † the same accuracy as another combination, the one earlier in the sweep shown); – no finished trial${halving ? '; with successive halving each trial counts at the last rung it reached' : ''}. Plot: \`${heatmapFile(h)}\` in the sweep folder.`,
      '',
    );
    lines.push(...tableHead([`${rowName} \\ ${h.columns}`, ...h.columnLabels]));
    h.cells.forEach((row, i) => {
      const shown = row.map((c, j) => {
        if (!c) return h.failed[i][j] ? `– (${h.failed[i][j]} failed)` : '–';
        const settings = describeOverrides(c.settings);
        return `${pct(c.accuracy)}${c.ties ? '†' : ''}${settings ? ` (${settings})` : ''}`;
      });
      lines.push(tableRow([h.rowLabels[i], ...shown]));
    });
  }
  if (paths.length) {
    const cols = h ? { key: h.columns, labels: h.columnLabels, ids: a.values.get(h.columns)!.map((v) => canonicalJson(v)) } : null;
    lines.push(
      '',
      '## Sensitivity',
      '',
      `For each swept key: the best and the median mean test error (%) among the combinations with each value${cols ? `, and the best per ${cols.key}` : ''}.`,
      '',
    );
    for (const p of paths) {
      if (cols && p === cols.key) continue;
      lines.push(`### ${p}`, '', ...tableHead(['value', 'best test error (%)', 'median (%)', 'combinations', ...(cols ? cols.labels.map((l) => `best, ${l}`) : [])]));
      for (const v of a.values.get(p)!) {
        const id = canonicalJson(v);
        const withValue = rows.filter((r) => p in r.overrides && canonicalJson(r.overrides[p]) === id);
        const means = withValue.map((r) => r.mean).filter((m): m is number => m !== null);
        const bestOf = (ms: number[]) => (ms.length ? Math.min(...ms) : null);
        const perCol = cols
          ? cols.ids.map((c) => bestOf(withValue.filter((r) => cols.key in r.overrides && canonicalJson(r.overrides[cols.key]) === c && r.mean !== null).map((r) => r.mean!)))
          : [];
        lines.push(tableRow([showValue(v), pct(bestOf(means)), pct(median(means)), `${means.length}/${withValue.length}`, ...perCol.map(pct)]));
      }
      lines.push('');
    }
  }
  const t = a.transfer;
  if (t) {
    const rowName = t.rows;
    if (lines[lines.length - 1] !== '') lines.push('');
    lines.push(
      `## Transfer across ${t.columns}`,
      '',
      `A configuration is a combination of every swept setting but ${t.columns}. For each pair A → B: the configuration with the best mean test accuracy on A, its accuracy on A and on B, B's own best, and the accuracy lost on B (points)${rowName ? `; the same within each ${rowName} (the best of the other settings on A, against B's best for that ${rowName}), averaged over the ${rowName} values where both finished` : ''}; and Spearman's ρ between the accuracies on A and on B of the configurations finished on both (ties share ranks).`,
      '',
      ...tableHead(['pair (A → B)', 'best on A', 'on A (%)', 'on B (%)', "B's best (%)", 'loss (points)', ...(rowName ? [`mean loss per ${rowName} (points)`] : []), 'Spearman ρ', 'configurations']),
    );
    for (const p of t.pairs) {
      const losses = p.rowLosses.filter((l): l is number => l !== null);
      lines.push(
        tableRow([
          `${p.from} → ${p.to}`,
          p.best ? describeOverrides(p.best) || '(base)' : '–',
          pct(p.fromAccuracy),
          pct(p.toAccuracy),
          pct(p.toBest),
          points(p.loss),
          ...(rowName ? [losses.length ? `${points(mean(losses))} (${losses.length}/${p.rowLosses.length})` : '–'] : []),
          rho(p.rho),
          String(p.compared),
        ]),
      );
    }
    if (rowName && t.rowLabels.length) {
      lines.push('', `### Loss per ${rowName} (points)`, '', `The best settings of each ${rowName} on A, run on B, against B's best for that ${rowName}; – not finished on A or B.`, '');
      lines.push(...tableHead([rowName, ...t.pairs.map((p) => `${p.from} → ${p.to}`)]));
      t.rowLabels.forEach((label, i) => lines.push(tableRow([label, ...t.pairs.map((p) => points(p.rowLosses[i]))])));
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The report of a sweep folder, as markdown. */
export function sweepReport(folder: string, options: ReportOptions = {}): string {
  return reportMarkdown(analyzeSweep(folder, options));
}
