import * as tf from '@tensorflow/tfjs-core';
import { RuleSupportError, deltaFromSignal, type LayerRule } from '@bioprop/core';
import { FEEDBACK_KEY, checkFeedbackLayer, createFeedback, feedbackOf } from './feedback.js';
import type { KolenPollackConfig } from './options.js';

/**
 * Kolen–Pollack at one layer, from a filled config: FA's backward pass, and after each step B receives W's applied
 * step (after W's optimizer, excluding decoupled decay) plus the same decoupled decay `(1−λ)`, so `W − B` shrinks
 * exactly as `(1−λ)^t`. B is learned layer state (`B`) with no optimizer of its own.
 */
export function kolenPollackRule(o: KolenPollackConfig): LayerRule {
  const id = 'kp';
  const init = o.feedbackInit;
  return {
    id,
    name: 'Kolen–Pollack',
    options: o,
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
