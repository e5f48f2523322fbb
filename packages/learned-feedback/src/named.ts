import { OptionError, type LayerRule } from '@bioprop/core';
import { learnedFeedbackRule, optionsJson } from './learned-feedback.js';
import {
  weightMirrorOptions,
  type ActivationAlignmentConfig,
  type FeedbackInputs,
  type InformationAlignmentConfig,
  type SymmetricAlignmentConfig,
  type WeightMirrorConfig,
} from './options.js';
import { amp, decay, nullTerm, self, sparse } from './primitives.js';

/** A composition of primitives as a named rule: the generic layer rule, reporting the named rule's own options. */
function named(rule: LayerRule, config: object): LayerRule {
  return { ...rule, options: optionsJson(config) };
}

/** Symmetric alignment, SA = α·Self + β·Decay: B is pulled toward `(α/β)·kernel` (backprop when α = β). */
export function symmetricAlignmentRule(o: SymmetricAlignmentConfig): LayerRule {
  const rule = learnedFeedbackRule({
    id: 'sa',
    name: 'symmetric alignment',
    terms: [self(o.self), decay(o.decay)],
    feedbackOptimizer: o.feedbackOptimizer,
    feedbackInit: o.feedbackInit,
    feedbackInputs: 'data',
    feedbackSamples: null,
  });
  return named(rule, o);
}

/** Activation alignment, AA = α·Amp + β·Sparse: fixed point `Σ B = (α/β) Σ kernel` (`Σ = E[x xᵀ]`). */
export function activationAlignmentRule(o: ActivationAlignmentConfig): LayerRule {
  const rule = learnedFeedbackRule({
    id: 'aa',
    name: 'activation alignment',
    terms: [amp(o.amp), sparse(o.sparse)],
    feedbackOptimizer: o.feedbackOptimizer,
    feedbackInit: o.feedbackInit,
    feedbackInputs: 'data',
    feedbackSamples: o.feedbackSamples,
  });
  return named(rule, o);
}

const wmDefaults = weightMirrorOptions.parse({}, 'wm');

/**
 * Weight mirror's σ: the one given, else `√(decay/amp)`, which makes the fixed point `B = (amp·σ²/decay)·kernel` the
 * kernel itself; scheduled coefficients (no single ratio) take the default coefficients' ratio.
 */
export function mirrorSigma(o: WeightMirrorConfig): number | null {
  if (o.mirror === false) return null;
  if (o.mirror.sigma !== undefined) return o.mirror.sigma;
  const { amp: a, decay: b } = o;
  const ratio = typeof a === 'number' && typeof b === 'number' && a !== 0 ? b / a : Number(wmDefaults.decay) / Number(wmDefaults.amp);
  if (!(ratio >= 0)) throw new OptionError(`wm: σ = √(decay/amp) needs decay/amp ≥ 0 (got ${ratio}); give mirror.sigma`);
  return Math.sqrt(ratio);
}

/**
 * Weight mirror (Akrout et al. 2019), WM = α·Amp + β·Decay, in mirror mode by default: B learns from white noise
 * `x ~ N(0, σ²)` pushed through the layer's linear map, so `E[x rᵀ] = σ²·kernel` and B → `(α σ²/β)·kernel`. Its
 * options report the σ in force.
 */
export function weightMirrorRule(o: WeightMirrorConfig): LayerRule {
  const sigma = mirrorSigma(o);
  const mirror = o.mirror === false || sigma === null ? false : { sigma, batchSize: o.mirror.batchSize };
  const feedbackInputs: FeedbackInputs = mirror === false ? 'data' : { noise: mirror.sigma, batchSize: mirror.batchSize };
  const rule = learnedFeedbackRule({
    id: 'wm',
    name: 'weight mirror',
    terms: [amp(o.amp), decay(o.decay)],
    feedbackOptimizer: o.feedbackOptimizer,
    feedbackInit: o.feedbackInit,
    feedbackInputs,
    feedbackSamples: o.feedbackSamples,
  });
  return named(rule, { ...o, mirror });
}

/** Information alignment, IA = α·Amp + β·Null + γ·Decay: fixed point `B = α Σ Wᵀ (β W Σ Wᵀ + γ I)⁻¹`. */
export function informationAlignmentRule(o: InformationAlignmentConfig): LayerRule {
  const rule = learnedFeedbackRule({
    id: 'ia',
    name: 'information alignment',
    terms: [amp(o.amp), nullTerm(o.null), decay(o.decay)],
    feedbackOptimizer: o.feedbackOptimizer,
    feedbackInit: o.feedbackInit,
    feedbackInputs: 'data',
    feedbackSamples: o.feedbackSamples,
  });
  return named(rule, o);
}
