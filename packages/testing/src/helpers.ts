import * as tf from '@tensorflow/tfjs-core';
import { randomStream, type Tensor, type TrainData } from '@bioprop/core';

/** Anything the numeric helpers compare: a tensor or a flat array of numbers. */
export type Numeric = Tensor | Float32Array | Float64Array | readonly number[];

function values(x: Numeric): ArrayLike<number> {
  return x instanceof tf.Tensor ? (x.dataSync() as Float32Array) : (x as ArrayLike<number>);
}

function shapeOf(x: Numeric): string {
  return x instanceof tf.Tensor ? `[${x.shape.join(', ')}]` : `${(x as ArrayLike<number>).length} values`;
}

function sameSize(what: string, a: Numeric, b: Numeric): [ArrayLike<number>, ArrayLike<number>] {
  if (a instanceof tf.Tensor && b instanceof tf.Tensor && a.shape.join() !== b.shape.join()) {
    throw new RangeError(`${what}: shapes differ, ${shapeOf(a)} vs ${shapeOf(b)}`);
  }
  const va = values(a);
  const vb = values(b);
  if (va.length !== vb.length) throw new RangeError(`${what}: sizes differ, ${shapeOf(a)} vs ${shapeOf(b)}`);
  return [va, vb];
}

/**
 * `‖a − b‖ / max(‖b‖, tiny)` over all elements (flattened), in double precision.
 * `b` is the reference. Shapes (or lengths) must match.
 */
export function relativeError(a: Numeric, b: Numeric, tiny = 1e-12): number {
  const [va, vb] = sameSize('relativeError', a, b);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < va.length; i++) {
    const d = va[i] - vb[i];
    diff += d * d;
    ref += vb[i] * vb[i];
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(ref), tiny);
}

/** Throws (with the error, the norms and the worst element) unless `relativeError(a, b) ≤ tol`. */
export function expectClose(a: Numeric, b: Numeric, tol = 1e-5, what = 'value'): void {
  const err = relativeError(a, b);
  if (err <= tol) return;
  const [va, vb] = sameSize('expectClose', a, b);
  let worst = 0;
  let worstAbs = -1;
  let normB = 0;
  for (let i = 0; i < va.length; i++) {
    const d = Math.abs(va[i] - vb[i]);
    if (!(d <= worstAbs)) {
      worstAbs = d;
      worst = i;
    }
    normB += vb[i] * vb[i];
  }
  throw new Error(
    `${what}: relative error ${err.toExponential(3)} > ${Number(tol.toPrecision(3)).toExponential()} (‖b‖ = ${Math.sqrt(normB).toExponential(3)}; ` +
      `largest difference at index ${worst}: ${va[worst]} vs ${vb[worst]})`,
  );
}

/**
 * What `seededData` generates: one-hot classes of a random tanh teacher, real targets in (−1, 1), or (`images`, for
 * image inputs `[H, W, C]`) one-hot classes of noisy images, each class a smooth random pattern.
 */
export type SeededTaskKind = 'classification' | 'regression' | 'images';

/**
 * A small fixed task, the same for the same arguments: inputs `x ~ N(0, 1)` and targets from a random
 * one-hidden-layer tanh teacher (drawn from the seed), so a student network can learn it. For
 * `classification` the target is the one-hot argmax of the teacher's `outDim` outputs; for `regression`
 * it is `tanh` of them (in (−1, 1), fit for MSE with a tanh or linear output layer).
 */
export function seededData(seed: number, n: number, inShape: readonly number[], outDim: number, kind: SeededTaskKind = 'classification'): TrainData {
  if (kind === 'images') return seededImages(seed, n, inShape, outDim);
  const inSize = inShape.reduce((a, b) => a * b, 1);
  const hidden = 16;
  const rnd = randomStream(seed, `seededData/${kind}`);
  // gains keep the teacher's hidden units and outputs away from both saturation and linearity
  const w1 = rnd.normalArray(inSize * hidden, 0, 1.5 / Math.sqrt(inSize));
  const w2 = rnd.normalArray(hidden * outDim, 0, (kind === 'classification' ? 3 : 1.5) / Math.sqrt(hidden));
  const x = rnd.normalArray(n * inSize);
  const y = new Float32Array(n * outDim);
  const h = new Float64Array(hidden);
  const o = new Float64Array(outDim);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < hidden; j++) {
      let a = 0;
      for (let i = 0; i < inSize; i++) a += x[s * inSize + i] * w1[i * hidden + j];
      h[j] = Math.tanh(a);
    }
    for (let k = 0; k < outDim; k++) {
      let a = 0;
      for (let j = 0; j < hidden; j++) a += h[j] * w2[j * outDim + k];
      o[k] = a;
    }
    if (kind === 'classification') {
      let best = 0;
      for (let k = 1; k < outDim; k++) if (o[k] > o[best]) best = k;
      y[s * outDim + best] = 1;
    } else {
      for (let k = 0; k < outDim; k++) y[s * outDim + k] = Math.tanh(o[k]);
    }
  }
  return { x, y, count: n, sampleShape: [...inShape], targetShape: [outDim] };
}

/**
 * Noisy images of `classes` smooth random patterns: each class is a 4×4 grid of N(0, 1) values per channel,
 * upsampled bilinearly to H×W; a sample is its class's pattern plus N(0, 1) noise. A convolutional network learns it
 * quickly; a dense teacher over pixels (the plain classification task) is much harder for it.
 */
export function seededImages(seed: number, n: number, inShape: readonly number[], classes: number): TrainData {
  if (inShape.length !== 3) throw new RangeError(`seededImages: inputs must be images [H, W, C], got [${inShape.join(', ')}]`);
  const [H, W, C] = inShape;
  const rnd = randomStream(seed, 'seededData/images');
  const G = 4;
  const grids = Array.from({ length: classes }, () => rnd.normalArray(G * G * C));
  const at = (grid: Float32Array, gy: number, gx: number, c: number) => grid[(gy * G + gx) * C + c];
  const patterns = grids.map((grid) => {
    const p = new Float32Array(H * W * C);
    for (let y = 0; y < H; y++) {
      const fy = (y / Math.max(1, H - 1)) * (G - 1);
      const y0 = Math.min(G - 2, Math.floor(fy));
      const ty = fy - y0;
      for (let x = 0; x < W; x++) {
        const fx = (x / Math.max(1, W - 1)) * (G - 1);
        const x0 = Math.min(G - 2, Math.floor(fx));
        const tx = fx - x0;
        for (let c = 0; c < C; c++) {
          const top = (1 - tx) * at(grid, y0, x0, c) + tx * at(grid, y0, x0 + 1, c);
          const bottom = (1 - tx) * at(grid, y0 + 1, x0, c) + tx * at(grid, y0 + 1, x0 + 1, c);
          p[(y * W + x) * C + c] = (1 - ty) * top + ty * bottom;
        }
      }
    }
    return p;
  });
  const size = H * W * C;
  const x = rnd.normalArray(n * size);
  const y = new Float32Array(n * classes);
  for (let s = 0; s < n; s++) {
    const k = Math.floor(rnd.next() * classes);
    y[s * classes + k] = 1;
    const p = patterns[k];
    for (let i = 0; i < size; i++) x[s * size + i] += p[i];
  }
  return { x, y, count: n, sampleShape: [...inShape], targetShape: [classes] };
}
