// Weights as images on canvas: a dense first layer over square images as one tile per unit (receptive fields),
// conv filters as tiles, any other kernel as a matrix heat map. Blue negative, red positive, scaled per tensor.
import type { WeightImage } from './experiment';

const MAX_TILES = 32;

function color(v: number, scale: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v / scale));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
}

function maxAbs(data: Float32Array): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) if (Number.isFinite(data[i])) m = Math.max(m, Math.abs(data[i]));
  return m || 1;
}

/** Tiles of `tileH × tileW` pixels; `value(tile, r, c)` reads the weight. */
function tiles(canvas: HTMLCanvasElement, count: number, tileH: number, tileW: number, value: (t: number, r: number, c: number) => number, scale: number): void {
  const n = Math.min(count, MAX_TILES);
  const cols = Math.min(n, 8);
  const rows = Math.ceil(n / cols);
  canvas.width = cols * (tileW + 1) - 1;
  canvas.height = rows * (tileH + 1) - 1;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(255);
  for (let t = 0; t < n; t++) {
    const ox = (t % cols) * (tileW + 1);
    const oy = Math.floor(t / cols) * (tileH + 1);
    for (let r = 0; r < tileH; r++) {
      for (let c = 0; c < tileW; c++) {
        const [R, G, B] = color(value(t, r, c), scale);
        const o = ((oy + r) * canvas.width + ox + c) * 4;
        img.data[o] = R;
        img.data[o + 1] = G;
        img.data[o + 2] = B;
        img.data[o + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** Draws one weight tensor; `imageSide` is the input image's side when the layer reads flat square images. */
export function drawWeights(canvas: HTMLCanvasElement, w: WeightImage, imageSide: number | null): string {
  const scale = maxAbs(w.data);
  const { shape, data } = w;
  if (shape.length === 2 && imageSide && shape[0] === imageSide * imageSide) {
    // dense kernel [n_in, n_out]: unit u's receptive field is column u
    const units = shape[1];
    tiles(canvas, units, imageSide, imageSide, (t, r, c) => data[(r * imageSide + c) * units + t], scale);
    return `${Math.min(units, MAX_TILES)} of ${units} units' input weights`;
  }
  if (shape.length === 4) {
    // conv kernel [kh, kw, inC, outC]: the first input channel of each filter
    const [kh, kw, inC, outC] = shape;
    tiles(canvas, outC, kh, kw, (t, r, c) => data[((r * kw + c) * inC + 0) * outC + t], scale);
    return `${Math.min(outC, MAX_TILES)} of ${outC} filters (${kh}×${kw}, first input channel)`;
  }
  // a matrix heat map, rows = inputs; strided down to at most 256 rows and columns
  const rows = shape[0];
  const cols = data.length / rows;
  const sr = Math.max(1, Math.ceil(rows / 256));
  const sc = Math.max(1, Math.ceil(cols / 256));
  const h = Math.ceil(rows / sr);
  const wd = Math.ceil(cols / sc);
  tiles(canvas, 1, h, wd, (_t, r, c) => data[r * sr * cols + c * sc], scale);
  return `[${shape.join('×')}]${sr > 1 || sc > 1 ? ' (strided)' : ''}`;
}
