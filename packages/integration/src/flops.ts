/** The rules whose step cost `denseStepFlops` knows. */
export type DenseRuleKind = 'bp' | 'fa' | 'dfa';

export interface DenseStepFlopsOptions {
  /** Layer widths, input first: `[784, 1000, 10]`. */
  sizes: readonly number[];
  batch: number;
  /** `bp` and `fa` send errors down through every layer but the first; `dfa` projects `e` to each hidden layer. */
  rule: DenseRuleKind;
}

/**
 * Floating-point operations of the matrix products in one training step of a dense network (2 per
 * multiply-add): forward `N·in·out`, weight gradients `N·in·out` per layer, and the backward products
 * (BP/FA: `N·out·in` for layers 1..L−1; DFA: `N·n_L·n_l` for each hidden layer). Elementwise work is not counted:
 * this is the work an sgemm peak bounds, so `flops / seconds / peak` is the step's sgemm efficiency.
 */
export function denseStepFlops({ sizes, batch, rule }: DenseStepFlopsOptions): number {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new RangeError(`denseStepFlops: sizes must be ≥ 2 positive integers, got [${sizes}]`);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`denseStepFlops: batch must be a positive integer, got ${batch}`);
  let macs = 0;
  const layers = sizes.length - 1;
  const nOut = sizes[layers];
  for (let l = 0; l < layers; l++) {
    const inW = sizes[l];
    const outW = sizes[l + 1];
    macs += 2 * batch * inW * outW; // forward and weight gradient
    if (rule === 'dfa') {
      if (l < layers - 1) macs += batch * nOut * outW;
    } else if (l > 0) {
      macs += batch * inW * outW;
    }
  }
  return 2 * macs;
}
