/** The sweep report's heatmap as SVG (Vega-Lite, rendered headless like the training curves in plot.ts). */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Heatmap } from './sweep-report.js';

/** The Vega-Lite spec: one cell per row × column value, coloured by the best mean test accuracy, grey where none finished. */
export function heatmapSpec(h: Heatmap, title?: string): TopLevelSpec {
  const values = h.cells.flatMap((row, i) =>
    row.map((c, j) => ({
      row: h.rowLabels[i],
      column: h.columnLabels[j],
      accuracy: c ? Number((c.accuracy * 100).toFixed(2)) : null,
      text: c ? `${(c.accuracy * 100).toFixed(2)}${c.ties ? '†' : ''}` : h.failed[i][j] ? 'failed' : '–',
    })),
  );
  const finished = values.filter((v) => v.accuracy !== null).map((v) => v.accuracy!);
  const lo = finished.length ? Math.min(...finished) : 0;
  const hi = finished.length ? Math.max(...finished) : 100;
  const x = { field: 'column', type: 'nominal', sort: h.columnLabels, title: h.columns, axis: { orient: 'top', labelAngle: 0 } } as const;
  const y = { field: 'row', type: 'nominal', sort: h.rowLabels, title: h.rows ?? '' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title ?? `best mean test accuracy (%): ${h.rows ?? 'all'} × ${h.columns}`,
    background: 'white',
    data: { values },
    width: Math.max(120, 70 * h.columnLabels.length),
    height: Math.max(40, 18 * h.rowLabels.length),
    layer: [
      { transform: [{ filter: 'datum.accuracy === null' }], mark: { type: 'rect', fill: '#eeeeee' }, encoding: { x, y } },
      {
        transform: [{ filter: 'datum.accuracy !== null' }],
        mark: 'rect',
        encoding: { x, y, color: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { scheme: 'viridis', domain: [lo, hi === lo ? lo + 1 : hi] } } },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          x,
          y,
          text: { field: 'text' },
          // light text on the dark (low) end of viridis
          color: { condition: { test: `datum.accuracy !== null && datum.accuracy < ${(lo + hi) / 2}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** Render the heatmap to an SVG string (Vega's `none` renderer: no canvas, no network). */
export async function renderHeatmapSvg(h: Heatmap, title?: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(heatmapSpec(h, title)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
