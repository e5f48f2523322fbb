import { OptionError, custom, list, num, oneOf, options, type Infer, type JsonValue } from '@bioprop/core';

/** Where training stands when a coefficient is read: the trainer's global step (0-based) and epoch. */
export interface TrainingTime {
  readonly step: number;
  readonly epoch: number;
}

const unit = oneOf('step', 'epoch').optional().describe("what t counts: 'step' (default) or 'epoch'");

/** The JSON coefficient schedules, one schema each (their JSON Schemas are what editors see). */
export const scheduleSchemas = {
  constant: options({ type: oneOf('constant'), value: num() }).describe('a constant: value'),
  linear: options({ type: oneOf('linear'), from: num(), to: num(), duration: num({ min: 0 }), unit }).describe(
    'a linear ramp from `from` to `to` over `duration` units of t, then held at `to` (warm-up or annealing)',
  ),
  exponential: options({ type: oneOf('exponential'), value: num(), gamma: num({ min: 0 }), every: num({ min: 1, integer: true }).optional(), unit }).describe(
    'value · gamma^floor(t / every) (every defaults to 1)',
  ),
  piecewise: options({ type: oneOf('piecewise'), boundaries: list(num()), values: list(num(), { minItems: 1 }), unit }).describe(
    'values[i] while t < boundaries[i] (boundaries strictly ascending, one more value than boundaries), the last value after the last boundary',
  ),
} as const;

type ScheduleType = keyof typeof scheduleSchemas;
const SCHEDULE_TYPES = Object.keys(scheduleSchemas) as ScheduleType[];

/** A coefficient schedule that fits in a checkpoint's JSON (`unit` defaults to `'step'`). */
export type CoefficientSchedule = { [K in ScheduleType]: Infer<(typeof scheduleSchemas)[K]> }[ScheduleType];

/** A constant, a JSON schedule, or any function of training time (not saved with checkpoints' options). */
export type CoefficientLike = number | CoefficientSchedule | ((time: TrainingTime) => number);

/** A validated coefficient: its value at a time, and how it prints in a rule's options. */
export interface Coefficient {
  at(time: TrainingTime): number;
  /** The number or schedule; `'<function>'` for a function, which JSON cannot hold. */
  readonly json: JsonValue;
}

const finite = num();

/** The schedule's value at time t (checked: a piecewise schedule's boundaries ascend and it has one more value). */
function scheduleAt(s: CoefficientSchedule, where: string): (t: number) => number {
  switch (s.type) {
    case 'constant':
      return () => s.value;
    case 'linear':
      return (t) => (s.duration === 0 || t >= s.duration ? s.to : s.from + ((s.to - s.from) * t) / s.duration);
    case 'exponential': {
      const every = s.every ?? 1;
      return (t) => s.value * Math.pow(s.gamma, Math.floor(t / every));
    }
    case 'piecewise': {
      // the shape is the schema's; how the two lists relate is not
      if (s.values.length !== s.boundaries.length + 1) throw new OptionError(`${where}: a piecewise schedule needs boundaries[k] and values[k + 1]`);
      s.boundaries.forEach((b, i) => {
        if (i > 0 && b <= s.boundaries[i - 1]) throw new OptionError(`${where}: boundaries must be strictly ascending`);
      });
      const boundaries = [...s.boundaries];
      const values = [...s.values];
      return (t) => {
        let i = 0;
        while (i < boundaries.length && t >= boundaries[i]) i++;
        return values[i];
      };
    }
  }
}

/**
 * Validate a coefficient at the options boundary (a clear error now, never NaN later) and make it readable at any
 * training time. Schedules are checked by `scheduleSchemas`, so a message names the field (`amp coefficient.duration`).
 */
export function coefficient(like: CoefficientLike, where = 'coefficient'): Coefficient {
  if (typeof like === 'number') {
    const value = finite.parse(like, where);
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
  if (!like || typeof like !== 'object' || Array.isArray(like)) {
    throw new OptionError(`${where} must be a number, a schedule object or a function, got ${JSON.stringify(like)}`);
  }
  const type = (like as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(scheduleSchemas, type)) {
    throw new OptionError(`${where}: unknown schedule ${JSON.stringify(like)} (known types: ${SCHEDULE_TYPES.join(', ')})`);
  }
  const schedule = scheduleSchemas[type as ScheduleType].parse(like, where) as CoefficientSchedule;
  const valueAt = scheduleAt(schedule, where);
  const byEpoch = 'unit' in schedule && schedule.unit === 'epoch';
  return { at: (time) => valueAt(byEpoch ? time.epoch : time.step), json: JSON.parse(JSON.stringify(schedule)) as JsonValue };
}

/**
 * A coefficient option: a number, a JSON schedule, or (from JavaScript only) a function of `{ step, epoch }`. The
 * JSON Schema lists the number and the four schedule shapes.
 */
export const coefficientSchema = custom<CoefficientLike>(
  "a number, a schedule ({ type: 'constant', value } | { type: 'linear', from, to, duration, unit? } | " +
    "{ type: 'exponential', value, gamma, every?, unit? } | { type: 'piecewise', boundaries (strictly ascending), values (one more), unit? }) " +
    'or a function ({ step, epoch }) => number',
  (v) => {
    if (v === undefined || v === null) return undefined;
    try {
      coefficient(v as CoefficientLike);
      return v as CoefficientLike;
    } catch (e) {
      if (e instanceof OptionError) return undefined;
      throw e;
    }
  },
  { anyOf: [{ type: 'number' }, ...SCHEDULE_TYPES.map((t) => scheduleSchemas[t].toJSONSchema())] },
);
