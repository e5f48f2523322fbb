import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { RunResult } from './run.js';

/** Long-form rows for the curves: one per rule and epoch (and layer for the angles). */
function rows(results: readonly RunResult[]) {
  const learning: Record<string, unknown>[] = [];
  const alignment: Record<string, unknown>[] = [];
  for (const r of results) {
    for (const h of r.history) {
      learning.push({
        rule: r.rule,
        epoch: h.epoch,
        metric: h.testAccuracy === null ? 'test loss' : 'test error (%)',
        value: h.testAccuracy === null ? h.testLoss : 100 * (1 - h.testAccuracy),
      });
      learning.push({ rule: r.rule, epoch: h.epoch, metric: 'train loss', value: h.trainLoss });
      h.angleToBackpropDeg.forEach((deg, l) => alignment.push({ rule: r.rule, epoch: h.epoch, layer: `layer ${l + 1}`, angle: deg }));
    }
  }
  return { learning, alignment };
}

/** The Vega-Lite spec of the learning curves (test error, train loss) and alignment curves (angle to backprop per layer). */
export function curvesSpec(results: readonly RunResult[], title = 'bioprop: learning and alignment curves'): TopLevelSpec {
  const { learning, alignment } = rows(results);
  const ruleOrder = results.map((r) => r.rule);
  const color = { field: 'rule', type: 'nominal', sort: ruleOrder, scale: { scheme: 'tableau20' } } as const;
  const x = { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } } as const;
  // angles live in [0, 180]; show at least [0, 90] so curves of different runs read alike
  const maxAngle = Math.max(90, ...alignment.map((a) => Math.ceil((a.angle as number) / 10) * 10));
  const learningChart = {
    data: { values: learning },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: { x, y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } }, color },
    },
    resolve: { scale: { y: 'independent' } },
  };
  const alignmentChart = {
    data: { values: alignment },
    facet: { column: { field: 'layer', type: 'nominal', title: 'angle to backprop (degrees), per layer' } },
    spec: {
      width: 180,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: { x, y: { field: 'angle', type: 'quantitative', title: 'degrees', scale: { domain: [0, maxAngle] } }, color },
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    vconcat: alignment.length ? [learningChart, alignmentChart] : [learningChart],
  } as unknown as TopLevelSpec;
}

/** Render the curves to an SVG string (headless: Vega's `none` renderer, no canvas, no network). */
export async function renderCurvesSvg(results: readonly RunResult[], title?: string): Promise<string> {
  const compiled = compile(curvesSpec(results, title)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
