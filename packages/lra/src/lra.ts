import * as tf from '@tensorflow/tfjs-core';
import {
  assignRuleState,
  layerStream,
  layerwise,
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
import { computeLra, drawFeedback } from './algorithm.js';
import { checkLraLayer, FEEDBACK, lraLayerRule, reportedOptions } from './layer-rule.js';
import type { LraConfig } from './options.js';

/** The state key of layer l's feedback matrix `E_l` (the same with K = 1 and K > 1, so checkpoints carry over). */
export const feedbackKey = (l: number): string => `layer${l}/${FEEDBACK}`;

const ruleName = (o: LraConfig) => `local representation alignment (${o.correction})`;

/** Refuse networks that are not chains of blocks (naming the module), and layers without a kernel. */
function checkChain(id: string, network: Network): void {
  const at = network.chainBreak();
  if (at) {
    throw new RuleSupportError(
      `rule "${id}" trains chains of blocks only (its signals are targets, which cannot be split between branches), ` +
        `but module ${at.name} (${at.kind}) joins or forks branches: use an error-propagating rule (bp, fa, sa, …) or dfa on this network`,
    );
  }
  network.layers.forEach((layer, l) => checkLraLayer(id, network, layer, l));
}

/** LRA with the K loop (K > 1): every pass runs over the whole chain, so it is a whole-network rule. */
class LraLoopBoundRule implements BoundRule {
  constructor(
    readonly rule: Rule,
    private readonly options: LraConfig,
    /** `E_l` for l ≥ 1 (fdbk), `null` elsewhere. */
    private readonly feedback: (Variable | null)[],
  ) {}

  step(ctx: StepContext): StepResult {
    const track = this.options.metrics ? 'last' : 'none';
    const r = computeLra(ctx, this.feedback, this.options, track);
    if (!this.options.metrics) return { grads: r.grads, signals: r.deltas, moduleGrads: r.moduleGrads };
    const metrics: Record<string, Tensor> = {};
    r.localLoss[r.localLoss.length - 1].forEach((v, l) => {
      metrics[`layer${l}/localLoss`] = v;
      metrics[`layer${l}/updateNorm`] = r.rawNorms[l]!;
    });
    return { grads: r.grads, signals: r.deltas, moduleGrads: r.moduleGrads, metrics };
  }

  state(): VariableMap {
    const out: VariableMap = {};
    this.feedback.forEach((v, l) => {
      if (v) out[feedbackKey(l)] = v;
    });
    return out;
  }

  learned(): string[] {
    // E_l is fixed: update noise has nothing of LRA's to perturb
    return [];
  }

  feedbackWeights(l: number): Tensor | null {
    return this.feedback[l] ?? null;
  }

  loadState(state: TensorMap): void {
    assignRuleState(this.rule.id, this.state(), state);
  }

  getMeta(): JsonValue {
    return null;
  }

  setMeta(meta: JsonValue): void {
    if (meta !== null) throw new RuleSupportError(`rule "${this.rule.id}" keeps no meta; the checkpoint holds ${JSON.stringify(meta).slice(0, 80)}`);
  }

  dispose(): void {
    for (const v of this.feedback) v?.dispose();
  }
}

/**
 * The whole-network LRA rule, with the K loop. `lraDiff`/`lraFdbk` use it for K > 1; with K = 1 it computes what
 * the layer rule does (tested), which is what they use there.
 */
export function lraLoopRule(options: LraConfig): Rule {
  const id = `lra-${options.correction}`;
  const rule: Rule = {
    id,
    name: ruleName(options),
    options: reportedOptions(options),
    check: (network) => checkChain(id, network),
    bind(network: Network, random: RandomSource): BoundRule {
      checkChain(id, network);
      const feedback: (Variable | null)[] = network.layers.map((layer, l) => {
        if (options.correction !== 'fdbk' || l === 0) return null;
        // the layer rule's stream and draw, so K = 1 and K > 1 start from the same E_l
        return tf.tidy(() => tf.variable(drawFeedback(layer, layerStream(random, id, l), options.feedbackStd), false, undefined, 'float32'));
      });
      return new LraLoopBoundRule(rule, options, feedback);
    },
  };
  return rule;
}

/**
 * LRA from a variant and its filled options: with K = 1 layer-wise (`layerwise(lraLayerRule(o))`, so `perLayer` can
 * mix it), with K > 1 the loop over the whole chain (`lraLoopRule(o)`). What `lraDiffEntry`/`lraFdbkEntry` build.
 *
 * LRA-diff (Ororbia et al. 2018): per-layer targets `y_{l-1} = φ(ā_{l-1} − β Δa_{l-1})` with the chain-rule
 * correction `Δa_{l-1} = (W_lᵀ (e_l ⊙ φ'(a_l))) ⊙ φ'(a_{l-1})`, Cauchy losses at every layer, updates of norm ≤ c₁.
 * LRA-fdbk: `W_lᵀ` replaced by a fixed random Gaussian `E_l` (rule state, drawn from the layer's stream
 * `rule/lra-fdbk/layer<l>`) and one derivative kept (`derivative: 'above' | 'below'`).
 */
export function lraRule(o: LraConfig): Rule {
  return o.k === 1 ? layerwise(lraLayerRule(o)) : lraLoopRule(o);
}
