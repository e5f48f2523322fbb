import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, OptionError, checkNumber } from './errors.js';
import type { JsonValue, Optimizer, OptimizerSpec, Tensor, TensorMap, Variable, VariableMap } from './types.js';

/** A learning-rate schedule that fits in a checkpoint. */
export type LrSchedule =
  | { type: 'constant' }
  | { type: 'step'; every: number; gamma: number }
  | { type: 'cosine'; totalSteps: number; minFactor?: number };

export interface CommonOptimizerOptions {
  lr: number;
  /** Coupled L2 weight decay added to the gradient (`g + λ·w`). */
  weightDecay?: number;
  /** Decoupled decay: `w ← (1 − λ)·w` each step, outside the adaptive update (AdamW style; KP relies on it). */
  decoupledDecay?: number;
  /** Clip the global norm of all gradients of one `apply` call to this value. */
  clipNorm?: number;
  schedule?: LrSchedule;
}

export interface MomentumOptions extends CommonOptimizerOptions {
  momentum?: number;
  nesterov?: boolean;
}
export interface AdamOptions extends CommonOptimizerOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}
export interface RmspropOptions extends CommonOptimizerOptions {
  rho?: number;
  epsilon?: number;
}

type Kind = 'sgd' | 'momentum' | 'adam' | 'rmsprop';
type AnyOptions = MomentumOptions & AdamOptions & RmspropOptions;

function validate(kind: Kind, o: AnyOptions): void {
  if (!o || typeof o !== 'object') throw new OptionError(`${kind}: options must be an object with lr`);
  checkNumber(`${kind} lr`, o.lr, { min: 0 });
  if (o.weightDecay !== undefined) checkNumber(`${kind} weightDecay`, o.weightDecay, { min: 0 });
  if (o.decoupledDecay !== undefined) checkNumber(`${kind} decoupledDecay`, o.decoupledDecay, { min: 0, max: 1 });
  if (o.clipNorm !== undefined) checkNumber(`${kind} clipNorm`, o.clipNorm, { min: 0 });
  if (o.momentum !== undefined) checkNumber(`${kind} momentum`, o.momentum, { min: 0, max: 1 });
  if (o.beta1 !== undefined) checkNumber(`${kind} beta1`, o.beta1, { min: 0, max: 1 });
  if (o.beta2 !== undefined) checkNumber(`${kind} beta2`, o.beta2, { min: 0, max: 1 });
  if (o.rho !== undefined) checkNumber(`${kind} rho`, o.rho, { min: 0, max: 1 });
  if (o.epsilon !== undefined) checkNumber(`${kind} epsilon`, o.epsilon, { min: 0 });
  const s = o.schedule;
  if (s && s.type === 'step') {
    checkNumber(`${kind} schedule.every`, s.every, { min: 1, integer: true });
    checkNumber(`${kind} schedule.gamma`, s.gamma, { min: 0 });
  } else if (s && s.type === 'cosine') {
    checkNumber(`${kind} schedule.totalSteps`, s.totalSteps, { min: 1, integer: true });
  } else if (s && s.type !== 'constant') {
    throw new OptionError(`${kind}: unknown schedule ${JSON.stringify(s)}`);
  }
}

/** The learning rate at a given step under a schedule. */
export function scheduledLr(lr: number, schedule: LrSchedule | undefined, step: number): number {
  if (!schedule || schedule.type === 'constant') return lr;
  if (schedule.type === 'step') return lr * Math.pow(schedule.gamma, Math.floor(step / schedule.every));
  const t = Math.min(1, step / schedule.totalSteps);
  const min = schedule.minFactor ?? 0;
  return lr * (min + (1 - min) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/**
 * The fused Adam kernel a backend may register (inputs `{ w, g, m, v }`, attrs `{ lr, beta1, beta2, epsilon, c1, c2,
 * decay, inPlace }`, outputs `[newW, newM, newV, step]`, all float32 and shaped like `w`; with `inPlace` the outputs
 * are assigned back to the variables w, m and v, so a backend may overwrite those and return them). `adam` calls it whenever the active
 * backend has it, in place of its ~13 elementwise ops per variable; it must compute exactly the tf-op formulas
 * (`m' = β1·m + (1−β1)·g`, `v' = β2·v + (1−β2)·g²`, `step = −(lr/c1)·m' / (√(v'/c2) + ε)`, `w' = (1−decay)·w + step`).
 */
export const ADAM_STEP_KERNEL = 'BiopropAdamStep';

/**
 * The fused SGD / momentum kernel a backend may register: inputs `{ w, g }` (SGD) or `{ w, g, v }` (momentum, v the
 * velocity), attrs `{ lr, momentum, nesterov, decay, inPlace }`, outputs `[newW, step]` or `[newW, newV, step]`,
 * float32 and shaped like `w` (with `inPlace`, as Adam's: the outputs are assigned back to w and v). `sgd` and `momentum` call it whenever the active backend has it, in place of their 2–6 elementwise
 * ops per variable; it must round exactly as the tf-op formulas do (`v' = μ·v + g`, `d = v'` or Nesterov's
 * `g + μ·v'`, or `d = g` without momentum; `step = −lr·d`, `w' = (1−decay)·w + step`, or `w + step` when decay is 0).
 */
export const SGD_STEP_KERNEL = 'BiopropSgdStep';

/** Whether the active backend registers a fused optimizer kernel (looked up once per `apply`). */
function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** `v.assign(t)`, unless a kernel updated v in place and returned its own data (then v already holds t's values). */
function assignNew(v: Variable, t: Tensor): void {
  if (t.dataId !== v.dataId) v.assign(t);
}

class TensorOptimizer implements Optimizer {
  private slotVars: VariableMap = {};
  private steps = 0;
  readonly decoupledDecay: number;

  constructor(
    readonly name: Kind,
    private readonly o: AnyOptions,
  ) {
    this.decoupledDecay = o.decoupledDecay ?? 0;
  }

  get config(): JsonValue {
    return JSON.parse(JSON.stringify(this.o)) as JsonValue;
  }

  private slot(name: string, key: string, like: Tensor): Variable {
    const id = `${name}/${key}`;
    let v = this.slotVars[id];
    if (!v) {
      v = tf.tidy(() => tf.variable(tf.zerosLike(like), false, undefined, 'float32'));
      this.slotVars[id] = v;
    }
    return v;
  }

  apply(vars: VariableMap, grads: TensorMap): TensorMap {
    const lr = scheduledLr(this.o.lr, this.o.schedule, this.steps);
    this.steps++;
    const keys = Object.keys(grads).filter((k) => grads[k] !== undefined);
    for (const k of keys) {
      if (!vars[k]) throw new OptionError(`optimizer: gradient for unknown variable "${k}"`);
    }
    const applied: TensorMap = {};
    const keep = tf.tidy(() => {
      let scale: Tensor | null = null;
      if (this.o.clipNorm !== undefined) {
        const sq = tf.addN(keys.map((k) => tf.sum(tf.square(grads[k]))));
        const norm = tf.sqrt(sq);
        scale = tf.minimum(1, tf.div(this.o.clipNorm, tf.maximum(norm, 1e-12)));
      }
      const out: Tensor[] = [];
      const fused =
        keys.length > 0 &&
        (this.name === 'adam' ? hasKernel(ADAM_STEP_KERNEL) : (this.name === 'sgd' || this.name === 'momentum') && hasKernel(SGD_STEP_KERNEL));
      for (const k of keys) {
        const w = vars[k];
        let g = grads[k];
        if (scale) g = tf.mul(g, scale);
        if (this.o.weightDecay) g = tf.add(g, tf.mul(this.o.weightDecay, w));
        if (fused) {
          const step = this.name === 'adam' ? this.fusedAdamStep(k, w, g, lr) : this.fusedSgdStep(k, w, g, lr);
          applied[k] = step;
          out.push(step);
          continue;
        }
        const step = this.stepFor(k, g, lr);
        const decayed = this.decoupledDecay ? tf.mul(1 - this.decoupledDecay, w) : w;
        w.assign(tf.add(decayed, step));
        applied[k] = step;
        out.push(step);
      }
      return out;
    });
    void keep;
    return applied;
  }

  /** Adam through the backend's fused kernel: updates w and its slots, returns the step (excluding decoupled decay). */
  private fusedAdamStep(key: string, w: Variable, g: Tensor, lr: number): Tensor {
    const o = this.o;
    const beta1 = o.beta1 ?? 0.9;
    const beta2 = o.beta2 ?? 0.999;
    const m = this.slot('m', key, g);
    const v = this.slot('v', key, g);
    const t = this.steps;
    const attrs = {
      lr,
      beta1,
      beta2,
      epsilon: o.epsilon ?? 1e-8,
      c1: 1 - Math.pow(beta1, t),
      c2: 1 - Math.pow(beta2, t),
      decay: this.decoupledDecay,
      // the outputs are assigned back to w, m and v: the backend may overwrite those where nothing else refers to them
      inPlace: true,
    };
    const [newW, newM, newV, step] = tf.engine().runKernel<Tensor[]>(ADAM_STEP_KERNEL, { w, g, m, v }, attrs);
    assignNew(m, newM);
    assignNew(v, newV);
    assignNew(w, newW);
    return step;
  }

  /** SGD or momentum through the backend's fused kernel: updates w (and the velocity), returns the step (excluding decoupled decay). */
  private fusedSgdStep(key: string, w: Variable, g: Tensor, lr: number): Tensor {
    // inPlace: the outputs are assigned back to w and v, so the backend may overwrite those where nothing else refers to them
    const attrs = { lr, momentum: this.o.momentum ?? 0.9, nesterov: this.o.nesterov === true, decay: this.decoupledDecay, inPlace: true };
    if (this.name === 'sgd') {
      const [newW, step] = tf.engine().runKernel<Tensor[]>(SGD_STEP_KERNEL, { w, g }, attrs);
      assignNew(w, newW);
      return step;
    }
    const v = this.slot('velocity', key, g);
    const [newW, newV, step] = tf.engine().runKernel<Tensor[]>(SGD_STEP_KERNEL, { w, g, v }, attrs);
    assignNew(v, newV);
    assignNew(w, newW);
    return step;
  }

  /** The step (excluding decoupled decay) for one variable; updates its slots. */
  private stepFor(key: string, g: Tensor, lr: number): Tensor {
    const o = this.o;
    switch (this.name) {
      case 'sgd':
        return tf.mul(-lr, g);
      case 'momentum': {
        const mu = o.momentum ?? 0.9;
        const v = this.slot('velocity', key, g);
        const nv = tf.add(tf.mul(mu, v), g);
        v.assign(nv);
        return tf.mul(-lr, o.nesterov ? tf.add(g, tf.mul(mu, nv)) : nv);
      }
      case 'adam': {
        const b1 = o.beta1 ?? 0.9;
        const b2 = o.beta2 ?? 0.999;
        const eps = o.epsilon ?? 1e-8;
        const m = this.slot('m', key, g);
        const v = this.slot('v', key, g);
        const nm = tf.add(tf.mul(b1, m), tf.mul(1 - b1, g));
        const nv = tf.add(tf.mul(b2, v), tf.mul(1 - b2, tf.square(g)));
        m.assign(nm);
        v.assign(nv);
        const t = this.steps;
        const c1 = 1 - Math.pow(b1, t);
        const c2 = 1 - Math.pow(b2, t);
        return tf.mul(-lr / c1, tf.div(nm, tf.add(tf.sqrt(tf.div(nv, c2)), eps)));
      }
      case 'rmsprop': {
        const rho = o.rho ?? 0.9;
        const eps = o.epsilon ?? 1e-7;
        const v = this.slot('ms', key, g);
        const nv = tf.add(tf.mul(rho, v), tf.mul(1 - rho, tf.square(g)));
        v.assign(nv);
        return tf.mul(-lr, tf.div(g, tf.add(tf.sqrt(nv), eps)));
      }
    }
  }

  slots(): VariableMap {
    return { ...this.slotVars };
  }

  /** The slot names this kind keeps per variable. */
  private slotNames(): string[] {
    return { sgd: [], momentum: ['velocity'], adam: ['m', 'v'], rmsprop: ['ms'] }[this.name];
  }

  initSlots(vars: VariableMap): void {
    for (const [key, v] of Object.entries(vars)) for (const name of this.slotNames()) this.slot(name, key, v);
  }

  loadSlots(slots: TensorMap): void {
    // slots created by `initSlots` (or earlier steps) are assigned in place; others are created from copies
    for (const [id, t] of Object.entries(slots)) {
      const v = Object.hasOwn(this.slotVars, id) ? this.slotVars[id] : undefined;
      if (v) {
        if (v.shape.join() !== t.shape.join()) throw new OptionError(`optimizer slot "${id}" has shape [${t.shape}], expected [${v.shape}]`);
        v.assign(t);
      } else {
        const copy = t.clone();
        this.slotVars[id] = tf.variable(copy, false, undefined, 'float32');
        copy.dispose();
      }
    }
    for (const id of Object.keys(this.slotVars)) {
      if (!(id in slots)) {
        this.slotVars[id].dispose();
        delete this.slotVars[id];
      }
    }
  }

  getMeta(): JsonValue {
    return { steps: this.steps };
  }

  setMeta(meta: JsonValue): void {
    const steps = (meta as { steps?: unknown } | null)?.steps;
    // the step count drives bias correction and schedules: a negative or fractional one would train silently wrong
    if (steps !== undefined && !(typeof steps === 'number' && Number.isSafeInteger(steps) && steps >= 0)) {
      throw new CheckpointError(`optimizer ${this.name}: saved steps must be an integer ≥ 0, got ${JSON.stringify(steps)}`);
    }
    this.steps = steps ?? 0;
  }

  dispose(): void {
    for (const v of Object.values(this.slotVars)) v.dispose();
    this.slotVars = {};
  }
}

function spec(kind: Kind, options: AnyOptions): OptimizerSpec {
  validate(kind, options);
  const config = JSON.parse(JSON.stringify(options)) as JsonValue;
  return { name: kind, config, create: () => new TensorOptimizer(kind, { ...options }) };
}

/** Plain SGD: `w ← w − lr·g`. */
export const sgd = (options: CommonOptimizerOptions): OptimizerSpec => spec('sgd', options);
/** Heavy-ball (PyTorch-style) momentum, optionally Nesterov. */
export const momentum = (options: MomentumOptions): OptimizerSpec => spec('momentum', options);
/** Adam with bias correction; `decoupledDecay` makes it AdamW. */
export const adam = (options: AdamOptions): OptimizerSpec => spec('adam', options);
/** RMSprop (`g / (√v + ε)`). */
export const rmsprop = (options: RmspropOptions): OptimizerSpec => spec('rmsprop', options);

export const optimizers = { sgd, momentum, adam, rmsprop } as const;

/** An optimizer spec from a name and options (`{ name: 'adam', lr: 1e-3 }`), or itself. */
export function resolveOptimizer(like: OptimizerSpec | ({ name: string } & AnyOptions)): OptimizerSpec {
  if ('create' in like) return like as OptimizerSpec;
  const { name, ...rest } = like;
  const make = Object.hasOwn(optimizers, name) ? (optimizers as Record<string, (o: AnyOptions) => OptimizerSpec>)[name] : undefined;
  if (!make) throw new OptionError(`unknown optimizer "${name}" (known: ${Object.keys(optimizers).join(', ')})`);
  return make(rest as AnyOptions);
}
