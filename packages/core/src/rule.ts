import * as tf from '@tensorflow/tfjs-core';
import { RuleSupportError } from './errors.js';
import type {
  BoundRule,
  ForwardTrace,
  JsonValue,
  Layer,
  LayerStepContext,
  LayerwiseRuleSpec,
  Network,
  RandomSource,
  Rule,
  StepContext,
  StepResult,
  Tensor,
  TensorMap,
  VariableMap,
} from './types.js';

/**
 * Layer l's teaching signal `δ_l = ∂ℒ/∂a_l` from what the layer above sent:
 * an error `gradOutput ⊙ f'(a_l)`, or for a target `(h_l − ĥ_l) ⊙ f'(a_l) / N`
 * (the gradient of `½‖h_l − ĥ_l‖²` averaged over the batch).
 */
export function deltaFromSignal(ctx: LayerStepContext): Tensor {
  const { signal, layer, layerTrace, index } = ctx;
  if (signal.gradOutput) {
    if (index === ctx.network.layers.length - 1 && signal.gradOutput === ctx.gradOutput) return ctx.outputError;
    return tf.mul(signal.gradOutput, layer.activation.derivative(layerTrace.pre, layerTrace.output));
  }
  if (signal.target) {
    const n = layerTrace.output.shape[0];
    const diff = tf.sub(layerTrace.output, signal.target);
    return tf.div(tf.mul(diff, layer.activation.derivative(layerTrace.pre, layerTrace.output)), n);
  }
  throw new RuleSupportError(`layer ${index} (${layer.name}) received no teaching signal from the layer above`);
}

/** Make a `Rule` from a per-layer spec; `perLayer` can then mix it with other layer-wise rules. */
export function layerwise(spec: LayerwiseRuleSpec): Rule {
  return composeLayerwise(spec.id, spec.name, spec.options, () => spec, spec);
}

/**
 * Assign a rule to each layer: `perLayer([dtp(), dtp(), backprop()])`, or a default with overrides:
 * `perLayer({ default: dtp(), layers: { 2: backprop() } })`. Every rule must be layer-wise.
 */
export function perLayer(assign: readonly Rule[] | { default: Rule; layers?: Record<number, Rule> }): Rule {
  const pick = (i: number): Rule => {
    if (Array.isArray(assign)) {
      const r = assign[i];
      if (!r) throw new RuleSupportError(`perLayer: no rule for layer ${i} (${assign.length} given)`);
      return r;
    }
    const a = assign as { default: Rule; layers?: Record<number, Rule> };
    return a.layers?.[i] ?? a.default;
  };
  const all = Array.isArray(assign)
    ? [...assign]
    : [(assign as { default: Rule }).default, ...Object.values((assign as { layers?: Record<number, Rule> }).layers ?? {})];
  for (const r of all) {
    if (!r.layerwise) throw new RuleSupportError(`perLayer: rule "${r.id}" is not layer-wise and cannot be mixed per layer`);
  }
  const options: JsonValue = Array.isArray(assign)
    ? { layers: assign.map((r) => ({ id: r.id, options: r.options })) }
    : {
        default: { id: (assign as { default: Rule }).default.id, options: (assign as { default: Rule }).default.options },
        layers: Object.fromEntries(
          Object.entries((assign as { layers?: Record<number, Rule> }).layers ?? {}).map(([k, r]) => [k, { id: r.id, options: r.options }]),
        ),
      };
  return composeLayerwise('per-layer', 'per-layer composition', options, (i) => pick(i).layerwise!, undefined);
}

function composeLayerwise(
  id: string,
  name: string,
  options: JsonValue,
  specAt: (index: number) => LayerwiseRuleSpec,
  single: LayerwiseRuleSpec | undefined,
): Rule {
  const rule: Rule = {
    id,
    name,
    options,
    layerwise: single,
    check(network: Network) {
      network.layers.forEach((layer, i) => {
        specAt(i).checkLayer?.(layer, i, network);
      });
    },
    bind(network: Network, random: RandomSource): BoundRule {
      rule.check(network);
      const specs = network.layers.map((_, i) => specAt(i));
      const states: VariableMap[] = network.layers.map((layer, i) => specs[i].init?.(layer, i, network, random) ?? {});
      return new LayerwiseBoundRule(rule, specs, states);
    },
  };
  return rule;
}

class LayerwiseBoundRule implements BoundRule {
  constructor(
    readonly rule: Rule,
    private readonly specs: LayerwiseRuleSpec[],
    private readonly states: VariableMap[],
  ) {}

  private layerCtx(ctx: StepContext, index: number, signal: LayerStepContext['signal']): LayerStepContext {
    const layer = ctx.network.layers[index];
    return {
      ...ctx,
      index,
      layer,
      layerTrace: ctx.trace.layers[index],
      signal,
      state: this.states[index],
      needBelow: index > 0 && this.specs[index - 1].usesSignal,
    };
  }

  step(ctx: StepContext): StepResult {
    const L = ctx.network.layers.length;
    const grads: TensorMap[] = new Array(L);
    const signals: Tensor[] = new Array(L);
    const metrics: Record<string, Tensor> = {};
    let signal: LayerStepContext['signal'] = { gradOutput: ctx.gradOutput, target: ctx.target };
    for (let l = L - 1; l >= 0; l--) {
      const lctx = this.layerCtx(ctx, l, signal);
      const r = this.specs[l].stepLayer(lctx);
      grads[l] = r.grads;
      signals[l] = r.delta;
      if (r.metrics) for (const [k, v] of Object.entries(r.metrics)) metrics[`layer${l}/${k}`] = v;
      if (lctx.needBelow && !r.below) {
        throw new RuleSupportError(
          `rule "${this.specs[l].id}" at layer ${l} sends no teaching signal, but layer ${l - 1} uses rule "${this.specs[l - 1].id}", which needs one`,
        );
      }
      signal = r.below ?? {};
    }
    return { grads, signals, metrics };
  }

  afterUpdate(ctx: Parameters<NonNullable<BoundRule['afterUpdate']>>[0]): void {
    const L = ctx.network.layers.length;
    for (let l = L - 1; l >= 0; l--) {
      const spec = this.specs[l];
      if (!spec.afterUpdateLayer) continue;
      spec.afterUpdateLayer({
        ...this.layerCtx(ctx, l, {}),
        applied: ctx.applied[l],
        decoupledDecay: ctx.decoupledDecay,
      });
    }
  }

  state(): VariableMap {
    const out: VariableMap = {};
    this.states.forEach((s, l) => {
      for (const [k, v] of Object.entries(s)) out[`layer${l}/${k}`] = v;
    });
    return out;
  }

  loadState(state: TensorMap): void {
    assignRuleState(this.rule.id, this.state(), state);
  }

  getMeta(): JsonValue {
    const layers = this.specs.map((spec, l) => spec.getLayerMeta?.(this.states[l]) ?? null);
    return layers.some((m) => m !== null) ? { layers } : null;
  }

  setMeta(meta: JsonValue): void {
    const layers = (meta as { layers?: JsonValue[] } | null)?.layers;
    if (!Array.isArray(layers)) return;
    layers.forEach((m, l) => {
      if (m !== null) this.specs[l]?.setLayerMeta?.(this.states[l], m);
    });
  }

  dispose(): void {
    for (const s of this.states) for (const v of Object.values(s)) v.dispose();
  }
}

/**
 * Load saved rule state into a rule's variables: the same keys and shapes, or a `RuleSupportError` naming the
 * key (a checkpoint from another rule or network). Rules implementing `BoundRule.loadState` call this.
 */
export function assignRuleState(ruleId: string, vars: VariableMap, state: TensorMap): void {
  for (const key of Object.keys(vars)) {
    if (!(key in state)) throw new RuleSupportError(`rule "${ruleId}": saved state lacks "${key}"`);
  }
  for (const [key, t] of Object.entries(state)) {
    const v = vars[key];
    if (!v) throw new RuleSupportError(`rule "${ruleId}": unexpected state "${key}" in checkpoint`);
    if (v.shape.join() !== t.shape.join()) {
      throw new RuleSupportError(`rule "${ruleId}": state "${key}" has shape [${t.shape}], expected [${v.shape}]`);
    }
    v.assign(t);
  }
}

/**
 * Backprop's teaching signals `δ_l` for a trace (the reference every diagnostic compares against):
 * `δ_L = e`, `δ_l = backwardInput(δ_{l+1}, W_{l+1}) ⊙ f'(a_l)`. `params[l]`, when given, replaces layer l's own
 * parameters (e.g. the weights a trace was computed with, before an optimizer step).
 */
export function backpropSignals(network: Network, trace: ForwardTrace, outputError: Tensor, params?: readonly TensorMap[]): Tensor[] {
  const L = network.layers.length;
  const deltas: Tensor[] = new Array(L);
  deltas[L - 1] = outputError;
  for (let l = L - 1; l > 0; l--) {
    const layer = network.layers[l];
    const below = network.layers[l - 1];
    const g = layer.backwardInput(deltas[l], params?.[l]?.[layer.kernelName] ?? layer.params[layer.kernelName]);
    const t = trace.layers[l - 1];
    deltas[l - 1] = tf.mul(tf.reshape(g, t.pre.shape), below.activation.derivative(t.pre, t.output));
  }
  return deltas;
}

/** Backprop's parameter gradients for every layer from its signals. */
export function backpropGrads(network: Network, trace: ForwardTrace, outputError: Tensor, params?: readonly TensorMap[]): TensorMap[] {
  const deltas = backpropSignals(network, trace, outputError, params);
  return network.layers.map((layer: Layer, l) => layer.paramGrads(trace.layers[l].input, deltas[l]));
}

/** Build the step context a rule needs from a forward trace (output error included). */
export function stepContext(args: Omit<StepContext, 'gradOutput' | 'outputError'>): StepContext {
  const gradOutput = args.loss.gradOutput(args.trace.output, args.target);
  const top = args.network.layers[args.network.layers.length - 1];
  const last = args.trace.layers[args.trace.layers.length - 1];
  const outputError = top.activation.name === 'linear' ? gradOutput : tf.mul(gradOutput, top.activation.derivative(last.pre, last.output));
  return { ...args, gradOutput, outputError };
}
