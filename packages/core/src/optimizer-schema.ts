import { anyOf, bool, num, oneOf, options } from './options.js';

const rate = num({ min: 0, max: 1 });

/** `OptimizerConfig` (types.ts) as a schema (`{ name: 'adam', lr: 1e-3 }`), with the bounds core's optimizers check. */
export const optimizerConfigSchema = options({
  name: oneOf('sgd', 'momentum', 'adam', 'rmsprop'),
  lr: num({ min: 0 }).describe('learning rate'),
  momentum: rate.optional().describe('momentum coefficient (momentum)'),
  nesterov: bool().optional().describe('Nesterov momentum (momentum)'),
  beta1: rate.optional().describe("Adam's β1"),
  beta2: rate.optional().describe("Adam's β2"),
  rho: rate.optional().describe("RMSprop's decay of the squared-gradient average"),
  epsilon: num({ min: 0 }).optional().describe('ε in the adaptive denominators'),
  weightDecay: num({ min: 0 }).optional().describe('coupled L2 decay added to the gradient'),
  decoupledDecay: rate.optional().describe('decoupled decay: w ← (1 − λ)·w each step'),
  clipNorm: num({ min: 0 }).optional().describe('clip the global gradient norm of one update to this value'),
  schedule: anyOf(
    options({ type: oneOf('constant') }),
    options({ type: oneOf('step'), every: num({ min: 1, integer: true }), gamma: num({ min: 0 }) }),
    options({ type: oneOf('cosine'), totalSteps: num({ min: 1, integer: true }), minFactor: num().optional() }),
  )
    .optional()
    .describe('learning-rate schedule'),
});
