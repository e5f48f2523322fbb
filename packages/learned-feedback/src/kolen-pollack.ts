import * as tf from '@tensorflow/tfjs-core';
import { OptionError, RuleSupportError, deltaFromSignal, layerwise, type LayerRule, type Rule } from '@bioprop/core';
import { FEEDBACK_KEY, checkFeedbackLayer, checkIdentity, createFeedback, feedbackInitJson, feedbackOf, validateFeedbackInit, type FeedbackInit } from './feedback.js';

export interface KolenPollackOptions {
  /** How B starts (default Glorot uniform from the layer's stream `rule/<id>/layer<l>`; `'kernel'` starts tied). */
  feedbackInit?: FeedbackInit;
  id?: string;
  name?: string;
}

/**
 * The layer rule behind `kolenPollack`: B is learned layer state (`B`) that moves by W's applied step, with no
 * optimizer of its own. `kolenPollack(options).layerRule` is the same value.
 */
export function kolenPollackRule(options: KolenPollackOptions = {}): LayerRule {
  if (!options || typeof options !== 'object') throw new OptionError('kolenPollack: options must be an object');
  const { id, name } = checkIdentity(options, 'kp', 'Kolen–Pollack');
  const init = validateFeedbackInit(options.feedbackInit, `${id}: feedbackInit`);
  return {
    id,
    name,
    options: { feedbackInit: feedbackInitJson(init) },
    usesSignal: true,
    graphs: 'any',
    check: (ctx) => checkFeedbackLayer(id, ctx),
    init(ctx) {
      const B = createFeedback(id, ctx, init);
      return B ? { tensors: { [FEEDBACK_KEY]: B }, learned: [FEEDBACK_KEY] } : {};
    },
    step(ctx) {
      const { layer, layerTrace } = ctx;
      const delta = deltaFromSignal(ctx);
      const B = ctx.state.tensors[FEEDBACK_KEY];
      if (ctx.needBelow && !B) throw new RuleSupportError(`${id}: layer ${ctx.index} (${layer.name}) has no feedback weights`);
      return {
        delta,
        grads: layer.paramGrads(layerTrace.input, delta),
        below: ctx.needBelow ? { gradOutput: layer.backwardInput(delta, B) } : undefined,
      };
    },
    afterUpdate(ctx) {
      const B = ctx.state.tensors[FEEDBACK_KEY];
      const step = ctx.applied[ctx.layer.kernelName];
      if (!B || !step) return;
      const lambda = ctx.decoupledDecay;
      // the same expression the forward optimizer evaluates for W, so B = W stays bit-for-bit equal
      B.assign(tf.add(lambda ? tf.mul(1 - lambda, B) : B, step));
    },
    feedbackWeights: feedbackOf,
  };
}

/**
 * Kolen–Pollack: FA's backward pass, and after each step B receives W's applied step (after W's optimizer,
 * excluding decoupled decay) plus the same decoupled decay `(1−λ)`, so `W − B` shrinks exactly as `(1−λ)^t`.
 * Give the forward optimizer a `decoupledDecay` (e.g. `momentum({ lr, decoupledDecay: 5e-3 })`): with λ = 0,
 * `W − B` never shrinks.
 */
export function kolenPollack(options: KolenPollackOptions = {}): Rule {
  return layerwise(kolenPollackRule(options));
}
