/**
 * The contracts of bioprop, in one module. Every plugin annotates its exports with these types.
 *
 * Conventions (see the package README):
 * - batches are row-major: an activation is `[N, ...sampleShape]` (NHWC for images);
 * - a network is a graph of modules; **kernel modules** (dense, conv2d, locally connected) hold the weights whose
 *   transport a rule replaces, every other module (activation, pooling, batch norm, dropout, residual add…) is
 *   crossed by its exact vector–Jacobian product;
 * - a **layer** is a kernel module with its **block**: the modules after it up to the next kernel module (or a fork,
 *   or the output). Layer l's pre-activation `a_l` is the kernel's output, its output `h_l` the block's output;
 * - a dense kernel is stored `[n_in, n_out]`, i.e. the papers' `Wᵀ`; `a = h·kernel + bias`;
 * - feedback weights `B` are stored in the layout of the kernel they stand in for, so `B = kernel` is backprop;
 * - losses are means over the batch, so the output error `e = ∂ℒ/∂a_L` carries `1/N`;
 * - a teaching signal `δ_l` is in backprop's convention `∂ℒ/∂a_l` (kernel output, pointing uphill).
 */
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { InitializerConfig } from './initializers.js';
import type { Schema } from './options.js';

export type { Tensor, Variable };

/** Named tensors, e.g. a layer's `{ kernel, bias }`. */
export type TensorMap = Record<string, Tensor>;
/** Named trainable variables. */
export type VariableMap = Record<string, Variable>;
/** Any JSON value, for configs and metadata saved in checkpoints. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// ---------------------------------------------------------------------------------------------
// Randomness

/** A seeded random stream whose whole state can be saved and restored (a resumed run is bit-for-bit). */
export interface RandomStream {
  readonly name: string;
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  normal(): number;
  /** Fill a Float32Array with U[lo, hi). */
  uniformArray(size: number, lo?: number, hi?: number): Float32Array;
  /** Fill a Float32Array with N(mean, std²). */
  normalArray(size: number, mean?: number, std?: number): Float32Array;
  getState(): number[];
  setState(state: readonly number[]): void;
}

/** A family of named random streams derived from one seed. */
export interface RandomSource {
  readonly seed: number;
  /** The stream of that name, created on first use from (seed, name). */
  stream(name: string): RandomStream;
  /** The state of every stream created so far. */
  getState(): Record<string, number[]>;
  setState(state: Record<string, readonly number[]>): void;
}

/** Creates a tensor of the given shape from a random stream (seeded initializers). */
export interface Initializer {
  readonly name: string;
  readonly config: JsonValue;
  /** `fanIn`/`fanOut` as the layer defines them. */
  init(shape: readonly number[], fan: { fanIn: number; fanOut: number }, random: RandomStream): Tensor;
}

// ---------------------------------------------------------------------------------------------
// Activations

/** What a module may need at run time. */
export interface ActivationContext {
  /** Training or inference (batch norm's statistics, dropout; stochastic units stay stochastic at test time). */
  readonly training: boolean;
  /** The run's forward random stream (dropout masks, Bernoulli samples). */
  readonly random?: RandomStream;
}

/** An elementwise (or block-wise, e.g. LWTA) activation with its derivative (or surrogate derivative). */
export interface Activation {
  readonly name: string;
  readonly config?: JsonValue;
  /** Whether `apply` samples (Bernoulli units). */
  readonly stochastic?: boolean;
  /** `h = f(a)`. */
  apply(pre: Tensor, ctx: ActivationContext): Tensor;
  /** `f'(a)` elementwise, given the pre-activation and the output it produced (surrogates for sign, Bernoulli). */
  derivative(pre: Tensor, output: Tensor): Tensor;
}

// ---------------------------------------------------------------------------------------------
// Modules

/** A module's serializable description (what `layerFromConfig` rebuilds it from; weights travel separately). */
export interface ModuleConfig {
  readonly kind: string;
  readonly [key: string]: JsonValue | undefined;
}

/** What one module saw and produced in a forward pass. */
export interface ModuleTrace {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  /** What its VJP and replay need (batch norm's batch statistics and γ, dropout's mask, an activation's input). */
  readonly saved?: TensorMap;
}

/** A module's vector–Jacobian product: `∂ℒ/∂input` for each input, and the gradients of its own parameters. */
export interface ModuleVjp {
  readonly inputs: readonly Tensor[];
  readonly params?: TensorMap;
}

export interface ModuleVjpOptions {
  /**
   * Skip the derivatives of elementwise activations (keep only the structural part: pooling's routing, reshapes,
   * batch norm's scaling). LRA-fdbk's one-derivative correction uses it.
   */
  readonly structural?: boolean;
}

/**
 * One node of a network: a map from its inputs (one, or two for a residual add) to an output, with an exact VJP.
 * Kernel modules additionally implement `KernelModule`.
 */
export interface Module {
  readonly kind: string;
  /** Unique within its network (`dense_1`, `batchNorm_2`, …); parameters are saved under it. */
  readonly name: string;
  /** Per-sample shape of each input (no batch dimension). */
  readonly inputShapes: readonly (readonly number[])[];
  /** Per-sample output shape. */
  readonly outputShape: readonly number[];
  /** Trainable parameters (the forward optimizer updates them). */
  readonly params: VariableMap;
  /** Non-trainable model state (batch norm's running statistics), saved in checkpoints. */
  readonly buffers: VariableMap;
  /** Whether `forward` samples in training mode (dropout) or always (Bernoulli units). */
  readonly stochastic?: boolean;
  forward(inputs: readonly Tensor[], ctx: ActivationContext): ModuleTrace;
  /** Exact VJP at the point `trace` was computed at (given `∂ℒ/∂output`). */
  vjp(grad: Tensor, trace: ModuleTrace, options?: ModuleVjpOptions): ModuleVjp;
  /**
   * The same map on other inputs with the trace's randomness and statistics frozen (its dropout mask, its batch
   * statistics): how target rules push a moved pre-activation through a block.
   */
  replay(inputs: readonly Tensor[], trace: ModuleTrace): Tensor;
  /** After a training step: fold a train-mode trace's batch statistics into the running state (batch norm). */
  commit?(trace: ModuleTrace): void;
  config(): ModuleConfig;
}

/**
 * A module whose transport a rule replaces: a parametrised linear map `a = L(x; θ)`. Every rule works through
 * `linear`, `backwardInput` and `paramGrads`, never through autodiff.
 */
export interface KernelModule extends Module {
  /** The parameter that feedback weights stand in for (`'kernel'`). */
  readonly kernelName: string;
  /** Fan-in and fan-out of one output unit, for initializers and feedback scales. */
  readonly fan: { fanIn: number; fanOut: number };
  /** The linear map; `params` overrides the module's own (e.g. tied or mirrored weights). */
  linear(input: Tensor, params?: TensorMap): Tensor;
  /**
   * VJP of the linear map with respect to its input, with `kernel` standing in for the module's kernel:
   * `backwardInput(δ, kernel)` is backprop, `backwardInput(δ, B)` is feedback alignment. Returns `[N, ...inputShape]`.
   */
  backwardInput(delta: Tensor, kernel: Tensor): Tensor;
  /** Gradients of `Σ δ ⊙ a` with respect to every parameter, given the module input and `δ = ∂ℒ/∂a`. */
  paramGrads(input: Tensor, delta: Tensor): TensorMap;
}

/** Where a module reads its inputs: another node's output, or the network input (`NETWORK_INPUT`). */
export type NodeRef = number;

/** What a layer spec may use while it adds its modules to a network under construction. */
export interface NetworkBuilder {
  /** The stream initial weights are drawn from. */
  readonly random: RandomStream;
  /** Per-sample output shape of a node. */
  shape(node: NodeRef): readonly number[];
  /**
   * Add a module reading `inputs`; `make` receives the input shapes and the module's name (the `name` asked for,
   * or `<kind>_<count>`) and builds it. Returns the new node.
   */
  add(kind: string, inputs: readonly NodeRef[], make: (ctx: ModuleBuildContext) => Module, name?: string): NodeRef;
}

export interface ModuleBuildContext {
  readonly inputShapes: readonly (readonly number[])[];
  readonly name: string;
  readonly random: RandomStream;
}

/**
 * A part of a network before it knows its input shape: `dense({ units: 256, activation: 'tanh' })`, `maxPool2d(2)`,
 * `residual({ body: [...] })`. It adds one or more modules; `config()` rebuilds it (`layerFromConfig`).
 */
export interface LayerSpec {
  readonly kind: string;
  build(builder: NetworkBuilder, input: NodeRef): NodeRef;
  config(): ModuleConfig;
}

/** One step of a layer's block: a module reached through its input `slot`. */
export interface BlockStep {
  readonly node: number;
  readonly module: Module;
  readonly slot: number;
}

/**
 * Layer l as rules see it: kernel module l (in topological order) and its block. The kernel's members are
 * available directly (`params`, `linear`, `backwardInput`, `paramGrads`…).
 */
export interface Layer {
  readonly index: number;
  readonly kind: string;
  readonly name: string;
  readonly kernel: KernelModule;
  /** Per-sample input shape of the kernel (`h_{l-1}`). */
  readonly inputShape: readonly number[];
  /** Per-sample kernel output shape (`a_l`). */
  readonly outputShape: readonly number[];
  /** Per-sample block output shape (`h_l`). */
  readonly blockOutputShape: readonly number[];
  /** The modules from the kernel's output to the block output. */
  readonly block: readonly BlockStep[];
  /**
   * The block's elementwise activation: its activation module when it has one, else `linear`. What a rule that needs
   * "the layer's nonlinearity" reads (target propagation's inverses).
   */
  readonly activation: Activation;
  readonly params: VariableMap;
  readonly kernelName: string;
  readonly fan: { fanIn: number; fanOut: number };
  linear(input: Tensor, params?: TensorMap): Tensor;
  backwardInput(delta: Tensor, kernel: Tensor): Tensor;
  paramGrads(input: Tensor, delta: Tensor): TensorMap;
  /**
   * `δ_l = ∂ℒ/∂a_l` from `∂ℒ/∂h_l` through the block's exact VJPs, with the gradients of the block's own
   * parameters (batch norm's γ, β) keyed by module name.
   */
  blockVjp(trace: ForwardTrace, grad: Tensor, options?: ModuleVjpOptions): { delta: Tensor; params: Record<string, TensorMap> };
  /** `h_l` from another pre-activation through the block, its randomness and statistics frozen as in `trace`. */
  blockReplay(trace: ForwardTrace, pre: Tensor): Tensor;
  config(): ModuleConfig;
}

// ---------------------------------------------------------------------------------------------
// Network and traces

/** What one layer saw and produced in a forward pass. */
export interface LayerTrace {
  /** `h_{l-1}`, the kernel's input */
  readonly input: Tensor;
  /** `a_l`, the kernel's output */
  readonly pre: Tensor;
  /** `h_l`, the block's output */
  readonly output: Tensor;
}

/** A full forward pass: every module's trace, and per layer the view rules read. */
export interface ForwardTrace {
  readonly input: Tensor;
  readonly nodes: readonly ModuleTrace[];
  readonly layers: readonly LayerTrace[];
  readonly output: Tensor;
}

/** A node of the network graph. */
export interface GraphNode {
  readonly id: number;
  readonly module: Module;
  readonly inputs: readonly NodeRef[];
}

/** A JSON description of a whole network (what checkpoints store and `networkFromConfig` rebuilds). */
export interface NetworkConfig {
  readonly inputShape: number[];
  readonly layers: ModuleConfig[];
}

/** A path of modules from a start node to an end node, each module entered through an input slot. */
export interface GraphPath {
  readonly start: NodeRef;
  readonly steps: readonly BlockStep[];
  readonly end: NodeRef;
}

/**
 * A path from one junction to the next that is not a layer's block: a residual block's identity shortcut, or the
 * modules in front of the first kernel (zero padding). Signals cross it by its modules' exact VJPs.
 */
export interface FreePath extends GraphPath {
  /** Whether a module on it has parameters (a signal must then reach it even when nothing below needs one). */
  readonly hasParams: boolean;
}

/** How the teaching pass walks a network: signals live at junctions (kernel inputs, block outputs, forks). */
export interface Topology {
  /** Per layer: the node its kernel reads, and its block (from the kernel node to the block output). */
  readonly layers: readonly { readonly input: NodeRef; readonly block: GraphPath }[];
  readonly freePaths: readonly FreePath[];
  /** The node of the network output. */
  readonly output: number;
}

/** A graph of modules: a nested sequence whose residual blocks join two branches by an add. */
export interface Network {
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** Every module, in topological order. */
  readonly nodes: readonly GraphNode[];
  /** Kernel modules with their blocks, in topological order. */
  readonly layers: readonly Layer[];
  /** The layer whose block ends at the network output (the output layer, `L−1` on a chain). */
  readonly outputLayer: number;
  readonly topology: Topology;
  /** Forward pass keeping every module's trace. Call inside `tf.tidy` or dispose the trace. */
  forward(input: Tensor, ctx?: Partial<ActivationContext>): ForwardTrace;
  /** Forward pass returning only the output (inference mode unless told otherwise). */
  predict(input: Tensor, ctx?: Partial<ActivationContext>): Tensor;
  /** Every trainable parameter, keyed `"<module name>/<param>"`. */
  namedParams(): VariableMap;
  /** Every non-trainable state tensor (batch norm's running statistics), keyed `"<module name>/<buffer>"`. */
  namedBuffers(): VariableMap;
  /** Fold a training-mode trace's batch statistics into the running state (the trainer calls it after each step). */
  commit(trace: ForwardTrace): void;
  /**
   * The first module that breaks a chain of blocks (a residual add, a fork), or null: rules whose teaching signals
   * are targets (LRA, the TP family) train chains only.
   */
  chainBreak(): Module | null;
  config(): NetworkConfig;
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------
// Losses

/**
 * A loss on the network's output `h_L` (for softmax cross-entropy the last layer is linear and `h_L` are logits).
 * Values are means over the batch; `gradOutput` therefore carries `1/N`.
 */
export interface Loss {
  readonly name: string;
  /** Mean over the batch of the per-sample loss. */
  value(output: Tensor, target: Tensor): Tensor;
  /** `∂ℒ/∂h_L` for the batch mean. */
  gradOutput(output: Tensor, target: Tensor): Tensor;
}

// ---------------------------------------------------------------------------------------------
// Optimizers

/** A stateful optimizer instance. Its slots are tensors saved in checkpoints. */
export interface Optimizer {
  readonly name: string;
  readonly config: JsonValue;
  /**
   * Apply `grads` to `vars` (same keys) in place and return the step actually applied to each variable
   * (`new − old`), which Kolen–Pollack needs. Keys absent from `grads` are left alone.
   */
  apply(vars: VariableMap, grads: TensorMap): TensorMap;
  /** The optimizer's slot tensors (moments etc.), keyed `"<slot>/<varKey>"`. */
  slots(): VariableMap;
  /** Restore slots and counters saved by `slots()`/`getMeta()`. */
  loadSlots(slots: TensorMap): void;
  getMeta(): JsonValue;
  setMeta(meta: JsonValue): void;
  /** The decoupled weight decay `λ` applied as `w ← (1−λ)·w` each step (0 if none). */
  readonly decoupledDecay: number;
  /** Create every slot for these variables now (zeros), so the slots' keys are fixed before the first step. */
  initSlots(vars: VariableMap): void;
  dispose(): void;
}

/** An optimizer as a value: `momentum({ lr: 0.05, momentum: 0.9 })`. */
export interface OptimizerSpec {
  readonly name: string;
  readonly config: JsonValue;
  create(): Optimizer;
}

// ---------------------------------------------------------------------------------------------
// Rules

/**
 * What a layer receives from above during the teaching pass, at its block output `h_l`. Error rules send
 * `gradOutput` (an estimate of `∂ℒ/∂h_l`); target rules send `target` (`ĥ_l`). A rule accepting either makes mixed
 * compositions ("DTP below, a gradient step at the top") work.
 */
export interface TeachingSignal {
  readonly gradOutput?: Tensor;
  readonly target?: Tensor;
}

/** Everything a rule may read during one training step. Tensors are owned by the caller's `tf.tidy`. */
export interface StepContext {
  readonly network: Network;
  readonly trace: ForwardTrace;
  /** The batch targets (one-hot labels, or regression targets). */
  readonly target: Tensor;
  readonly loss: Loss;
  /** `∂ℒ/∂h_L` at the network output. */
  readonly gradOutput: Tensor;
  /** `e = ∂ℒ/∂a_L` at the output layer's kernel output (the output through that layer's block VJP). */
  readonly outputError: Tensor;
  /** The gradients of the output layer's block parameters that come with `outputError` (usually none). */
  readonly outputBlockGrads: Readonly<Record<string, TensorMap>>;
  /** Global step (0-based, counts completed steps) and epoch. */
  readonly step: number;
  readonly epoch: number;
  readonly random: RandomSource;
}

/** One step's result: per layer, the updates for the forward optimizer and the exposed teaching signal. */
export interface StepResult {
  /** `grads[l]` has a subset of layer l's kernel param keys; the trainer's optimizer applies them (descent). */
  readonly grads: readonly TensorMap[];
  /** `signals[l]` is layer l's teaching signal `δ_l`, shaped like `a_l`, in backprop's convention. */
  readonly signals: readonly Tensor[];
  /** Gradients of the other modules' parameters (batch norm's γ, β), by module name: the signal that reached them. */
  readonly moduleGrads?: Readonly<Record<string, TensorMap>>;
  /** Rule-specific scalars for logs (e.g. an inverse loss). */
  readonly metrics?: Record<string, Tensor>;
}

/** After the forward optimizer applied its step: what rules with learned state (SA, KP…) may use. */
export interface AfterUpdateContext extends StepContext {
  readonly result: StepResult;
  /** `applied[l]`: the step applied to each of layer l's kernel params (`new − old`). */
  readonly applied: readonly TensorMap[];
  /** The forward optimizer's decoupled decay λ. */
  readonly decoupledDecay: number;
}

/** A rule bound to one network: it owns the rule's state (feedback or inverse weights, their optimizer slots). */
export interface BoundRule {
  readonly rule: Rule;
  /** Compute updates and teaching signals; may also update the rule's own state (e.g. inverse weights). */
  step(ctx: StepContext): StepResult;
  /** Optional: update rule state from the step the forward optimizer actually applied. */
  afterUpdate?(ctx: AfterUpdateContext): void;
  /** Every tensor of rule state, keyed by a stable name; saved and loaded with the network. */
  state(): VariableMap;
  /** The keys of `state()` the rule learns (feedback or inverse weights it trains); fixed tensors and slots are not. */
  learned(): readonly string[];
  /**
   * Layer l's feedback weights in its kernel's layout (what stands where backprop uses the kernel), or null. The
   * tensor may be computed for the call (sign symmetry, a transpose): read it inside `tf.tidy`.
   */
  feedbackWeights(layer: number): Tensor | null;
  /** Restore tensors saved from `state()` (same keys and shapes). */
  loadState(state: TensorMap): void;
  /** JSON-serializable state (counters, schedules, the step counts of the rule's own optimizers). */
  getMeta(): JsonValue;
  setMeta(meta: JsonValue): void;
  dispose(): void;
}

/** A learning rule as a value: `feedbackAlignment({ ... })`. */
export interface Rule {
  /** Short id used by the CLI, e.g. `'fa'`. */
  readonly id: string;
  /** Human name, e.g. `'feedback alignment'`. */
  readonly name: string;
  /** The options it was built with, for results and checkpoints. */
  readonly options: JsonValue;
  /** Throw a `RuleSupportError` naming the layer or module when the rule cannot train this network. */
  check(network: Network): void;
  /** Create the rule's state for this network (draws from `random`). */
  bind(network: Network, random: RandomSource): BoundRule;
  /** Present on rules written per layer: lets `perLayer` compose them. */
  readonly layerRule?: LayerRule;
}

/** Where a layer rule is asked about a layer. */
export interface LayerContext {
  readonly network: Network;
  readonly index: number;
  readonly layer: Layer;
}

/** What a layer rule's `init` receives: its own random stream, named `rule/<id>/layer<index>`. */
export interface LayerInitContext extends LayerContext {
  readonly random: RandomStream;
  /** Whether anything below will need this layer's signal (false at layer 0 unless modules with parameters precede it). */
  readonly needBelow: boolean;
}

/** An optimizer a layer rule steps its own tensors with (core creates it, saves its slots and step count). */
export interface LayerOptimizerInit {
  readonly spec: OptimizerSpec | OptimizerConfig;
  /** The keys of the layer's tensors it updates (its slots are created for them at once). */
  readonly over: readonly string[];
}

/** What a layer rule's `init` returns: everything it keeps. Core owns it, saves it and restores it. */
export interface LayerStateInit {
  /** Tensors (core turns them into variables it owns and disposes; the caller's tensors are disposed). */
  readonly tensors?: TensorMap;
  /** The keys of `tensors` the rule learns (update noise perturbs only these). Default: none. */
  readonly learned?: readonly string[];
  /** Optimizers over some of `tensors`, by name. */
  readonly optimizers?: Readonly<Record<string, LayerOptimizerInit>>;
  /** JSON state saved beside the tensors (counters, schedules). */
  readonly meta?: JsonValue;
}

/** A layer's rule state, as core keeps it. */
export interface LayerState {
  readonly tensors: VariableMap;
  readonly learned: readonly string[];
  readonly optimizers: Readonly<Record<string, Optimizer>>;
  /** The rule's JSON state; assign to change it (saved in checkpoints). */
  meta: JsonValue;
}

/** What a layer rule sees at one layer in one step. */
export interface LayerStepContext extends Omit<StepContext, 'random'> {
  readonly index: number;
  readonly layer: Layer;
  readonly layerTrace: LayerTrace;
  /** What came from above at the block output (for the output layer: `{ gradOutput: ∂ℒ/∂h_L, target }`). */
  readonly signal: TeachingSignal;
  readonly state: LayerState;
  /** Every layer's state in this binding (another rule's, in a `perLayer` composition). */
  readonly states: readonly LayerState[];
  /** Whether anything below needs this layer's signal (false at layer 0). */
  readonly needBelow: boolean;
  /** This layer's random stream (`rule/<id>/layer<index>`), saved with the run. */
  readonly random: RandomStream;
  /**
   * `δ_l` from a gradient at the block output, through the block's exact VJPs. The block's own parameters
   * (batch norm's γ, β) train on the signal passed here (the last call of the step counts).
   */
  blockVjp(grad: Tensor): Tensor;
}

export interface LayerStepResult {
  /** `δ_l` in backprop's convention. */
  readonly delta: Tensor;
  /** Updates of the kernel's params. */
  readonly grads: TensorMap;
  /** The signal at the kernel's input (omit at layer 0, or when `needBelow` is false). */
  readonly below?: TeachingSignal;
  readonly metrics?: Record<string, Tensor>;
}

export interface LayerAfterUpdateContext extends Omit<LayerStepContext, 'signal' | 'layerTrace' | 'blockVjp'> {
  readonly applied: TensorMap;
  readonly decoupledDecay: number;
}

/** A layer's state as a capability sees it. */
export interface LayerStateContext extends LayerContext {
  readonly state: LayerState;
  readonly states: readonly LayerState[];
}

/** A rule written per layer; `layerwise(rule)` turns it into a `Rule`, `perLayer` composes several. */
export interface LayerRule {
  readonly id: string;
  readonly name: string;
  readonly options: JsonValue;
  /** Whether the step reads `signal` (DFA's hidden layers do not: they read the output error). */
  readonly usesSignal: boolean;
  /**
   * `'any'`: any graph (error rules). `'chain'`: chains of blocks only: targets do not cross a residual add, so
   * binding to a residual network throws a `RuleSupportError` naming the module. Default `'any'`.
   */
  readonly graphs?: 'any' | 'chain';
  /** Throw `RuleSupportError` when the layer is not supported. */
  check?(ctx: LayerContext): void;
  /** Create this layer's rule state. */
  init?(ctx: LayerInitContext): LayerStateInit;
  step(ctx: LayerStepContext): LayerStepResult;
  afterUpdate?(ctx: LayerAfterUpdateContext): void;
  /**
   * Capability: the layer's feedback weights in its kernel's layout (for sign-symmetric rules, derived from the
   * kernel), which diagnostics compare with the kernel; null when it has none.
   */
  feedbackWeights?(ctx: LayerStateContext): Tensor | null;
}

// ---------------------------------------------------------------------------------------------
// Trainer hooks

/** What a step hook sees. Tensors are valid only during the hook. */
export interface StepHookContext {
  readonly epoch: number;
  /** Batch index within the epoch. */
  readonly batch: number;
  /** Global step count (1 after the first step). */
  readonly step: number;
  readonly loss: number;
  readonly input: Tensor;
  readonly target: Tensor;
  /** The forward trace the rule was given (weights before the update). */
  readonly trace: ForwardTrace;
  readonly result: StepResult;
  readonly network: Network;
  readonly boundRule: BoundRule;
  readonly lossFn: Loss;
  /**
   * Each layer's kernel parameters as the rule saw them (`network` already holds the updated values): what a
   * diagnostic comparing `result` with backprop on `trace` must use. Absent when the hook context was not built by
   * the trainer.
   */
  readonly paramsBefore?: readonly TensorMap[];
}

export interface EpochHookContext {
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly seconds: number;
  readonly network: Network;
  readonly boundRule: BoundRule;
}

export interface TrainerHooks {
  onStep?(ctx: StepHookContext): void;
  onEpochEnd?(ctx: EpochHookContext): void | Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// What a rule package offers an application (the CLI builds its own map of these)

/** An optimizer by name and options, JSON-serializable (`{ name: 'adam', lr: 1e-3 }`). */
export interface OptimizerConfig {
  readonly name: 'sgd' | 'momentum' | 'adam' | 'rmsprop';
  readonly lr: number;
  readonly momentum?: number;
  readonly nesterov?: boolean;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly rho?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
  readonly decoupledDecay?: number;
  readonly clipNorm?: number;
  readonly schedule?: { type: 'constant' } | { type: 'step'; every: number; gamma: number } | { type: 'cosine'; totalSteps: number; minFactor?: number };
}

/**
 * The training a rule was tuned with, found by measurement on real data: what an application uses for every field
 * a user leaves out, never a global guess. (The rule's own options and their tuned values live in its options schema.)
 */
export interface RuleDefaults {
  /** The forward weights' optimizer. */
  readonly optimizer: OptimizerConfig;
  /** Forward kernel init: `'glorot'`, `'zero'`, `'heNormal'`, `{ uniform: ω }`, `{ normal: σ }`, `{ name: 'glorot', config: { gain } }`. */
  readonly kernelInit: InitializerConfig;
  readonly batchSize: number;
  /** Hidden activation the defaults were tuned with. */
  readonly activation: string;
  /** One line: how these were chosen (data, budget, command). */
  readonly source: string;
}

/** A rule as a package offers it to applications (`bioprop rules` prints these): built by `defineRule`. */
export interface RuleEntry<O = unknown> {
  /** CLI id, e.g. `'fa'`. */
  readonly id: string;
  readonly name: string;
  /** One line. */
  readonly summary: string;
  /** Kernel kinds the rule supports (`'dense'`, `'conv2d'`, `'locallyConnected2d'`). */
  readonly supports: readonly string[];
  /** The networks it trains: `'any'` graph (residual ones included), or `'chain'`s of blocks only. */
  readonly graphs: 'any' | 'chain';
  /** Its options: validation (unknown keys are errors naming the key), tuned defaults, and a JSON Schema. */
  readonly options: Schema<O>;
  readonly defaults: RuleDefaults;
  /** Build the rule from options (validated by `options`; every key left out takes its default). */
  create(options?: unknown): Rule;
}
