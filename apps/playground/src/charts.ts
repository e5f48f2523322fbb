// Line charts as plain SVG: axes, ticks, one polyline per series, a legend. Also exported as standalone SVG files.
const SVG_NS = 'http://www.w3.org/2000/svg';

export interface Series {
  label: string;
  color: string;
  /** Dashed for the second and later layers of a per-layer quantity. */
  dash?: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  log?: boolean;
  /** Fixed y range (angles: 0–90 or 0–180); otherwise from the data. */
  yMin?: number;
  yMax?: number;
}

const W = 460;
const H = 240;
const M = { left: 52, right: 12, top: 24, bottom: 34 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(10)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));

/** Draws the chart into `svg` (replacing its content); returns the number of finite points drawn. */
export function drawChart(svg: SVGSVGElement, series: readonly Series[], opts: ChartOptions): number {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('data-scale', opts.log ? 'log' : 'linear');
  const tr = (v: number) => (opts.log ? Math.log10(Math.max(v, 1e-12)) : v);
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.log || y > 0)));
  svg.append(el('title', {}, opts.title));
  svg.append(el('text', { x: M.left, y: 15, class: 'chart-title' }, opts.title));
  const innerW = W - M.left - M.right;
  const innerH = H - M.top - M.bottom;
  svg.append(el('rect', { x: M.left, y: M.top, width: innerW, height: innerH, class: 'plot-area' }));
  if (finite.length === 0) {
    svg.append(el('text', { x: M.left + innerW / 2, y: M.top + innerH / 2, class: 'empty', 'text-anchor': 'middle' }, 'no data yet'));
    svg.setAttribute('data-points', '0');
    return 0;
  }
  const xs = finite.map((p) => p[0]);
  const ys = finite.map((p) => tr(p[1]));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = opts.yMin !== undefined ? tr(opts.yMin) : Math.min(...ys);
  let y1 = opts.yMax !== undefined ? tr(opts.yMax) : Math.max(...ys);
  if (y1 - y0 < 1e-9) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0)) * innerW;
  const py = (y: number) => M.top + innerH - ((tr(y) - y0) / (y1 - y0)) * innerH;

  const axis = el('g', { class: 'axis' });
  for (const t of niceTicks(x0, x1)) {
    axis.append(el('line', { x1: px(t), x2: px(t), y1: M.top + innerH, y2: M.top + innerH + 4 }));
    axis.append(el('text', { x: px(t), y: M.top + innerH + 16, 'text-anchor': 'middle' }, fmt(t)));
  }
  for (const t of niceTicks(y0, y1, 4)) {
    const y = M.top + innerH - ((t - y0) / (y1 - y0)) * innerH;
    axis.append(el('line', { x1: M.left, x2: M.left + innerW, y1: y, y2: y, class: 'grid' }));
    axis.append(el('text', { x: M.left - 5, y: y + 4, 'text-anchor': 'end' }, opts.log ? fmt(10 ** t) : fmt(t)));
  }
  axis.append(el('text', { x: M.left + innerW / 2, y: H - 4, 'text-anchor': 'middle' }, 'step'));
  axis.append(el('text', { x: 12, y: M.top + innerH / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${M.top + innerH / 2})` }, opts.yLabel));
  svg.append(axis);

  let drawn = 0;
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.log || y > 0));
    drawn += pts.length;
    if (pts.length === 0) return;
    const attrs: Record<string, string | number> = { points: pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '), stroke: s.color, class: 'series' };
    if (s.dash) attrs['stroke-dasharray'] = s.dash;
    svg.append(el('polyline', attrs));
    if (pts.length === 1) svg.append(el('circle', { cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3, fill: s.color }));
    const ly = M.top + 12 + i * 13;
    svg.append(el('line', { x1: W - M.right - 130, x2: W - M.right - 112, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 2, ...(s.dash ? { 'stroke-dasharray': s.dash } : {}) }));
    svg.append(el('text', { x: W - M.right - 108, y: ly, class: 'legend' }, s.label));
  });
  svg.setAttribute('data-points', String(drawn));
  return drawn;
}

/** A standalone SVG file of a drawn chart (styles inlined). */
export function svgFile(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', SVG_NS);
  copy.setAttribute('width', String(W));
  copy.setAttribute('height', String(H));
  const style = el('style', {}, STANDALONE_STYLE);
  copy.insertBefore(style, copy.firstChild);
  return new XMLSerializer().serializeToString(copy);
}

const STANDALONE_STYLE =
  'text{font:11px sans-serif;fill:#222}.chart-title{font-weight:bold}.plot-area{fill:#fff;stroke:#999}.grid{stroke:#e4e4e4}' +
  '.axis line{stroke:#999}.series{fill:none;stroke-width:1.6}';
