import * as tf from '@tensorflow/tfjs-core';
import { OptionError, RuleSupportError } from './errors.js';
import { NETWORK_INPUT, pathVjp, type VjpMemo } from './network.js';
import { resolveOptimizer } from './optimizers.js';
import type {
  BoundRule,
  ForwardTrace,
  JsonValue,
  LayerRule,
  LayerState,
  LayerStateInit,
  LayerStepContext,
  LayerStepResult,
  Network,
  NodeRef,
  Optimizer,
  RandomSource,
  RandomStream,
  Rule,
  RuleEntry,
  StepContext,
  StepResult,
  TeachingSignal,
  Tensor,
  TensorMap,
  VariableMap,
} from './types.js';

/**
 * Layer l's teaching signal `δ_l = ∂ℒ/∂a_l` from what came from above: an error `∂ℒ/∂h_l` through the block's VJP,
 * or for a target the gradient of `½‖h_l − ĥ_l‖²` averaged over the batch, `(h_l − ĥ_l)/N` through the block's VJP.
 */
export function deltaFromSignal(ctx: LayerStepContext): Tensor {
  const { signal, layerTrace } = ctx;
  if (signal.gradOutput) return ctx.blockVjp(signal.gradOutput);
  if (signal.target) {
    const h = layerTrace.output;
    return ctx.blockVjp(tf.div(tf.sub(h, tf.reshape(signal.target, h.shape)), h.shape[0]));
  }
  throw new RuleSupportError(`layer ${ctx.index} (${ctx.layer.name}) received no teaching signal from the layers above`);
}

/** The random stream a layer rule owns: `rule/<id>/layer<index>`. */
export function layerStream(random: RandomSource, ruleId: string, index: number): RandomStream {
  return random.stream(`rule/${ruleId}/layer${index}`);
}

/** Make a `Rule` from a per-layer rule; `perLayer` can then mix it with other layer rules. */
export function layerwise(rule: LayerRule): Rule {
  checkLayerRule(rule);
  return composeLayerwise(rule.id, rule.name, rule.options, () => rule, rule);
}

function checkLayerRule(rule: LayerRule): void {
  if (!rule || typeof rule !== 'object' || typeof rule.step !== 'function' || typeof rule.id !== 'string') {
    throw new OptionError('layerwise: expects a layer rule { id, name, options, usesSignal, step(ctx), … }');
  }
  if (rule.graphs !== undefined && rule.graphs !== 'any' && rule.graphs !== 'chain') {
    throw new OptionError(`layer rule "${rule.id}": graphs must be 'any' or 'chain', got ${JSON.stringify(rule.graphs)}`);
  }
}

/**
 * Assign a rule to each layer: `perLayer([dtp(), dtp(), backprop()])`, or a default with overrides:
 * `perLayer({ default: dtp(), layers: { 2: backprop() } })`. Every rule must be written per layer.
 */
export function perLayer(assign: readonly Rule[] | { default: Rule; layers?: Record<number, Rule> }): Rule {
  const isList = Array.isArray(assign);
  const byIndex = isList ? null : (assign as { default: Rule; layers?: Record<number, Rule> });
  const pick = (i: number): Rule => {
    if (isList) {
      const r = (assign as readonly Rule[])[i];
      if (!r) throw new RuleSupportError(`perLayer: no rule for layer ${i} (${(assign as readonly Rule[]).length} given)`);
      return r;
    }
    return byIndex!.layers?.[i] ?? byIndex!.default;
  };
  const all = isList ? [...(assign as readonly Rule[])] : [byIndex!.default, ...Object.values(byIndex!.layers ?? {})];
  for (const r of all) {
    if (!r?.layerRule) throw new RuleSupportError(`perLayer: rule "${r?.id}" is not written per layer and cannot be mixed per layer`);
  }
  const entry = (r: Rule) => ({ id: r.id, options: r.options });
  const options: JsonValue = isList
    ? { layers: (assign as readonly Rule[]).map(entry) }
    : { default: entry(byIndex!.default), layers: Object.fromEntries(Object.entries(byIndex!.layers ?? {}).map(([k, r]) => [k, entry(r)])) };
  return composeLayerwise('per-layer', 'per-layer composition', options, (i) => pick(i).layerRule!, undefined);
}

function composeLayerwise(id: string, name: string, options: JsonValue, ruleAt: (index: number) => LayerRule, single: LayerRule | undefined): Rule {
  const rule: Rule = {
    id,
    name,
    options,
    layerRule: single,
    check(network: Network) {
      const rules = network.layers.map((_, i) => ruleAt(i));
      network.layers.forEach((layer, index) => rules[index].check?.({ network, index, layer }));
      const chain = rules.find((r) => r.graphs === 'chain');
      if (chain) {
        const at = network.chainBreak();
        if (at) {
          throw new RuleSupportError(
            `rule "${chain.id}" trains chains of blocks only (its signals are targets, which cannot be split between branches), ` +
              `but module ${at.name} (${at.kind}) joins or forks branches: use an error-propagating rule (bp, fa, sa, …) or dfa on this network`,
          );
        }
      }
    },
    bind(network: Network, random: RandomSource): BoundRule {
      rule.check(network);
      const rules = network.layers.map((_, i) => ruleAt(i));
      const { needBelow } = signalNeeds(network, rules.map((r) => r.usesSignal));
      const states: LayerState[] = [];
      try {
        network.layers.forEach((layer, index) => {
          const init = rules[index].init?.({ network, index, layer, random: layerStream(random, rules[index].id, index), needBelow: needBelow[index] });
          states.push(createLayerState(rules[index].id, index, init));
        });
      } catch (e) {
        for (const s of states) disposeLayerState(s);
        throw e;
      }
      return new LayerwiseBoundRule(rule, network, rules, states);
    },
  };
  return rule;
}

/** Turn what a rule's `init` returned into core-owned state: variables, optimizers with their slots, meta. */
function createLayerState(ruleId: string, index: number, init: LayerStateInit | undefined): LayerState {
  const where = `rule "${ruleId}" at layer ${index}`;
  const tensors: VariableMap = {};
  const optimizers: Record<string, Optimizer> = {};
  try {
    for (const [key, t] of Object.entries(init?.tensors ?? {})) {
      if (key.includes('/')) throw new OptionError(`${where}: state key "${key}" must not contain "/"`);
      tensors[key] = tf.variable(t, false, undefined, 'float32');
      t.dispose();
    }
    const learned = [...(init?.learned ?? [])];
    for (const k of learned) if (!tensors[k]) throw new OptionError(`${where}: learned key "${k}" is not one of its tensors`);
    for (const [name, o] of Object.entries(init?.optimizers ?? {})) {
      if (name.includes('/')) throw new OptionError(`${where}: optimizer name "${name}" must not contain "/"`);
      const vars: VariableMap = {};
      for (const k of o.over) {
        if (!tensors[k]) throw new OptionError(`${where}: optimizer "${name}" is over "${k}", which is not one of its tensors`);
        vars[k] = tensors[k];
      }
      const opt = resolveOptimizer(o.spec as Parameters<typeof resolveOptimizer>[0]).create();
      opt.initSlots(vars);
      optimizers[name] = opt;
    }
    return { tensors, learned, optimizers, meta: init?.meta ?? null };
  } catch (e) {
    for (const v of Object.values(tensors)) v.dispose();
    for (const o of Object.values(optimizers)) o.dispose();
    throw e;
  }
}

function disposeLayerState(s: LayerState): void {
  for (const v of Object.values(s.tensors)) v.dispose();
  for (const o of Object.values(s.optimizers)) o.dispose();
}

/** Which junctions' signals someone consumes (a layer that uses its signal, or a free path carrying it further). */
function signalNeeds(network: Network, usesSignal: readonly boolean[]) {
  const topo = network.topology;
  const memo = new Map<NodeRef, boolean>();
  const needed = (j: NodeRef): boolean => {
    if (j === NETWORK_INPUT) return false;
    const known = memo.get(j);
    if (known !== undefined) return known;
    memo.set(j, false);
    const v =
      topo.layers.some((t, m) => t.block.end === j && usesSignal[m]) ||
      topo.freePaths.some((p) => p.end === j && (p.hasParams || needed(p.start)));
    memo.set(j, v);
    return v;
  };
  return {
    needBelow: topo.layers.map((t) => needed(t.input)),
    pathNeeded: topo.freePaths.map((p) => p.hasParams || needed(p.start)),
  };
}

/** The junctions of a network in reverse topological order, with the layers and free paths that end at each. */
function schedule(network: Network) {
  const topo = network.topology;
  const at = new Map<NodeRef, { layers: number[]; paths: number[] }>();
  const slot = (j: NodeRef) => {
    let s = at.get(j);
    if (!s) at.set(j, (s = { layers: [], paths: [] }));
    return s;
  };
  topo.layers.forEach((t, l) => slot(t.block.end).layers.push(l));
  topo.freePaths.forEach((p, i) => slot(p.end).paths.push(i));
  for (const s of at.values()) s.layers.sort((a, b) => b - a);
  return [...at.entries()].sort((a, b) => b[0] - a[0]);
}

/** What one layer contributes to the teaching pass. */
type VisitLayer = (l: number, signal: TeachingSignal, needBelow: boolean, blockVjp: (grad: Tensor) => Tensor) => LayerStepResult;

/**
 * The teaching pass over a network's graph: from the output, each layer gets the signal at its block output and
 * sends one to its kernel input; free paths (identity shortcuts) carry errors by their modules' exact VJPs, adding
 * at forks. Returns every layer's result and the gradients of non-kernel parameters by module name.
 */
function teachingPass(
  ctx: Pick<StepContext, 'network' | 'trace' | 'gradOutput' | 'outputError' | 'outputBlockGrads'> & { target?: Tensor },
  needs: ReturnType<typeof signalNeeds>,
  order: ReturnType<typeof schedule>,
  visit: VisitLayer,
  describe: (l: number) => string,
): { results: LayerStepResult[]; moduleGrads: Record<string, TensorMap> } {
  const { network, trace } = ctx;
  const topo = network.topology;
  const signals = new Map<NodeRef, { gradOutput?: Tensor; target?: Tensor }>();
  signals.set(topo.output, { gradOutput: ctx.gradOutput, target: ctx.target });
  const results: LayerStepResult[] = new Array(network.layers.length);
  const moduleGrads: Record<string, TensorMap> = {};
  const keep = (params: Record<string, TensorMap>) => {
    // a module shared by two paths (after a join) trains on the first signal that reached it
    for (const [m, g] of Object.entries(params)) if (!moduleGrads[m]) moduleGrads[m] = g;
  };
  const memo: VjpMemo = new Map();
  const deposit = (j: NodeRef, s: TeachingSignal, from: string) => {
    if (j === NETWORK_INPUT) return;
    const cur = signals.get(j) ?? {};
    if (cur.target && s.target) {
      throw new RuleSupportError(`two targets meet at module ${network.nodes[j].module.name} (${from}): targets cannot be added`);
    }
    signals.set(j, {
      gradOutput: cur.gradOutput && s.gradOutput ? tf.add(cur.gradOutput, s.gradOutput) : (cur.gradOutput ?? s.gradOutput),
      target: cur.target ?? s.target,
    });
  };
  for (const [j, { layers, paths }] of order) {
    const signal = signals.get(j) ?? {};
    for (const l of layers) {
      const layer = network.layers[l];
      let blockGrads: Record<string, TensorMap> | null = null;
      const blockVjp = (grad: Tensor): Tensor => {
        if (l === network.outputLayer && grad === ctx.gradOutput) {
          blockGrads = { ...ctx.outputBlockGrads };
          return ctx.outputError;
        }
        const r = pathVjp(layer.block, trace, grad, undefined, memo);
        blockGrads = r.params;
        return r.delta;
      };
      const r = visit(l, signal, needs.needBelow[l], blockVjp);
      results[l] = r;
      if (blockGrads) keep(blockGrads);
      if (needs.needBelow[l]) {
        if (!r.below) throw new RuleSupportError(`${describe(l)} sends no teaching signal, but the layers below need one`);
        deposit(topo.layers[l].input, r.below, describe(l));
      }
    }
    for (const p of paths) {
      if (!needs.pathNeeded[p]) continue;
      const path = topo.freePaths[p];
      if (!signal.gradOutput) {
        if (signal.target) {
          throw new RuleSupportError(`a target cannot cross module ${path.steps[0].module.name} (${path.steps[0].module.kind}): targets stay on chains of blocks`);
        }
        continue;
      }
      const r = pathVjp(path.steps, trace, signal.gradOutput, undefined, memo);
      keep(r.params);
      deposit(path.start, { gradOutput: r.delta }, `shortcut through ${path.steps[0].module.name}`);
    }
  }
  return { results, moduleGrads };
}

class LayerwiseBoundRule implements BoundRule {
  private readonly needs: ReturnType<typeof signalNeeds>;
  private readonly order: ReturnType<typeof schedule>;
  /** Each layer's random stream, by the random source of the steps (the trainer's: one, looked up once). */
  private readonly streams = new WeakMap<RandomSource, RandomStream[]>();
  /**
   * Present only when a layer rule has an `afterUpdate`: without it the trainer need not hand over the applied steps
   * (which a backend may then never compute).
   */
  readonly afterUpdate?: (ctx: Parameters<NonNullable<BoundRule['afterUpdate']>>[0]) => void;

  constructor(
    readonly rule: Rule,
    private readonly network: Network,
    private readonly rules: readonly LayerRule[],
    private readonly states: LayerState[],
  ) {
    this.needs = signalNeeds(network, rules.map((r) => r.usesSignal));
    this.order = schedule(network);
    if (rules.some((r) => r.afterUpdate)) this.afterUpdate = (ctx) => this.afterUpdateLayers(ctx);
  }

  private layerStreams(random: RandomSource): RandomStream[] {
    let s = this.streams.get(random);
    if (!s) this.streams.set(random, (s = this.rules.map((r, l) => layerStream(random, r.id, l))));
    return s;
  }

  private describe = (l: number) => `rule "${this.rules[l].id}" at layer ${l} (${this.network.layers[l].name})`;

  step(ctx: StepContext): StepResult {
    const L = this.network.layers.length;
    const metrics: Record<string, Tensor> = {};
    const streams = this.layerStreams(ctx.random);
    const { results, moduleGrads } = teachingPass(
      ctx,
      this.needs,
      this.order,
      (l, signal, needBelow, blockVjp) => {
        const rule = this.rules[l];
        if (rule.usesSignal && !signal.gradOutput && !signal.target) {
          throw new RuleSupportError(`${this.describe(l)} needs a teaching signal, but the rule above it sends none`);
        }
        const r = rule.step({
          ...ctx,
          index: l,
          layer: this.network.layers[l],
          layerTrace: ctx.trace.layers[l],
          signal,
          state: this.states[l],
          states: this.states,
          needBelow,
          random: streams[l],
          blockVjp,
        });
        if (r.metrics) for (const [k, v] of Object.entries(r.metrics)) metrics[`layer${l}/${k}`] = v;
        return r;
      },
      this.describe,
    );
    return {
      grads: Array.from({ length: L }, (_, l) => results[l].grads),
      signals: Array.from({ length: L }, (_, l) => results[l].delta),
      moduleGrads,
      metrics,
    };
  }

  private afterUpdateLayers(ctx: Parameters<NonNullable<BoundRule['afterUpdate']>>[0]): void {
    const streams = this.layerStreams(ctx.random);
    for (let l = this.network.layers.length - 1; l >= 0; l--) {
      const rule = this.rules[l];
      if (!rule.afterUpdate) continue;
      rule.afterUpdate({
        ...ctx,
        index: l,
        layer: this.network.layers[l],
        state: this.states[l],
        states: this.states,
        needBelow: this.needs.needBelow[l],
        random: streams[l],
        applied: ctx.applied[l],
        decoupledDecay: ctx.decoupledDecay,
      });
    }
  }

  state(): VariableMap {
    const out: VariableMap = {};
    this.states.forEach((s, l) => {
      for (const [k, v] of Object.entries(s.tensors)) out[`layer${l}/${k}`] = v;
      for (const [name, o] of Object.entries(s.optimizers)) {
        for (const [k, v] of Object.entries(o.slots())) out[`layer${l}/optimizers/${name}/${k}`] = v;
      }
    });
    return out;
  }

  learned(): string[] {
    return this.states.flatMap((s, l) => s.learned.map((k) => `layer${l}/${k}`));
  }

  feedbackWeights(l: number): Tensor | null {
    const rule = this.rules[l];
    if (!rule?.feedbackWeights) return null;
    return rule.feedbackWeights({ network: this.network, index: l, layer: this.network.layers[l], state: this.states[l], states: this.states });
  }

  loadState(state: TensorMap): void {
    assignRuleState(this.rule.id, this.state(), state);
  }

  getMeta(): JsonValue {
    const layers = this.states.map((s) => {
      const optimizers = Object.fromEntries(Object.entries(s.optimizers).map(([name, o]) => [name, o.getMeta()]));
      return s.meta === null && Object.keys(optimizers).length === 0 ? null : { meta: s.meta, optimizers };
    });
    return layers.some((m) => m !== null) ? { layers } : null;
  }

  setMeta(meta: JsonValue): void {
    const layers = meta === null ? this.states.map(() => null) : (meta as { layers?: unknown }).layers;
    if (!Array.isArray(layers) || layers.length !== this.states.length) {
      throw new RuleSupportError(`rule "${this.rule.id}": saved meta must list ${this.states.length} layers`);
    }
    layers.forEach((m, l) => {
      const s = this.states[l];
      if (m === null) {
        s.meta = null;
        return;
      }
      const entry = m as { meta?: JsonValue; optimizers?: Record<string, JsonValue> };
      s.meta = entry.meta ?? null;
      for (const [name, o] of Object.entries(s.optimizers)) {
        if (!entry.optimizers || !(name in entry.optimizers)) throw new RuleSupportError(`rule "${this.rule.id}": saved meta of layer ${l} lacks optimizer "${name}"`);
        o.setMeta(entry.optimizers[name]);
      }
    });
  }

  dispose(): void {
    for (const s of this.states) disposeLayerState(s);
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
    const v = Object.hasOwn(vars, key) ? vars[key] : undefined;
    if (!v) throw new RuleSupportError(`rule "${ruleId}": unexpected state "${key}" in checkpoint`);
    if (v.shape.join() !== t.shape.join()) {
      throw new RuleSupportError(`rule "${ruleId}": state "${key}" has shape [${t.shape}], expected [${v.shape}]`);
    }
  }
  for (const [key, t] of Object.entries(state)) vars[key].assign(t);
}

const REFERENCE_NEEDS = new WeakMap<Network, { needs: ReturnType<typeof signalNeeds>; order: ReturnType<typeof schedule> }>();

/**
 * Backprop's teaching signals `δ_l` for a trace over any graph (the reference every diagnostic compares against),
 * with its gradients of every kernel and of the other modules' parameters. `params[l]`, when given, replaces
 * layer l's own kernel parameters (the weights a trace was computed with, before an optimizer step).
 */
export function backpropPass(
  network: Network,
  trace: ForwardTrace,
  top: Pick<StepContext, 'gradOutput' | 'outputError' | 'outputBlockGrads'>,
  params?: readonly TensorMap[],
): { signals: Tensor[]; grads: TensorMap[]; moduleGrads: Record<string, TensorMap> } {
  let cached = REFERENCE_NEEDS.get(network);
  if (!cached) {
    cached = { needs: signalNeeds(network, network.layers.map(() => true)), order: schedule(network) };
    REFERENCE_NEEDS.set(network, cached);
  }
  const { results, moduleGrads } = teachingPass(
    { network, trace, ...top },
    cached.needs,
    cached.order,
    (l, signal, needBelow, blockVjp) => {
      const layer = network.layers[l];
      if (!signal.gradOutput) throw new RuleSupportError(`backprop reference: no error reached layer ${l} (${layer.name})`);
      const delta = blockVjp(signal.gradOutput);
      const kernel = params?.[l]?.[layer.kernelName] ?? layer.params[layer.kernelName];
      return {
        delta,
        grads: layer.paramGrads(trace.layers[l].input, delta),
        below: needBelow ? { gradOutput: layer.backwardInput(delta, kernel) } : undefined,
      };
    },
    (l) => `backprop at layer ${l}`,
  );
  return { signals: results.map((r) => r.delta), grads: results.map((r) => r.grads), moduleGrads };
}

/** Backprop's teaching signals for a trace (see `backpropPass`). */
export function backpropSignals(
  network: Network,
  trace: ForwardTrace,
  top: Pick<StepContext, 'gradOutput' | 'outputError' | 'outputBlockGrads'>,
  params?: readonly TensorMap[],
): Tensor[] {
  return backpropPass(network, trace, top, params).signals;
}

/** Build the step context a rule needs from a forward trace: the loss gradient and the output error `e`. */
export function stepContext(args: Omit<StepContext, 'gradOutput' | 'outputError' | 'outputBlockGrads'>): StepContext {
  const gradOutput = args.loss.gradOutput(args.trace.output, args.target);
  const top = args.network.layers[args.network.outputLayer];
  const { delta, params } = top.blockVjp(args.trace, gradOutput);
  return { ...args, gradOutput, outputError: delta, outputBlockGrads: params };
}

/**
 * A rule entry from its description and a builder that receives validated options with every default filled:
 * `create(raw)` parses `raw` with `options` (an `OptionError` names the key) and calls `build`.
 */
export function defineRule<O>(entry: Omit<RuleEntry<O>, 'create'> & { build(options: O): Rule }): RuleEntry<O> {
  const { build, ...rest } = entry;
  if (!/^[a-z][a-z0-9-]*$/.test(rest.id)) throw new OptionError(`rule id must be lowercase letters, digits and '-', got ${JSON.stringify(rest.id)}`);
  return { ...rest, create: (options?: unknown) => build(rest.options.parse(options ?? {}, rest.id)) };
}
