import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { RunResult } from './run.js';

export interface CurvesOptions {
  title?: string;
  /** Train loss on a log scale. */
  logLoss?: boolean;
}

interface Band {
  rule: string;
  epoch: number;
  metric: string;
  mean: number;
  lo: number;
  hi: number;
  seeds: number;
}

/** Per rule label, epoch and metric: the mean over seeds and the band from the lowest to the highest seed. */
function bands(results: readonly RunResult[]): { learning: Band[]; angles: Band[] } {
  const groups = new Map<string, { rule: string; epoch: number; metric: string; values: number[] }>();
  const add = (rule: string, epoch: number, metric: string, v: number) => {
    if (!Number.isFinite(v)) return;
    const k = `${rule}\u0000${epoch}\u0000${metric}`;
    const g = groups.get(k) ?? { rule, epoch, metric, values: [] };
    g.values.push(v);
    groups.set(k, g);
  };
  for (const r of results) {
    const rule = r.label ?? r.rule;
    for (const h of r.history) {
      if (h.testAccuracy === null) add(rule, h.epoch, 'test loss', h.testLoss);
      else add(rule, h.epoch, 'test error (%)', 100 * (1 - h.testAccuracy));
      add(rule, h.epoch, 'train loss', h.trainLoss);
      h.angleToBackpropDeg.forEach((deg, l) => add(rule, h.epoch, `layer ${l + 1}`, deg));
    }
  }
  const all = [...groups.values()].map((g) => ({
    rule: g.rule,
    epoch: g.epoch,
    metric: g.metric,
    mean: g.values.reduce((a, b) => a + b, 0) / g.values.length,
    lo: Math.min(...g.values),
    hi: Math.max(...g.values),
    seeds: g.values.length,
  }));
  const angles = all.filter((b) => b.metric.startsWith('layer '));
  // a layer whose angle is the same for every rule and epoch (the output layer: every rule's δ there is the loss
  // gradient) says nothing: no panel for it
  const constant = new Set<string>();
  for (const m of new Set(angles.map((a) => a.metric))) {
    const v = angles.filter((a) => a.metric === m);
    if (v.every((a) => Math.abs(a.hi - v[0].mean) < 1e-6 && Math.abs(a.lo - v[0].mean) < 1e-6)) constant.add(m);
  }
  return { learning: all.filter((b) => !b.metric.startsWith('layer ')), angles: angles.filter((a) => !constant.has(a.metric)) };
}

/**
 * The Vega-Lite spec of the curves: one small panel per rule for the test error and for the train loss (mean over
 * seeds, band from the lowest to the highest seed, each panel on its own scale so one poor rule does not flatten the
 * others), then the angle to backprop per layer (mean over seeds), without the layers constant by construction.
 */
export function curvesSpec(results: readonly RunResult[], options: CurvesOptions = {}): TopLevelSpec {
  const { learning, angles } = bands(results);
  const ruleOrder = [...new Set(results.map((r) => r.label ?? r.rule))];
  const color = { field: 'rule', type: 'nominal', sort: ruleOrder, scale: { scheme: 'tableau20' }, legend: { title: 'rule' } } as const;
  const x = { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } } as const;
  const multiSeed = learning.some((b) => b.seeds > 1);
  const panel = (metric: string, log: boolean) => ({
    data: { values: learning.filter((b) => b.metric === metric) },
    facet: { field: 'rule', type: 'nominal', sort: ruleOrder, title: multiSeed ? `${metric}: mean over seeds, band from lowest to highest` : metric },
    columns: Math.min(5, ruleOrder.length),
    spec: {
      width: 150,
      height: 110,
      layer: [
        ...(multiSeed ? [{ mark: { type: 'area', opacity: 0.25 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: null, scale: { zero: false, ...(log ? { type: 'log' } : {}) } }, y2: { field: 'hi' }, color } }] : []),
        { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: null, scale: { zero: false, ...(log ? { type: 'log' } : {}) } }, color } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  });
  const errorMetric = learning.some((b) => b.metric === 'test error (%)') ? 'test error (%)' : 'test loss';
  const maxAngle = Math.max(90, ...angles.map((a) => Math.ceil(a.hi / 10) * 10));
  const angleChart = {
    data: { values: angles },
    facet: { column: { field: 'metric', type: 'nominal', title: 'angle to backprop (degrees), per layer; output layer omitted (0° for every rule)' } },
    spec: {
      width: 160,
      height: 160,
      mark: { type: 'line', point: true },
      encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'degrees', scale: { domain: [0, maxAngle] } }, color },
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? 'bioprop: learning and alignment curves',
    background: 'white',
    vconcat: [panel(errorMetric, false), panel('train loss', options.logLoss ?? false), ...(angles.length ? [angleChart] : [])],
  } as unknown as TopLevelSpec;
}

/** Render the curves to an SVG string (headless: Vega's `none` renderer, no canvas, no network). */
export async function renderCurvesSvg(results: readonly RunResult[], options: CurvesOptions | string = {}): Promise<string> {
  const o = typeof options === 'string' ? { title: options } : options;
  const compiled = compile(curvesSpec(results, o)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
