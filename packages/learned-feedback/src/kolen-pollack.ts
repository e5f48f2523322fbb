import * as tf from '@tensorflow/tfjs-core';
import { OptionError, RuleSupportError, deltaFromSignal, layerwise, type LayerwiseRuleSpec, type Rule, type VariableMap } from '@bioprop/core';
import { FEEDBACK_KEY, checkFeedbackLayer, checkIdentity, createFeedback, feedbackInitJson, validateFeedbackInit, type FeedbackInit } from './feedback.js';

export interface KolenPollackOptions {
  /** How B starts (default Glorot uniform from the `feedback` stream; `'kernel'` starts tied). */
  feedbackInit?: FeedbackInit;
  id?: string;
  name?: string;
}

/** The layer-wise spec behind `kolenPollack` (for `perLayer` compositions). */
export function kolenPollackSpec(options: KolenPollackOptions = {}): LayerwiseRuleSpec {
  if (!options || typeof options !== 'object') throw new OptionError('kolenPollack: options must be an object');
  const { id, name } = checkIdentity(options, 'kp', 'Kolen–Pollack');
  const init = validateFeedbackInit(options.feedbackInit, `${id}: feedbackInit`);
  return {
    id,
    name,
    options: { feedbackInit: feedbackInitJson(init) },
    usesSignal: true,
    checkLayer: (layer, index) => checkFeedbackLayer(id, layer, index),
    init(layer, index, _network, random): VariableMap {
      const B = createFeedback(layer, index, random, init);
      return B ? { [FEEDBACK_KEY]: B } : {};
    },
    stepLayer(ctx) {
      const { layer, layerTrace } = ctx;
      const delta = deltaFromSignal(ctx);
      const B = ctx.state[FEEDBACK_KEY];
      if (ctx.needBelow && !B) throw new RuleSupportError(`${id}: layer ${ctx.index} has no feedback weights`);
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, B) } : undefined,
      };
    },
    afterUpdateLayer(ctx) {
      const B = ctx.state[FEEDBACK_KEY];
      const step = ctx.applied[ctx.layer.kernelName];
      if (!B || !step) return;
      const lambda = ctx.decoupledDecay;
      // the same expression the forward optimizer evaluates for W, so B = W stays bit-for-bit equal
      B.assign(tf.add(lambda ? tf.mul(1 - lambda, B) : B, step));
    },
  };
}

/**
 * Kolen–Pollack: FA's backward pass, and after each step B receives W's applied step (after W's optimizer,
 * excluding decoupled decay) plus the same decoupled decay `(1−λ)`, so `W − B` shrinks exactly as `(1−λ)^t`.
 * Give the forward optimizer a `decoupledDecay` (e.g. `momentum({ lr, decoupledDecay: 5e-3 })`): with λ = 0,
 * `W − B` never shrinks.
 */
export function kolenPollack(options: KolenPollackOptions = {}): Rule {
  return layerwise(kolenPollackSpec(options));
}
