import * as tf from '@tensorflow/tfjs-core';
import {
  assignRuleState,
  RuleSupportError,
  type BoundRule,
  type JsonValue,
  type Network,
  type RandomSource,
  type Rule,
  type StepContext,
  type StepResult,
  type Tensor,
  type TensorMap,
  type Variable,
  type VariableMap,
} from '@bioprop/core';
import { computeLra } from './algorithm.js';
import { lraDiffDefaults, lraFdbkDefaults } from './defaults.js';
import { FEEDBACK_STREAM, lraLayerwiseSpec } from './layerwise.js';
import { optionsJson, resolveLraOptions, type LraFdbkOptions, type LraOptions, type ResolvedLraOptions } from './options.js';


/** The state key of layer l's feedback matrix `E_l`. */
export const feedbackKey = (l: number): string => `layer${l}/feedback`;

function checkNetwork(id: string, network: Network): void {
  network.layers.forEach((layer, l) => {
    const kernel = layer.params[layer.kernelName];
    if (!kernel) {
      throw new RuleSupportError(`${id}: layer ${l} (${layer.name}, ${layer.kind}) has no "${layer.kernelName}" parameter to train`);
    }
    if (typeof layer.backwardInput !== 'function' || typeof layer.paramGrads !== 'function') {
      throw new RuleSupportError(`${id}: layer ${l} (${layer.name}, ${layer.kind}) lacks backwardInput/paramGrads`);
    }
  });
}

class LraBoundRule implements BoundRule {
  constructor(
    readonly rule: Rule,
    private readonly options: ResolvedLraOptions,
    /** `E_l` for l ≥ 1 (fdbk), `null` elsewhere. */
    private readonly feedback: (Variable | null)[],
  ) {}

  step(ctx: StepContext): StepResult {
    const track = this.options.metrics ? 'last' : 'none';
    const r = computeLra(ctx, this.options.correction === 'fdbk' ? this.feedback : null, this.options, track);
    if (!this.options.metrics) return { grads: r.grads, signals: r.deltas };
    const metrics: Record<string, Tensor> = {};
    r.localLoss[r.localLoss.length - 1].forEach((v, l) => {
      metrics[`layer${l}/localLoss`] = v;
      metrics[`layer${l}/updateNorm`] = r.rawNorms[l]!;
    });
    return { grads: r.grads, signals: r.deltas, metrics };
  }

  state(): VariableMap {
    const out: VariableMap = {};
    this.feedback.forEach((v, l) => {
      if (v) out[feedbackKey(l)] = v;
    });
    return out;
  }

  loadState(state: TensorMap): void {
    assignRuleState(this.rule.id, this.state(), state);
  }

  getMeta(): JsonValue {
    return null;
  }

  setMeta(): void {}

  dispose(): void {
    for (const v of this.feedback) v?.dispose();
  }
}

function makeRule(options: ResolvedLraOptions): Rule {
  const id = `lra-${options.correction}`;
  const rule: Rule = {
    id,
    name: options.correction === 'diff' ? 'local representation alignment (diff)' : 'local representation alignment (fdbk)',
    options: optionsJson(options),
    // with K = 1 LRA is layer-wise: perLayer can mix it with other rules
    layerwise: options.k === 1 ? lraLayerwiseSpec(options) : undefined,
    check: (network) => checkNetwork(id, network),
    bind(network: Network, random: RandomSource): BoundRule {
      checkNetwork(id, network);
      let feedback: (Variable | null)[] = network.layers.map(() => null);
      if (options.correction === 'fdbk') {
        const stream = random.stream(FEEDBACK_STREAM);
        // E_l stands in for W_lᵀ: shaped like the kernel, so `backwardInput(·, E_l)` computes E_l·(·)
        feedback = network.layers.map((layer, l) => {
          if (l === 0) return null;
          const shape = layer.params[layer.kernelName].shape;
          const size = shape.reduce((a, b) => a * b, 1);
          return tf.tidy(() => tf.variable(tf.tensor(stream.normalArray(size, 0, options.feedbackStd), shape), false, undefined, 'float32'));
        });
      }
      return new LraBoundRule(rule, options, feedback);
    },
  };
  return rule;
}

/**
 * LRA-diff (Ororbia et al. 2018): per-layer targets `y_{l-1} = φ(ā_{l-1} − β Δa_{l-1})` with the chain-rule
 * correction `Δa_{l-1} = (W_lᵀ (e_l ⊙ φ'(a_l))) ⊙ φ'(a_{l-1})`, Cauchy losses at every layer, updates of norm ≤ c₁.
 */
export function lraDiff(options: LraOptions = {}): Rule {
  return makeRule(resolveLraOptions('diff', options, lraDiffDefaults.ruleOptions));
}

/**
 * LRA-fdbk: LRA with `W_lᵀ` replaced by a fixed random Gaussian `E_l` (state, drawn from the run's
 * `lra-feedback` stream) and one derivative kept (`derivative: 'above' | 'below'`).
 */
export function lraFdbk(options: LraFdbkOptions = {}): Rule {
  return makeRule(resolveLraOptions('fdbk', options, lraFdbkDefaults.ruleOptions));
}
