import { OptionError, checkNumber, type JsonValue } from '@bioprop/core';

/** Where training stands when a coefficient is read: the trainer's global step (0-based) and epoch. */
export interface TrainingTime {
  readonly step: number;
  readonly epoch: number;
}

/** A coefficient schedule that fits in a checkpoint's JSON (`unit` defaults to `'step'`). */
export type CoefficientSchedule =
  | { type: 'constant'; value: number }
  /** Linear ramp from `from` to `to` over `duration` units, then held at `to` (warm-up or annealing). */
  | { type: 'linear'; from: number; to: number; duration: number; unit?: 'step' | 'epoch' }
  /** `value · gamma^floor(t / every)`. */
  | { type: 'exponential'; value: number; gamma: number; every?: number; unit?: 'step' | 'epoch' }
  /** `values[i]` while `t < boundaries[i]` (boundaries ascending), `values[last]` after the last boundary. */
  | { type: 'piecewise'; boundaries: number[]; values: number[]; unit?: 'step' | 'epoch' };

/** A constant, a JSON schedule, or any function of training time (not saved with checkpoints' options). */
export type CoefficientLike = number | CoefficientSchedule | ((time: TrainingTime) => number);

/** A validated coefficient: its value at a time, and how it prints in a rule's options. */
export interface Coefficient {
  at(time: TrainingTime): number;
  /** The number or schedule; `'<function>'` for a function, which JSON cannot hold. */
  readonly json: JsonValue;
}

const unitOf = (s: { unit?: 'step' | 'epoch' }, where: string): 'step' | 'epoch' => {
  const unit = s.unit ?? 'step';
  if (unit !== 'step' && unit !== 'epoch') throw new OptionError(`${where}: unit must be 'step' or 'epoch', got ${JSON.stringify(unit)}`);
  return unit;
};

/** Validate a coefficient at the options boundary (a clear error now, never NaN later). */
export function coefficient(like: CoefficientLike, where = 'coefficient'): Coefficient {
  if (typeof like === 'number') {
    const value = checkNumber(where, like);
    return { at: () => value, json: value };
  }
  if (typeof like === 'function') {
    return {
      at(time) {
        const v = like(time);
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new OptionError(`${where}: the coefficient function returned ${String(v)} at step ${time.step} (epoch ${time.epoch})`);
        }
        return v;
      },
      json: '<function>',
    };
  }
  if (!like || typeof like !== 'object') {
    throw new OptionError(`${where} must be a number, a schedule object or a function, got ${JSON.stringify(like)}`);
  }
  const json = JSON.parse(JSON.stringify(like)) as JsonValue;
  const s = like as CoefficientSchedule;
  switch (s.type) {
    case 'constant': {
      const value = checkNumber(`${where}.value`, s.value);
      return { at: () => value, json };
    }
    case 'linear': {
      const from = checkNumber(`${where}.from`, s.from);
      const to = checkNumber(`${where}.to`, s.to);
      const duration = checkNumber(`${where}.duration`, s.duration, { min: 0 });
      const unit = unitOf(s, where);
      return {
        at: (time) => {
          const t = unit === 'step' ? time.step : time.epoch;
          return duration === 0 || t >= duration ? to : from + ((to - from) * t) / duration;
        },
        json,
      };
    }
    case 'exponential': {
      const value = checkNumber(`${where}.value`, s.value);
      const gamma = checkNumber(`${where}.gamma`, s.gamma, { min: 0 });
      const every = checkNumber(`${where}.every`, s.every ?? 1, { min: 1, integer: true });
      const unit = unitOf(s, where);
      return { at: (time) => value * Math.pow(gamma, Math.floor((unit === 'step' ? time.step : time.epoch) / every)), json };
    }
    case 'piecewise': {
      if (!Array.isArray(s.boundaries) || !Array.isArray(s.values) || s.values.length !== s.boundaries.length + 1) {
        throw new OptionError(`${where}: a piecewise schedule needs boundaries[k] and values[k + 1]`);
      }
      s.boundaries.forEach((b, i) => {
        checkNumber(`${where}.boundaries[${i}]`, b);
        if (i > 0 && b <= s.boundaries[i - 1]) throw new OptionError(`${where}: boundaries must be strictly ascending`);
      });
      const values = s.values.map((v, i) => checkNumber(`${where}.values[${i}]`, v));
      const boundaries = [...s.boundaries];
      const unit = unitOf(s, where);
      return {
        at: (time) => {
          const t = unit === 'step' ? time.step : time.epoch;
          let i = 0;
          while (i < boundaries.length && t >= boundaries[i]) i++;
          return values[i];
        },
        json,
      };
    }
    default:
      throw new OptionError(
        `${where}: unknown schedule ${JSON.stringify(like)} (known types: constant, linear, exponential, piecewise)`,
      );
  }
}
