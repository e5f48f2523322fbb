import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@bioprop/core';

/** Float32's machine epsilon: the data a pseudoinverse is taken of comes from float32 tensors. */
const EPS32 = 2 ** -23;

/** Householder reflector `I − 2vvᵀ/(vᵀv)` on rows/entries `k..` (v stored from index k; `null` is the identity). */
interface Reflector {
  k: number;
  v: Float64Array | null;
}

/**
 * Householder QR of the row-major `rows × cols` matrix `a`, in place (R left in the upper triangle), optionally with
 * column pivoting (largest remaining column first, which makes `|R_kk|` non-increasing and so reveals the rank).
 */
function householderQr(a: Float64Array, rows: number, cols: number, pivot: boolean): { reflectors: Reflector[]; perm: Int32Array } {
  const perm = Int32Array.from({ length: cols }, (_, i) => i);
  const reflectors: Reflector[] = [];
  const steps = Math.min(rows, cols);
  for (let k = 0; k < steps; k++) {
    if (pivot) {
      let best = k;
      let bestNorm = -1;
      for (let j = k; j < cols; j++) {
        let s = 0;
        for (let i = k; i < rows; i++) s += a[i * cols + j] ** 2;
        if (s > bestNorm) {
          bestNorm = s;
          best = j;
        }
      }
      if (best !== k) {
        for (let i = 0; i < rows; i++) {
          const t = a[i * cols + k];
          a[i * cols + k] = a[i * cols + best];
          a[i * cols + best] = t;
        }
        const t = perm[k];
        perm[k] = perm[best];
        perm[best] = t;
      }
    }
    let norm = 0;
    for (let i = k; i < rows; i++) norm += a[i * cols + k] ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) {
      reflectors.push({ k, v: null });
      continue;
    }
    const x0 = a[k * cols + k];
    // α of the opposite sign to x0 avoids cancellation in v0 = x0 − α
    const alpha = x0 >= 0 ? -norm : norm;
    const v = new Float64Array(rows - k);
    for (let i = k; i < rows; i++) v[i - k] = a[i * cols + k];
    v[0] -= alpha;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i] * v[i];
    for (let j = k; j < cols; j++) {
      let dot = 0;
      for (let i = k; i < rows; i++) dot += v[i - k] * a[i * cols + j];
      const f = (2 * dot) / vv;
      for (let i = k; i < rows; i++) a[i * cols + j] -= f * v[i - k];
    }
    for (let i = k + 1; i < rows; i++) a[i * cols + k] = 0;
    a[k * cols + k] = alpha;
    reflectors.push({ k, v });
  }
  return { reflectors, perm };
}

/** Apply a reflector to every column of the row-major `rows × cols` matrix `m`, in place. */
function reflect(r: Reflector, m: Float64Array, cols: number): void {
  const { k, v } = r;
  if (!v) return;
  let vv = 0;
  for (let i = 0; i < v.length; i++) vv += v[i] * v[i];
  for (let j = 0; j < cols; j++) {
    let dot = 0;
    for (let i = 0; i < v.length; i++) dot += v[i] * m[(k + i) * cols + j];
    const f = (2 * dot) / vv;
    for (let i = 0; i < v.length; i++) m[(k + i) * cols + j] -= f * v[i];
  }
}

export interface PinvOptions {
  /**
   * Singular directions whose pivot `|R_kk|` is at most `rcond · |R_00|` count as zero (rank cut-off).
   * Default `max(rows, cols) · ε_float32`, as numpy's `pinv` does for float32 input.
   */
  rcond?: number;
}

/**
 * Moore–Penrose pseudoinverse of the row-major `rows × cols` matrix `a`, in float64, returned row-major
 * `cols × rows`. Complete orthogonal decomposition: `A P = Q₁ R₁` (QR with column pivoting, rank `r`), then
 * `R₁ᵀ = Z T` (a second QR), so `A = Q₁ Tᵀ Zᵀ Pᵀ` and `A⁺ = P Z T⁻ᵀ Q₁ᵀ`. Exact for any shape and rank.
 */
export function pinvArray(a: ArrayLike<number>, rows: number, cols: number, options: PinvOptions = {}): { pinv: Float64Array; rank: number } {
  if (a.length !== rows * cols) throw new ShapeError(`pinv: ${a.length} values do not make a ${rows} × ${cols} matrix`);
  const out = new Float64Array(cols * rows);
  if (rows === 0 || cols === 0) return { pinv: out, rank: 0 };
  const r = Float64Array.from(a);
  const { reflectors, perm } = householderQr(r, rows, cols, true);
  const rcond = options.rcond ?? Math.max(rows, cols) * EPS32;
  const top = Math.abs(r[0]);
  let rank = 0;
  while (rank < Math.min(rows, cols) && Math.abs(r[rank * cols + rank]) > rcond * top && top > 0) rank++;
  if (rank === 0) return { pinv: out, rank };

  // Q₁ᵀ (rank × rows): Q₁ = H_0 … H_{p−1} [I_r; 0], built column by column as a rows × rank matrix
  const q1 = new Float64Array(rows * rank);
  for (let i = 0; i < rank; i++) q1[i * rank + i] = 1;
  for (let k = reflectors.length - 1; k >= 0; k--) reflect(reflectors[k], q1, rank);

  // R₁ᵀ (cols × rank) = Z T
  const rt = new Float64Array(cols * rank);
  for (let i = 0; i < rank; i++) for (let j = i; j < cols; j++) rt[j * rank + i] = r[i * cols + j];
  const second = householderQr(rt, cols, rank, false);

  // Y = T⁻ᵀ Q₁ᵀ (rank × rows): forward substitution on Tᵀ (lower triangular), T in rt's upper triangle
  const y = new Float64Array(cols * rows); // padded to cols rows so Z can be applied as H'_0 … H'_{r−1} [Y; 0]
  for (let c = 0; c < rows; c++) {
    for (let i = 0; i < rank; i++) {
      let s = q1[c * rank + i];
      for (let j = 0; j < i; j++) s -= rt[j * rank + i] * y[j * rows + c];
      y[i * rows + c] = s / rt[i * rank + i];
    }
  }
  for (let k = second.reflectors.length - 1; k >= 0; k--) reflect(second.reflectors[k], y, rows);

  // undo the column pivoting: row i of P·X is row perm⁻¹(i), i.e. row perm[i] of the result is row i of X
  for (let i = 0; i < cols; i++) out.set(y.subarray(i * rows, (i + 1) * rows), perm[i] * rows);
  return { pinv: out, rank };
}

/** Moore–Penrose pseudoinverse of a 2-D tensor (computed in float64 on the host; see `pinvArray`). */
export function pinv(matrix: tf.Tensor, options: PinvOptions = {}): tf.Tensor2D {
  if (matrix.rank !== 2) throw new ShapeError(`pinv: expected a 2-D tensor, got shape [${matrix.shape}]`);
  const [rows, cols] = matrix.shape as [number, number];
  const { pinv: p } = pinvArray(matrix.dataSync(), rows, cols, options);
  return tf.tensor2d(Float32Array.from(p), [cols, rows]);
}
