import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeError } from './errors.js';
import { linear as linearActivation } from './activations.js';
import { isActivationModule } from './modules/activation.js';
import { fusedMaxPoolReluVjp } from './modules/pooling.js';
import { relu } from './activations.js';
import { randomSource } from './random.js';
import type {
  Activation,
  ActivationContext,
  BlockStep,
  ForwardTrace,
  FreePath,
  GraphNode,
  GraphPath,
  KernelModule,
  Layer,
  LayerSpec,
  LayerTrace,
  Module,
  ModuleBuildContext,
  ModuleConfig,
  ModuleTrace,
  ModuleVjp,
  ModuleVjpOptions,
  Network,
  NetworkBuilder,
  NetworkConfig,
  NodeRef,
  RandomSource,
  RandomStream,
  Tensor,
  TensorMap,
  Topology,
  VariableMap,
} from './types.js';

/** The node id that stands for the network input. */
export const NETWORK_INPUT: NodeRef = -1;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Whether a module is a kernel module (its transport is what rules replace). */
export function isKernelModule(module: Module): module is KernelModule {
  const m = module as Partial<KernelModule>;
  return typeof m.kernelName === 'string' && typeof m.backwardInput === 'function' && typeof m.paramGrads === 'function';
}

export interface SequentialOptions {
  /** Per-sample input shape, e.g. `[784]` or `[28, 28, 1]`. */
  inputShape: readonly number[];
  /** The network's parts in order: kernel layers, activations, pooling, batch norm, dropout, residual blocks… */
  layers: readonly LayerSpec[];
  /** Seed for the initializers (ignored when `random` is given). Default 0. */
  seed?: number;
  /** A random source to draw initial weights from (its `init` stream). */
  random?: RandomSource;
}

/** Build a network from layer specs in order (residual blocks nest); weights come from the seeded `init` stream. */
export function sequential(options: SequentialOptions): GraphNetwork {
  if (!options || !Array.isArray(options.inputShape) || !Array.isArray(options.layers)) {
    throw new OptionError('sequential: options must be { inputShape: number[], layers: LayerSpec[] }');
  }
  for (const [i, d] of options.inputShape.entries()) {
    if (!Number.isInteger(d) || d < 1) throw new ShapeError(`sequential: inputShape[${i}] must be a positive integer, got ${JSON.stringify(d)}`);
  }
  const random = options.random ?? randomSource(options.seed ?? 0);
  const builder = new GraphBuilder(options.inputShape, random.stream('init'));
  let out = NETWORK_INPUT;
  try {
    options.layers.forEach((spec, i) => {
      if (!spec || typeof spec.build !== 'function') throw new OptionError(`sequential: layers[${i}] is not a layer spec`);
      out = spec.build(builder, out);
    });
  } catch (e) {
    builder.dispose();
    throw e;
  }
  return new GraphNetwork(
    options.inputShape,
    builder.nodes,
    out,
    options.layers.map((l) => l.config()),
  );
}

/** Collects modules as layer specs add them (the `NetworkBuilder` specs see). */
class GraphBuilder implements NetworkBuilder {
  readonly nodes: GraphNode[] = [];
  private readonly counts = new Map<string, number>();
  private readonly names = new Set<string>();

  constructor(
    private readonly inputShape: readonly number[],
    readonly random: RandomStream,
  ) {}

  shape(node: NodeRef): readonly number[] {
    if (node === NETWORK_INPUT) return this.inputShape;
    const n = this.nodes[node];
    if (!n) throw new ShapeError(`network builder: no node ${node}`);
    return n.module.outputShape;
  }

  add(kind: string, inputs: readonly NodeRef[], make: (ctx: ModuleBuildContext) => Module, name?: string): NodeRef {
    const count = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, count);
    const resolved = name ?? `${kind}_${count}`;
    if (typeof resolved !== 'string' || resolved === '' || resolved.includes('/')) {
      throw new OptionError(`module name must be a non-empty string without "/", got ${JSON.stringify(resolved)}`);
    }
    if (this.names.has(resolved)) throw new OptionError(`two modules are named "${resolved}": names must be unique in a network`);
    this.names.add(resolved);
    const module = make({ inputShapes: inputs.map((i) => this.shape(i)), name: resolved, random: this.random });
    const id = this.nodes.length;
    this.nodes.push({ id, module, inputs: [...inputs] });
    return id;
  }

  dispose(): void {
    for (const n of this.nodes) disposeModule(n.module);
  }
}

function disposeModule(m: Module): void {
  for (const v of Object.values(m.params)) v.dispose();
  for (const v of Object.values(m.buffers)) v.dispose();
}

export class GraphNetwork implements Network {
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly layers: readonly Layer[];
  readonly outputLayer: number;
  readonly topology: Topology;
  private readonly consumers: number[][];
  private readonly specConfigs: ModuleConfig[];

  constructor(
    inputShape: readonly number[],
    readonly nodes: readonly GraphNode[],
    output: NodeRef,
    specConfigs: ModuleConfig[],
  ) {
    if (output === NETWORK_INPUT || nodes.length === 0) throw new ShapeError('a network needs at least one module');
    this.inputShape = [...inputShape];
    this.outputShape = nodes[output].module.outputShape;
    this.specConfigs = specConfigs;
    this.consumers = nodes.map(() => []);
    const inputConsumers: number[] = [];
    for (const n of nodes) {
      for (const i of n.inputs) (i === NETWORK_INPUT ? inputConsumers : this.consumers[i]).push(n.id);
    }
    for (const n of nodes) {
      if (n.id !== output && this.consumers[n.id].length === 0) {
        throw new ShapeError(`module ${n.module.name} (${n.module.kind}) feeds nothing: every module must lead to the output`);
      }
    }
    this.topology = this.analyze(output, inputConsumers);
    if (this.topology.layers.length === 0) {
      throw new ShapeError('a network needs at least one kernel module (dense, conv2d or locallyConnected2d) to train');
    }
    this.layers = this.topology.layers.map((t, l) => new NetworkLayer(l, nodes[t.block.start].module as KernelModule, t.block.steps, t.block.end, this));
    const atOutput = this.topology.layers.map((t, l) => (t.block.end === output ? l : -1)).filter((l) => l >= 0);
    if (atOutput.length === 0) {
      throw new ShapeError('the network output must be the output of the last kernel layer or of the modules after it (no fork between them)');
    }
    this.outputLayer = atOutput[atOutput.length - 1];
  }

  /** Walk forward from `node` while the path is a single line of non-kernel modules. */
  private walk(from: number, output: number): { steps: BlockStep[]; end: number } {
    const steps: BlockStep[] = [];
    let cur = from;
    for (;;) {
      if (cur === output) break;
      const next = this.consumers[cur];
      if (next.length !== 1) break;
      const c = this.nodes[next[0]];
      if (isKernelModule(c.module)) break;
      steps.push({ node: c.id, module: c.module, slot: c.inputs.indexOf(cur) });
      cur = c.id;
    }
    return { steps, end: cur };
  }

  private analyze(output: number, inputConsumers: number[]): Topology {
    const layers: { input: NodeRef; block: GraphPath }[] = [];
    const junctions = new Set<NodeRef>([NETWORK_INPUT]);
    for (const n of this.nodes) {
      if (!isKernelModule(n.module)) continue;
      if (n.inputs.length !== 1) throw new ShapeError(`kernel module ${n.module.name} must have exactly one input`);
      const { steps, end } = this.walk(n.id, output);
      layers.push({ input: n.inputs[0], block: { start: n.id, steps, end } });
      junctions.add(n.inputs[0]);
      junctions.add(end);
    }
    // every path that starts at a junction through a non-kernel module is a free path (until the next junction)
    const freePaths: FreePath[] = [];
    const queue = [...junctions].sort((a, b) => a - b);
    while (queue.length > 0) {
      const s = queue.shift()!;
      const consumers = s === NETWORK_INPUT ? inputConsumers : this.consumers[s];
      for (const c of consumers) {
        const node = this.nodes[c];
        if (isKernelModule(node.module)) continue;
        const first: BlockStep = { node: c, module: node.module, slot: node.inputs.indexOf(s) };
        const rest = this.walk(c, output);
        const steps = [first, ...rest.steps];
        freePaths.push({ start: s, steps, end: rest.end, hasParams: steps.some((st) => Object.keys(st.module.params).length > 0) });
        if (!junctions.has(rest.end)) {
          junctions.add(rest.end);
          queue.push(rest.end);
        }
      }
    }
    return { layers, freePaths, output };
  }

  forward(input: Tensor, ctx: Partial<ActivationContext> = {}): ForwardTrace {
    const want = size(this.inputShape);
    if (input.rank < 2 || size(input.shape.slice(1)) !== want) {
      throw new ShapeError(`network input: expected [N, ${this.inputShape.join(', ')}], got [${input.shape.join(', ')}]`);
    }
    const x = input.rank === this.inputShape.length + 1 && this.inputShape.every((d, i) => input.shape[i + 1] === d) ? input : tf.reshape(input, [input.shape[0], ...this.inputShape]);
    const actx: ActivationContext = { training: ctx.training ?? true, random: ctx.random };
    const traces: ModuleTrace[] = [];
    const out = (ref: NodeRef): Tensor => (ref === NETWORK_INPUT ? x : traces[ref].output);
    for (const n of this.nodes) traces.push(n.module.forward(n.inputs.map(out), actx));
    const layers: LayerTrace[] = this.topology.layers.map((t) => ({
      input: out(t.input),
      pre: traces[t.block.start].output,
      output: out(t.block.end),
    }));
    return { input: x, nodes: traces, layers, output: traces[this.topology.output].output };
  }

  predict(input: Tensor, ctx: Partial<ActivationContext> = {}): Tensor {
    return tf.tidy(() => this.forward(input, { training: false, ...ctx }).output);
  }

  namedParams(): VariableMap {
    const out: VariableMap = {};
    for (const n of this.nodes) for (const [k, v] of Object.entries(n.module.params)) out[`${n.module.name}/${k}`] = v;
    return out;
  }

  namedBuffers(): VariableMap {
    const out: VariableMap = {};
    for (const n of this.nodes) for (const [k, v] of Object.entries(n.module.buffers)) out[`${n.module.name}/${k}`] = v;
    return out;
  }

  commit(trace: ForwardTrace): void {
    for (const n of this.nodes) n.module.commit?.(trace.nodes[n.id]);
  }

  chainBreak(): Module | null {
    // a residual add joins two branches; a target cannot be split between them
    for (const n of this.nodes) if (n.inputs.length > 1) return n.module;
    // modules in front of the first kernel (zero padding) carry nothing a target rule needs
    for (const p of this.topology.freePaths) if (p.start !== NETWORK_INPUT) return p.steps[0].module;
    return null;
  }

  config(): NetworkConfig {
    return { inputShape: [...this.inputShape], layers: JSON.parse(JSON.stringify(this.specConfigs)) as ModuleConfig[] };
  }

  dispose(): void {
    for (const n of this.nodes) disposeModule(n.module);
  }
}

/** Layer l: its kernel module and its block, with the block's VJP and replay over a trace. */
class NetworkLayer implements Layer {
  readonly kind: string;
  readonly name: string;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly blockOutputShape: readonly number[];
  readonly activation: Activation;

  constructor(
    readonly index: number,
    readonly kernel: KernelModule,
    readonly block: readonly BlockStep[],
    blockEnd: number,
    network: GraphNetwork,
  ) {
    this.kind = kernel.kind;
    this.name = kernel.name;
    this.inputShape = kernel.inputShapes[0];
    this.outputShape = kernel.outputShape;
    this.blockOutputShape = network.nodes[blockEnd].module.outputShape;
    const act = block.find((s) => isActivationModule(s.module));
    this.activation = act && isActivationModule(act.module) ? act.module.activation : linearActivation;
  }

  get params(): VariableMap {
    return this.kernel.params;
  }
  get kernelName(): string {
    return this.kernel.kernelName;
  }
  get fan(): { fanIn: number; fanOut: number } {
    return this.kernel.fan;
  }
  linear(input: Tensor, params?: TensorMap): Tensor {
    return this.kernel.linear(input, params);
  }
  backwardInput(delta: Tensor, kernel: Tensor): Tensor {
    return this.kernel.backwardInput(delta, kernel);
  }
  paramGrads(input: Tensor, delta: Tensor): TensorMap {
    return this.kernel.paramGrads(input, delta);
  }

  blockVjp(trace: ForwardTrace, grad: Tensor, options?: ModuleVjpOptions): { delta: Tensor; params: Record<string, TensorMap> } {
    return pathVjp(this.block, trace, grad, options);
  }

  blockReplay(trace: ForwardTrace, pre: Tensor): Tensor {
    let h = pre;
    for (const s of this.block) {
      const t = trace.nodes[s.node];
      const inputs = t.inputs.map((x, i) => (i === s.slot ? h : x));
      h = s.module.replay(inputs, t);
    }
    return h;
  }

  config(): ModuleConfig {
    return this.kernel.config();
  }
}

/** Reuse of module VJPs within one teaching pass: paths that share modules after a join compute them once. */
export type VjpMemo = Map<number, { grad: Tensor; result: ModuleVjp }>;

/**
 * VJP of a path of modules, from a gradient at its end to its start, with each module's parameter gradients.
 * With a `memo`, a module already crossed with the same gradient tensor (a segment shared by two paths after a
 * residual add) is not computed again.
 */
export function pathVjp(
  steps: readonly BlockStep[],
  trace: ForwardTrace,
  grad: Tensor,
  options?: ModuleVjpOptions,
  memo?: VjpMemo,
): { delta: Tensor; params: Record<string, TensorMap> } {
  let g = grad;
  const params: Record<string, TensorMap> = {};
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i];
    const t = trace.nodes[s.node];
    const hit = memo?.get(s.node);
    // relu then max pooling: one fused VJP where the backend has it (the pool's own input gradient is never formed,
    // so neither module is memoized: a path sharing them computes them again)
    const before = i > 0 ? steps[i - 1] : null;
    if (before && s.slot === 0 && !options?.structural && !(hit && hit.grad === g) && isActivationModule(before.module) && before.module.activation === relu) {
      const fused = fusedMaxPoolReluVjp(s.module, g, t);
      if (fused) {
        const a = trace.nodes[before.node].inputs[before.slot];
        g = sameShape(fused.shape, a.shape) ? fused : tf.reshape(fused, a.shape);
        i--;
        continue;
      }
    }
    let r: ModuleVjp;
    if (hit && hit.grad === g) r = hit.result;
    else {
      r = s.module.vjp(sameShape(g.shape, t.output.shape) ? g : tf.reshape(g, t.output.shape), t, options);
      memo?.set(s.node, { grad: g, result: r });
    }
    if (r.params && Object.keys(r.params).length > 0) params[s.module.name] = r.params;
    g = r.inputs[s.slot];
  }
  return { delta: g, params };
}
