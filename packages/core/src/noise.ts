import * as tf from '@tensorflow/tfjs-core';
import { OptionError, checkNumber } from './errors.js';
import type { AfterUpdateContext, BoundRule, JsonValue, Network, RandomSource, RandomStream, Rule, StepContext, Tensor, TensorMap, VariableMap } from './types.js';

export interface UpdateNoiseOptions {
  /** Standard deviation σ of the noise added to every updated value, each step. */
  sigma: number;
  /**
   * `'forward'`: the network's parameters; `'backward'`: the rule state the rule declares learned (learned
   * feedback or inverse weights; never fixed random matrices, masks or optimizer slots); `'both'`. Default `'forward'`.
   */
  on?: 'forward' | 'backward' | 'both';
}

/** The stream the noise is drawn from (saved with the run's other streams, so a resumed run draws the same noise). */
export const UPDATE_NOISE_STREAM = 'update-noise';

function noiseLike(t: Tensor, sigma: number, stream: RandomStream): Tensor {
  return tf.tensor(stream.normalArray(t.size, 0, sigma), t.shape);
}

class NoisyBoundRule implements BoundRule {
  constructor(
    readonly rule: Rule,
    private readonly inner: BoundRule,
    private readonly sigma: number,
    private readonly forward: boolean,
    private readonly backward: boolean,
  ) {}

  step(ctx: StepContext) {
    return this.inner.step(ctx);
  }

  afterUpdate(ctx: AfterUpdateContext): void {
    const stream = ctx.random.stream(UPDATE_NOISE_STREAM);
    let applied = ctx.applied;
    if (this.forward && this.sigma > 0) {
      // noise on the step actually applied: every parameter the optimizer just moved gets + N(0, σ²)
      applied = ctx.applied.map((steps, l) => {
        const params = ctx.network.layers[l].params;
        const noisy: TensorMap = {};
        for (const [key, step] of Object.entries(steps)) {
          const p = params[key];
          const noise = noiseLike(p, this.sigma, stream);
          p.assign(tf.add(p, noise));
          noisy[key] = tf.add(step, noise);
        }
        return noisy;
      });
    }
    // the inner rule sees the noisy applied step (Kolen–Pollack's B then follows W's noise too)
    this.inner.afterUpdate?.({ ...ctx, applied });
    if (this.backward && this.sigma > 0) {
      const state = this.inner.state();
      for (const key of this.inner.learned()) {
        const v = state[key];
        v.assign(tf.add(v, noiseLike(v, this.sigma, stream)));
      }
    }
  }

  state(): VariableMap {
    return this.inner.state();
  }
  learned(): readonly string[] {
    return this.inner.learned();
  }
  feedbackWeights(layer: number): Tensor | null {
    return this.inner.feedbackWeights(layer);
  }
  loadState(state: TensorMap): void {
    this.inner.loadState(state);
  }
  getMeta(): JsonValue {
    return this.inner.getMeta();
  }
  setMeta(meta: JsonValue): void {
    this.inner.setMeta(meta);
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/**
 * Wrap any rule so that every update is perturbed by Gaussian noise, for robustness experiments: after the
 * forward optimizer's step, each updated parameter gets `+ N(0, σ²)` (so the applied update is the optimizer's
 * step plus N(0, σ²) per element, whatever the optimizer), and/or after the rule's own update each state tensor it
 * declares learned gets `+ N(0, σ²)`. Noise comes from the run's `update-noise` stream. The rule keeps its id.
 */
export function withUpdateNoise(rule: Rule, options: UpdateNoiseOptions): Rule {
  if (!rule || typeof rule.bind !== 'function') throw new OptionError('withUpdateNoise: the first argument must be a rule');
  if (!options || typeof options !== 'object') throw new OptionError('withUpdateNoise: options must be { sigma, on? }');
  const sigma = checkNumber('withUpdateNoise sigma', options.sigma, { min: 0 });
  const on = options.on ?? 'forward';
  if (on !== 'forward' && on !== 'backward' && on !== 'both') {
    throw new OptionError(`withUpdateNoise: on must be 'forward', 'backward' or 'both', got ${JSON.stringify(on)}`);
  }
  const wrapped: Rule = {
    id: rule.id,
    name: `${rule.name} with update noise`,
    options: { rule: rule.options, updateNoise: { sigma, on } },
    check: (network: Network) => rule.check(network),
    bind: (network: Network, random: RandomSource) =>
      new NoisyBoundRule(wrapped, rule.bind(network, random), sigma, on !== 'backward', on !== 'forward'),
  };
  return wrapped;
}
