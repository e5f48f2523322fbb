/** Statistics over seeds: mean, sample standard deviation, and every seed's value; one seed is shown as one seed. */
import type { RunResult } from './run.js';
import { formatTable } from './table.js';

export interface SeedStats {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); null for one seed, where there is no spread to show. */
  std: number | null;
  values: number[];
}

export function seedStats(values: readonly number[]): SeedStats | null {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length < 2 ? null : Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  return { n: v.length, mean, std, values: [...v] };
}

/** `9.56%` for one seed, `9.56 ± 0.21%` for several (scale 100 for fractions shown as percent). */
export function formatStats(s: SeedStats | null, options: { percent?: boolean; digits?: number } = {}): string {
  if (!s) return '-';
  const k = options.percent ? 100 : 1;
  const d = options.digits ?? (options.percent ? 2 : 4);
  const unit = options.percent ? '%' : '';
  return s.std === null ? `${(k * s.mean).toFixed(d)}${unit}` : `${(k * s.mean).toFixed(d)} ± ${(k * s.std).toFixed(d)}${unit}`;
}

/** One rule's results over its seeds. */
export interface RuleSummary {
  label: string;
  rule: string;
  seeds: number[];
  testError: SeedStats | null;
  testLoss: SeedStats | null;
  bestValidationError: SeedStats | null;
  trainLoss: SeedStats | null;
  /** Mean over seeds, per layer. */
  angleToBackpropDeg: number[];
  samplesPerSecond: number;
}

/** Per rule label (in order of first appearance), statistics over the seeds it ran with. */
export function summarize(results: readonly RunResult[]): RuleSummary[] {
  const labels = [...new Set(results.map((r) => r.label ?? r.rule))];
  return labels.map((label) => {
    const runs = results.filter((r) => (r.label ?? r.rule) === label);
    const layers = Math.max(0, ...runs.map((r) => r.angleToBackpropDeg.length));
    return {
      label,
      rule: runs[0].rule,
      seeds: runs.map((r) => r.seed),
      testError: seedStats(runs.map((r) => r.testError ?? NaN)),
      testLoss: seedStats(runs.map((r) => r.testLoss)),
      bestValidationError: seedStats(runs.map((r) => r.bestValidationError ?? NaN)),
      trainLoss: seedStats(runs.map((r) => r.trainLoss)),
      angleToBackpropDeg: Array.from({ length: layers }, (_, l) => {
        const s = seedStats(runs.map((r) => r.angleToBackpropDeg[l] ?? NaN));
        return s ? s.mean : NaN;
      }),
      samplesPerSecond: runs.reduce((a, r) => a + r.samplesPerSecond, 0) / runs.length,
    };
  });
}

/** The results table: test error over seeds (and each seed's), train loss, angle to backprop per layer, samples/s. */
export function resultsTable(results: readonly RunResult[], failures: readonly { label?: string; rule: string; seed?: number; error: string }[] = []): string {
  const summaries = summarize(results);
  const regression = results.some((r) => r.testAccuracy === null);
  const multi = summaries.some((s) => s.seeds.length > 1);
  const validation = results.some((r) => r.bestValidationError !== null && r.bestValidationError !== undefined);
  const header = [
    'rule',
    regression ? 'test loss' : 'test error',
    ...(multi ? ['seeds', 'per seed'] : []),
    ...(validation ? ['best validation error'] : []),
    'train loss',
    'angle to bp per layer (°)',
    'samples/s',
  ];
  const body = summaries.map((s) => {
    const main = regression ? s.testLoss : s.testError;
    return [
      s.label,
      formatStats(main, { percent: !regression }),
      ...(multi ? [String(s.seeds.length), (main?.values ?? []).map((v) => (regression ? v.toFixed(4) : (100 * v).toFixed(2))).join(', ')] : []),
      ...(validation ? [formatStats(s.bestValidationError, { percent: true })] : []),
      formatStats(s.trainLoss),
      s.angleToBackpropDeg.length ? s.angleToBackpropDeg.map((a) => a.toFixed(1)).join(' / ') : '-',
      Math.round(s.samplesPerSecond).toLocaleString('en-US'),
    ];
  });
  for (const f of failures) {
    body.push([f.label ?? f.rule, f.seed === undefined ? 'failed' : `failed (seed ${f.seed})`, ...Array(header.length - 2).fill('-')]);
  }
  return formatTable(header, body);
}
