import { RuleSupportError, type Layer, type LayerRule, type Network, type LayerStepContext, type LayerStepResult, type Tensor } from '@bioprop/core';
import { blockMean, cauchyError, cauchyValue, constrainedUpdate, correction, drawFeedback, moved, type LocalError } from './algorithm.js';
import type { LraConfig, LraDiffConfig, LraFdbkConfig } from './options.js';

/** The state key of a layer's feedback matrix `E_l` (in `BoundRule.state()`: `layer<l>/feedback`). */
export const FEEDBACK = 'feedback';

/** The options a rule reports (and checkpoints record): the variant's filled options, without the variant. */
export function reportedOptions({ correction: _, ...options }: LraConfig): LraDiffConfig | LraFdbkConfig {
  return options;
}

/**
 * Throw a `RuleSupportError` unless layer `index` has a kernel parameter for LRA to train, and (at the first layer)
 * unless a module with parameters sits in front of it: only an error could train it, and LRA sends targets.
 */
export function checkLraLayer(id: string, network: Network, layer: Layer, index: number): void {
  if (!layer.params[layer.kernelName]) {
    throw new RuleSupportError(`${id}: layer ${index} (${layer.name}, ${layer.kind}) has no "${layer.kernelName}" parameter to train`);
  }
  const trained = index === 0 ? network.topology.freePaths.find((p) => p.hasParams) : undefined;
  const m = trained?.steps.find((s) => Object.keys(s.module.params).length > 0)?.module;
  if (m) throw new RuleSupportError(`${id}: module ${m.name} (${m.kind}) in front of layer 0 has parameters, which a target from LRA cannot train`);
}

/**
 * LRA with K = 1, one layer at a time: what `lraDiff()`/`lraFdbk()` are with K = 1, and what `perLayer` mixes with
 * other rules ("LRA below, backprop on top"). Layer l reads a target `y_l` at its block output from the layer above
 * (or an error `gradOutput`: an error rule above, or the trainer's loss at the output) and sends `{ target: y_{l-1} }`
 * down. Chains of blocks only (`graphs: 'chain'`): a target cannot be split between the branches of a residual block.
 * `E_l` (fdbk, l ≥ 1) is drawn from the layer's own stream `rule/<id>/layer<l>` and kept fixed (not learned).
 */
export function lraLayerRule(o: LraConfig): LayerRule {
  if (o.k !== 1) throw new RuleSupportError(`lra-${o.correction}: the layer rule has no K loop (k = ${o.k}); use lra${o.correction === 'diff' ? 'Diff' : 'Fdbk'}({ k }) itself`);
  const id = `lra-${o.correction}`;
  return {
    id,
    name: `local representation alignment (${o.correction})`,
    options: reportedOptions(o),
    usesSignal: true,
    graphs: 'chain',
    check({ network, layer, index }) {
      checkLraLayer(id, network, layer, index);
    },
    init({ layer, index, random }) {
      if (o.correction !== 'fdbk' || index === 0) return {};
      return { tensors: { [FEEDBACK]: drawFeedback(layer, random, o.feedbackStd) }, learned: [] };
    },
    feedbackWeights: ({ state }) => state.tensors[FEEDBACK] ?? null,
    step(ctx: LayerStepContext): LayerStepResult {
      const { layer, layerTrace, index, signal, network, trace } = ctx;
      const isTop = index === network.outputLayer;
      let error: LocalError;
      let localLoss: Tensor | undefined;
      const useError = signal.gradOutput !== undefined && (!signal.target || (isTop && o.outputLoss === 'task'));
      if (useError) {
        // an error from above: the trainer's loss at the output (its δ is the trainer's own e), or an error rule's ∂ℒ/∂h_l
        error = { grad: signal.gradOutput! };
        if (o.metrics && isTop && signal.gradOutput === ctx.gradOutput) localLoss = ctx.loss.value(blockMean(layer, trace), ctx.target);
      } else if (signal.target) {
        const u = blockMean(layer, trace);
        error = cauchyError(u, signal.target);
        if (o.metrics) localLoss = cauchyValue(u, signal.target);
      } else {
        throw new RuleSupportError(`${id}: layer ${index} (${layer.name}) received no teaching signal from the layer above`);
      }
      // through ctx.blockVjp, so the block's own parameters (batch norm) train on the local loss too
      const delta = ctx.blockVjp(error.grad);
      const { grads, kernelNorm } = constrainedUpdate(layer, layerTrace.input, delta, o.c1, o.metrics);
      const metrics: Record<string, Tensor> | undefined = o.metrics ? { updateNorm: kernelNorm! } : undefined;
      if (metrics && localLoss) metrics.localLoss = localLoss;
      if (!ctx.needBelow || index === 0) return { delta, grads, metrics };

      const below = network.layers[index - 1];
      const corr = correction(o, layer, delta, error, ctx.state.tensors[FEEDBACK] ?? null, below, { layer: trace, below: trace });
      const target = below.blockReplay(trace, moved(trace.layers[index - 1].pre, corr, o.beta));
      return { delta, grads, metrics, below: { target } };
    },
  };
}
