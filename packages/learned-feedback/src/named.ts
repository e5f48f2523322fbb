import { OptionError, checkNumber } from '@bioprop/core';
import type { CoefficientLike } from './coefficients.js';
import { namedDefaults } from './defaults.js';
import type { FeedbackInit } from './feedback.js';
import { learnedFeedback, type FeedbackOptimizerLike } from './learned-feedback.js';
import { amp, decay, nullTerm, self, sparse } from './primitives.js';
import type { Rule } from '@bioprop/core';

/** Options every named rule takes besides its coefficients. */
export interface NamedRuleOptions {
  /** Data rules: B's update reads only the first n samples of each batch (default: the rule's tuned value). */
  feedbackSamples?: number;
  /** B's optimizer (default: the tuned one of the rule, see the README). */
  feedbackOptimizer?: FeedbackOptimizerLike;
  /** How B starts (default Glorot uniform from the layer's stream `rule/<id>/layer<l>`). */
  feedbackInit?: FeedbackInit;
}

export interface SymmetricAlignmentOptions extends NamedRuleOptions {
  /** α, the Self coefficient. */
  self?: CoefficientLike;
  /** β, the Decay coefficient. The fixed point is `B = (α/β)·kernel`. */
  decay?: CoefficientLike;
}

export interface ActivationAlignmentOptions extends NamedRuleOptions {
  amp?: CoefficientLike;
  sparse?: CoefficientLike;
}

export interface WeightMirrorOptions extends NamedRuleOptions {
  amp?: CoefficientLike;
  decay?: CoefficientLike;
  /**
   * Mirror mode: B learns from `x ~ N(0, σ²)` pushed through the layer, not the data. Default on, with
   * `σ = √(decay/amp)` so the fixed point `B = (amp·σ²/decay)·kernel` is the kernel itself. `false` uses the data.
   */
  mirror?: false | { sigma?: number; batchSize?: number };
}

export interface InformationAlignmentOptions extends NamedRuleOptions {
  amp?: CoefficientLike;
  null?: CoefficientLike;
  decay?: CoefficientLike;
}

const pick = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);

function common(o: NamedRuleOptions, d: { feedbackOptimizer: FeedbackOptimizerLike; feedbackSamples?: number }) {
  const samples = pick(o.feedbackSamples, d.feedbackSamples);
  return {
    feedbackOptimizer: pick(o.feedbackOptimizer, d.feedbackOptimizer),
    ...(o.feedbackInit !== undefined ? { feedbackInit: o.feedbackInit } : {}),
    ...(samples !== undefined ? { feedbackSamples: samples } : {}),
  };
}

function checkObject(o: unknown, where: string): void {
  if (o === null || typeof o !== 'object') throw new OptionError(`${where}: options must be an object`);
}

/** Symmetric alignment, SA = α·Self + β·Decay: B is pulled toward `(α/β)·kernel` (backprop when α = β). */
export function symmetricAlignment(options: SymmetricAlignmentOptions = {}): Rule {
  checkObject(options, 'symmetricAlignment');
  const d = namedDefaults.sa;
  return learnedFeedback({
    id: 'sa',
    name: 'symmetric alignment',
    terms: [self(pick(options.self, d.self)), decay(pick(options.decay, d.decay))],
    ...common(options, d),
  });
}

/** Activation alignment, AA = α·Amp + β·Sparse: fixed point `Σ B = (α/β) Σ kernel` (`Σ = E[x xᵀ]`). */
export function activationAlignment(options: ActivationAlignmentOptions = {}): Rule {
  checkObject(options, 'activationAlignment');
  const d = namedDefaults.aa;
  return learnedFeedback({
    id: 'aa',
    name: 'activation alignment',
    terms: [amp(pick(options.amp, d.amp)), sparse(pick(options.sparse, d.sparse))],
    ...common(options, d),
  });
}

/**
 * Weight mirror (Akrout et al. 2019), WM = α·Amp + β·Decay, in mirror mode by default: B learns from white noise
 * `x ~ N(0, σ²)` pushed through the layer's linear map, so `E[x rᵀ] = σ²·kernel` and B → `(α σ²/β)·kernel`.
 */
export function weightMirror(options: WeightMirrorOptions = {}): Rule {
  checkObject(options, 'weightMirror');
  const d = namedDefaults.wm;
  const a = pick(options.amp, d.amp);
  const b = pick(options.decay, d.decay);
  const mirror = options.mirror === undefined ? {} : options.mirror;
  let feedbackInputs: { noise: number; batchSize?: number } | 'data' = 'data';
  if (mirror !== false) {
    if (typeof mirror !== 'object' || mirror === null) throw new OptionError('weightMirror: mirror must be false or { sigma?, batchSize? }');
    let sigma = mirror.sigma;
    if (sigma === undefined) {
      // σ² = β/α makes the fixed point B = kernel; scheduled coefficients fall back to the default ratio
      const ratio = typeof a === 'number' && typeof b === 'number' && a > 0 ? b / a : d.decay / d.amp;
      sigma = Math.sqrt(ratio);
    }
    checkNumber('weightMirror mirror.sigma', sigma, { min: 0 });
    const batchSize = mirror.batchSize ?? d.mirror.batchSize;
    feedbackInputs = { noise: sigma, ...(batchSize !== undefined ? { batchSize } : {}) };
  }
  return learnedFeedback({
    id: 'wm',
    name: 'weight mirror',
    terms: [amp(a), decay(b)],
    feedbackInputs,
    ...common(options, d),
  });
}

/** Information alignment, IA = α·Amp + β·Null + γ·Decay: fixed point `B = α Σ Wᵀ (β W Σ Wᵀ + γ I)⁻¹`. */
export function informationAlignment(options: InformationAlignmentOptions = {}): Rule {
  checkObject(options, 'informationAlignment');
  const d = namedDefaults.ia;
  return learnedFeedback({
    id: 'ia',
    name: 'information alignment',
    terms: [amp(pick(options.amp, d.amp)), nullTerm(pick(options.null, d.null)), decay(pick(options.decay, d.decay))],
    ...common(options, d),
  });
}
