/**
 * The contracts of bioprop, in one module. Every plugin annotates its exports with these types.
 *
 * Conventions (see the package README):
 * - batches are row-major: an activation is `[N, ...sampleShape]` (NHWC for images);
 * - a dense kernel is stored `[n_in, n_out]`, i.e. the papers' `Wᵀ`; `a = h·kernel + bias`;
 * - feedback weights `B` are stored in the layout of the kernel they stand in for, so `B = kernel` is backprop;
 * - losses are means over the batch, so the output error `e = ∂ℒ/∂a_L` carries `1/N`;
 * - a teaching signal `δ_l` is in backprop's convention `∂ℒ/∂a_l` (pre-activation, pointing uphill).
 */
import type { Tensor, Variable } from '@tensorflow/tfjs-core';

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

/** What an activation may need at run time. */
export interface ActivationContext {
  /** Training or inference (stochastic units stay stochastic at test time unless they say otherwise). */
  readonly training: boolean;
  /** For stochastic units: the run's random stream. */
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
// Layers

/** A serializable description of a built layer, enough to rebuild it (weights travel separately). */
export interface LayerConfig {
  readonly kind: string;
  readonly name: string;
  readonly inputShape: number[];
  readonly activation: string | { name: string; config?: JsonValue };
  readonly [key: string]: JsonValue | undefined;
}

/**
 * A parametrised linear map followed by an activation: `a = L(x; θ)`, `h = f(a)`.
 * Dense, 2-D convolution and locally connected layers all fit: every rule works through
 * `linear`, `backwardInput` and `paramGrads`, never through autodiff.
 */
export interface Layer {
  readonly kind: string;
  readonly name: string;
  /** Per-sample input shape (no batch dimension). */
  readonly inputShape: readonly number[];
  /** Per-sample output shape (no batch dimension). */
  readonly outputShape: readonly number[];
  readonly activation: Activation;
  /** Trainable parameters, e.g. `{ kernel, bias }`. */
  readonly params: VariableMap;
  /** The parameter that feedback weights stand in for (`'kernel'`). */
  readonly kernelName: string;
  /** Fan-in and fan-out of one output unit, for initializers and feedback scales. */
  readonly fan: { fanIn: number; fanOut: number };
  /** The linear map; `params` overrides the layer's own (e.g. tied or mirrored weights). */
  linear(input: Tensor, params?: TensorMap): Tensor;
  /**
   * Vector–Jacobian product of the linear map with respect to its input, with `kernel` standing in for the
   * layer's kernel: `backwardInput(δ, kernel)` is backprop, `backwardInput(δ, B)` is feedback alignment.
   * Returns a tensor of the input's shape `[N, ...inputShape]`.
   */
  backwardInput(delta: Tensor, kernel: Tensor): Tensor;
  /** Gradients of `Σ δ ⊙ a` with respect to every parameter, given the layer input and `δ = ∂ℒ/∂a`. */
  paramGrads(input: Tensor, delta: Tensor): TensorMap;
  config(): LayerConfig;
}

/** A layer before it knows its input shape: `dense({ units: 256, activation: 'tanh' })`. */
export interface LayerSpec {
  readonly kind: string;
  build(inputShape: readonly number[], ctx: LayerBuildContext): Layer;
}

export interface LayerBuildContext {
  /** Index of the layer in the network (0-based). */
  readonly index: number;
  /** The random stream initializers draw from. */
  readonly random: RandomStream;
  /** A default name for the layer, e.g. `dense_1`. */
  readonly defaultName: string;
}

/** Rebuilds a layer from its config; core knows its own kinds, callers may pass more. */
export type LayerFactory = (config: LayerConfig, ctx: { random: RandomStream }) => Layer;

// ---------------------------------------------------------------------------------------------
// Network and traces

/** What one layer saw and produced in a forward pass. */
export interface LayerTrace {
  /** `h_{l-1}` */
  readonly input: Tensor;
  /** `a_l` */
  readonly pre: Tensor;
  /** `h_l = f(a_l)` */
  readonly output: Tensor;
}

/** A full forward pass. `layers[l]` is layer l (0-based); `output` is the last layer's output. */
export interface ForwardTrace {
  readonly input: Tensor;
  readonly layers: readonly LayerTrace[];
  readonly output: Tensor;
}

/** A sequential network of layers. */
export interface Network {
  readonly layers: readonly Layer[];
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  /** Forward pass keeping every layer's trace. Call inside `tf.tidy` or dispose the trace. */
  forward(input: Tensor, ctx?: Partial<ActivationContext>): ForwardTrace;
  /** Forward pass returning only the output. */
  predict(input: Tensor, ctx?: Partial<ActivationContext>): Tensor;
  /** Every trainable parameter, keyed `"<layerIndex>/<paramName>"`. */
  namedParams(): VariableMap;
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
 * What a layer receives from the layers above during the teaching pass. Error rules send `gradOutput`
 * (an estimate of `∂ℒ/∂h_l`, before `f'`); target rules send `target` (`ĥ_l`). A rule accepting either makes
 * mixed compositions ("DTP below, a gradient step at the top") work.
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
  /** `∂ℒ/∂h_L`. */
  readonly gradOutput: Tensor;
  /** `e = ∂ℒ/∂a_L = ∂ℒ/∂h_L ⊙ f_L'(a_L)`. */
  readonly outputError: Tensor;
  /** Global step (0-based, counts completed steps) and epoch. */
  readonly step: number;
  readonly epoch: number;
  readonly random: RandomSource;
}

/** One step's result: per layer, the updates for the forward optimizer and the exposed teaching signal. */
export interface StepResult {
  /** `grads[l]` has a subset of layer l's param keys; the trainer's optimizer applies them (descent). */
  readonly grads: readonly TensorMap[];
  /** `signals[l]` is layer l's teaching signal `δ_l`, shaped like `a_l`, in backprop's convention. */
  readonly signals: readonly Tensor[];
  /** Rule-specific scalars for logs (e.g. an inverse loss). */
  readonly metrics?: Record<string, Tensor>;
}

/** After the forward optimizer applied its step: what rules with learned state (SA, KP…) may use. */
export interface AfterUpdateContext extends StepContext {
  readonly result: StepResult;
  /** `applied[l]`: the step applied to each of layer l's params (`new − old`). */
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
  /** Restore tensors saved from `state()` (same keys and shapes). */
  loadState(state: TensorMap): void;
  /** JSON-serializable state (counters, schedules). */
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
  /** Throw a `RuleSupportError` naming the layer when the rule cannot train this network. */
  check(network: Network): void;
  /** Create the rule's state for this network (draws from `random`). */
  bind(network: Network, random: RandomSource): BoundRule;
  /** Present on rules built per layer: lets `perLayer` compose them. */
  readonly layerwise?: LayerwiseRuleSpec;
}

/** What a layer-wise rule sees at one layer. */
export interface LayerStepContext extends StepContext {
  readonly index: number;
  readonly layer: Layer;
  readonly layerTrace: LayerTrace;
  /** What the layer above sent (for the top layer: `{ gradOutput: ∂ℒ/∂h_L, target }`). */
  readonly signal: TeachingSignal;
  /** This layer's rule state, as created by `init`. */
  readonly state: VariableMap;
  /** Whether the layer below needs a signal (false at layer 0). */
  readonly needBelow: boolean;
}

export interface LayerStepResult {
  /** `δ_l` in backprop's convention. */
  readonly delta: Tensor;
  readonly grads: TensorMap;
  /** The signal for layer l−1 (omit at layer 0, or when `needBelow` is false). */
  readonly below?: TeachingSignal;
  readonly metrics?: Record<string, Tensor>;
}

/** A rule written per layer; `layerwise(spec)` turns it into a `Rule`, `perLayer` composes several. */
export interface LayerwiseRuleSpec {
  readonly id: string;
  readonly name: string;
  readonly options: JsonValue;
  /** Whether layer l's step reads `signal` (DFA's hidden layers do not: they read the output error). */
  readonly usesSignal: boolean;
  /** Throw `RuleSupportError` when the layer is not supported. */
  checkLayer?(layer: Layer, index: number, network: Network): void;
  /** Create this layer's rule state. */
  init?(layer: Layer, index: number, network: Network, random: RandomSource): VariableMap;
  stepLayer(ctx: LayerStepContext): LayerStepResult;
  /** JSON state of this layer's rule beside its tensors (e.g. its own optimizer's step counter), saved in checkpoints. */
  getLayerMeta?(state: VariableMap): JsonValue;
  setLayerMeta?(state: VariableMap, meta: JsonValue): void;
  afterUpdateLayer?(ctx: LayerStepContext & { applied: TensorMap; decoupledDecay: number }): void;
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
   * Each layer's parameters as the rule saw them (`network` already holds the updated values): what a diagnostic
   * comparing `result` with backprop on `trace` must use. Absent when the hook context was not built by the trainer.
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
 * A rule's tuned defaults, found by measurement on real data (each package's `scripts/sweep.ts`).
 * Every field left out by a user takes these values, never a global guess.
 */
export interface RuleDefaults {
  /** The forward weights' optimizer. */
  readonly optimizer: OptimizerConfig;
  /** Forward kernel init: `'glorot'`, `'zero'`, `{ uniform: ω }`, `{ normal: σ }`. */
  readonly kernelInit: 'glorot' | 'zero' | 'fanInUniform' | { uniform: number } | { normal: number };
  readonly batchSize: number;
  /** Hidden activation the defaults were tuned with. */
  readonly activation: string;
  /** Options passed to the rule factory. */
  readonly ruleOptions: JsonValue;
  /** One line: how these were chosen (sweep script, data, budget). */
  readonly source: string;
}

/** A rule as an application lists it: `bioprop rules` prints these. */
export interface RuleEntry {
  /** CLI id, e.g. `'fa'`. */
  readonly id: string;
  readonly name: string;
  /** One line. */
  readonly summary: string;
  /** Layer kinds the rule supports (`'dense'`, `'conv2d'`, `'locallyConnected2d'`). */
  readonly supports: readonly string[];
  readonly defaults: RuleDefaults;
  /** Build the rule; `options` are merged over `defaults.ruleOptions`. */
  create(options?: Record<string, unknown>): Rule;
}
