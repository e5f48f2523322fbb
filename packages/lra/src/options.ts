import { OptionError, checkNumber, type JsonValue } from '@bioprop/core';

/** How layer l's correction reaches layer l−1: through `W_lᵀ` (diff) or a fixed random matrix `E_l` (fdbk). */
export type LraCorrection = 'diff' | 'fdbk';
/**
 * Where LRA-fdbk keeps its one derivative: `'above'`: `Δa_{l-1} = E_l (e_l ⊙ φ'(a_l))`;
 * `'below'`: `Δa_{l-1} = (E_l e_l) ⊙ φ'(a_{l-1})`.
 */
export type LraFdbkDerivative = 'above' | 'below';
/** The output layer's error: the trainer's loss (`e = ∂ℒ/∂a_L`), or the Cauchy loss to the labels. */
export type LraOutputLoss = 'task' | 'cauchy';
/** With K > 1: the weight update from the last pass's temporaries, or from the forward activity and the final targets. */
export type LraUpdateFrom = 'lastPass' | 'forward';

/** Options shared by LRA-diff and LRA-fdbk. Every field left out takes the tuned default (see the README). */
export interface LraOptions {
  /** Refinement passes K per training step (1 in most of the paper). */
  k?: number;
  /** Step β of the corrections: `y_{l-1} = φ(ā_{l-1} − β Δa_{l-1})`. */
  beta?: number;
  /** Bound c₁ on the Frobenius norm of each parameter's update (kernel and bias apart); `null`: unconstrained. */
  c1?: number | null;
  /** The output layer's error (default `'task'`). */
  outputLoss?: LraOutputLoss;
  /** With K > 1: recompute the output layer from the moved representation below after each pass (default true). */
  settleTop?: boolean;
  /** With K > 1: what the weight update is computed from (default `'forward'`: measured better; `'lastPass'` is methods.md's reading). */
  updateFrom?: LraUpdateFrom;
  /** Report each layer's local loss and update norm in `StepResult.metrics` (about 20 small ops a step; default false). */
  metrics?: boolean;
}

/** LRA-fdbk's options: LRA's, plus the feedback matrices' scale and where the derivative sits. */
export interface LraFdbkOptions extends LraOptions {
  /** Which derivative the correction keeps (default from the sweep: see the README). */
  derivative?: LraFdbkDerivative;
  /** Standard deviation of the fixed Gaussian feedback matrices `E_l` (the paper: σ ≈ 1). */
  feedbackStd?: number;
}

/** A variant's tuned defaults (fdbk adds `derivative` and `feedbackStd`). */
export type LraDefaultOptions = {
  readonly k: number;
  readonly beta: number;
  readonly c1: number | null;
  readonly outputLoss: LraOutputLoss;
  readonly settleTop: boolean;
  readonly updateFrom: LraUpdateFrom;
  readonly derivative?: LraFdbkDerivative;
  readonly feedbackStd?: number;
  readonly metrics?: boolean;
};

/** Every option resolved, as the algorithm reads them. */
export interface ResolvedLraOptions {
  readonly correction: LraCorrection;
  readonly k: number;
  readonly beta: number;
  readonly c1: number | null;
  readonly outputLoss: LraOutputLoss;
  readonly settleTop: boolean;
  readonly updateFrom: LraUpdateFrom;
  readonly derivative: LraFdbkDerivative;
  readonly feedbackStd: number;
  readonly metrics: boolean;
}

const COMMON_KEYS = ['k', 'beta', 'c1', 'outputLoss', 'settleTop', 'updateFrom', 'metrics'] as const;
const FDBK_KEYS = [...COMMON_KEYS, 'derivative', 'feedbackStd'] as const;

function oneOf<T extends string>(where: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new OptionError(`${where} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** Validate user options at the boundary (unknown keys and bad values are errors, never NaN later). */
export function resolveLraOptions(
  correction: LraCorrection,
  options: LraFdbkOptions | undefined,
  defaults: LraDefaultOptions,
): ResolvedLraOptions {
  const id = `lra-${correction}`;
  const given = (options ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given)) throw new OptionError(`${id}: options must be an object`);
  const known: readonly string[] = correction === 'fdbk' ? FDBK_KEYS : COMMON_KEYS;
  for (const key of Object.keys(given)) {
    if (given[key] === undefined) continue;
    if (!known.includes(key)) {
      const hint = correction === 'diff' && FDBK_KEYS.includes(key as never) ? ' (it belongs to lra-fdbk)' : '';
      throw new OptionError(`${id}: unknown option "${key}"${hint}; known: ${known.join(', ')}`);
    }
  }
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  // diff's defaults carry no fdbk fields: these fallbacks are never read by diff
  const o = { derivative: 'below', feedbackStd: 1, metrics: false, ...defaults, ...set } as Required<LraDefaultOptions>;
  for (const key of ['settleTop', 'metrics'] as const) {
    if (typeof o[key] !== 'boolean') throw new OptionError(`${id} ${key} must be a boolean, got ${JSON.stringify(o[key])}`);
  }
  return {
    correction,
    k: checkNumber(`${id} k`, o.k, { min: 1, max: 1000, integer: true }),
    beta: checkNumber(`${id} beta`, o.beta, { min: 0 }),
    c1: o.c1 === null ? null : checkNumber(`${id} c1`, o.c1, { min: Number.MIN_VALUE }),
    outputLoss: oneOf(`${id} outputLoss`, o.outputLoss, ['task', 'cauchy'] as const),
    settleTop: o.settleTop,
    updateFrom: oneOf(`${id} updateFrom`, o.updateFrom, ['lastPass', 'forward'] as const),
    derivative: oneOf(`${id} derivative`, o.derivative, ['above', 'below'] as const),
    feedbackStd: checkNumber(`${id} feedbackStd`, o.feedbackStd, { min: Number.MIN_VALUE }),
    metrics: o.metrics,
  };
}

/** The options a rule reports (and checkpoints record): only those its variant reads. */
export function optionsJson(o: ResolvedLraOptions): JsonValue {
  const common = { k: o.k, beta: o.beta, c1: o.c1, outputLoss: o.outputLoss, settleTop: o.settleTop, updateFrom: o.updateFrom, metrics: o.metrics };
  return o.correction === 'fdbk' ? { ...common, derivative: o.derivative, feedbackStd: o.feedbackStd } : common;
}
