import { OptionError } from './errors.js';
import type { JsonValue } from './types.js';

/** A JSON Schema (draft 2020-12) document or fragment. */
export type JsonSchema = { [key: string]: JsonValue };

/**
 * One schema drives both runtime validation of options (unknown keys rejected, every message naming the key and what
 * is allowed) and the JSON Schema published for editors. Build them with `options`, `num`, `oneOf`…
 */
export interface Schema<T> {
  /** Validate `value` (found at `path`, e.g. `fa.feedbackInit`) and fill defaults; an `OptionError` names the path. */
  parse(value: unknown, path: string): T;
  toJSONSchema(): JsonSchema;
  /** What a value may be, in words (for error messages). */
  readonly expected: string;
  /** The value an absent option takes, when it has one. */
  readonly defaultValue?: T;
  readonly description?: string;
  /** Give the schema a default: an absent option takes it. */
  default(value: T): Schema<T>;
  /** The same schema with a description (shown by editors). */
  describe(text: string): Schema<T>;
  /** Accept `undefined` (and leave the option out). */
  optional(): Schema<T | undefined>;
  /** Accept `null` too. */
  nullable(): Schema<T | null>;
}

/** The type a schema produces. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
};

class BaseSchema<T> implements Schema<T> {
  constructor(
    private readonly check: (value: unknown, path: string) => T,
    private readonly json: () => JsonSchema,
    readonly expected: string,
    readonly defaultValue?: T,
    readonly description?: string,
    private readonly allowUndefined = false,
  ) {}

  parse(value: unknown, path: string): T {
    if (value === undefined) {
      if (this.defaultValue !== undefined) return structuredClone(this.defaultValue);
      if (this.allowUndefined) return undefined as T;
      throw new OptionError(`${path} is required (${this.expected})`);
    }
    return this.check(value, path);
  }

  toJSONSchema(): JsonSchema {
    const out = this.json();
    if (this.description) out.description = this.description;
    if (this.defaultValue !== undefined) out.default = this.defaultValue as JsonValue;
    return out;
  }

  default(value: T): Schema<T> {
    // the default itself must pass the schema
    this.check(value, 'default');
    return new BaseSchema(this.check, this.json, this.expected, value, this.description, this.allowUndefined);
  }

  describe(text: string): Schema<T> {
    return new BaseSchema(this.check, this.json, this.expected, this.defaultValue, text, this.allowUndefined);
  }

  optional(): Schema<T | undefined> {
    return new BaseSchema<T | undefined>(this.check, this.json, this.expected, this.defaultValue, this.description, true);
  }

  nullable(): Schema<T | null> {
    return new BaseSchema<T | null>(
      (v, p) => {
        if (v === null) return null;
        try {
          return this.check(v, p);
        } catch (e) {
          if (e instanceof OptionError && e.message.startsWith(`${p} must be ${this.expected}`)) {
            throw new OptionError(`${p} must be ${this.expected} or null, got ${show(v)}`);
          }
          throw e;
        }
      },
      () => ({ anyOf: [this.json(), { type: 'null' }] }),
      `${this.expected} or null`,
      this.defaultValue,
      this.description,
      this.allowUndefined,
    );
  }
}

/** A finite number (decimal in JSON), optionally an integer, within bounds. */
export function num(bounds: { min?: number; max?: number; exclusiveMin?: number; integer?: boolean } = {}): Schema<number> {
  const parts: string[] = [bounds.integer ? 'an integer' : 'a number'];
  if (bounds.min !== undefined) parts.push(`≥ ${bounds.min}`);
  if (bounds.exclusiveMin !== undefined) parts.push(`> ${bounds.exclusiveMin}`);
  if (bounds.max !== undefined) parts.push(`≤ ${bounds.max}`);
  const expected = parts.join(' ');
  return new BaseSchema(
    (v, path) => {
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (!bounds.integer || Number.isInteger(v)) &&
        (bounds.min === undefined || v >= bounds.min) &&
        (bounds.max === undefined || v <= bounds.max) &&
        (bounds.exclusiveMin === undefined || v > bounds.exclusiveMin);
      if (!ok) throw new OptionError(`${path} must be ${expected}, got ${show(v)}`);
      return v as number;
    },
    () => {
      const s: JsonSchema = { type: bounds.integer ? 'integer' : 'number' };
      if (bounds.min !== undefined) s.minimum = bounds.min;
      if (bounds.max !== undefined) s.maximum = bounds.max;
      if (bounds.exclusiveMin !== undefined) s.exclusiveMinimum = bounds.exclusiveMin;
      return s;
    },
    expected,
  );
}

export function bool(): Schema<boolean> {
  return new BaseSchema(
    (v, path) => {
      if (typeof v !== 'boolean') throw new OptionError(`${path} must be true or false, got ${show(v)}`);
      return v;
    },
    () => ({ type: 'boolean' }),
    'true or false',
  );
}

/** One of the given strings. */
export function oneOf<const V extends string>(...values: V[]): Schema<V> {
  const expected = `one of ${values.map((v) => `'${v}'`).join(', ')}`;
  return new BaseSchema(
    (v, path) => {
      if (typeof v !== 'string' || !values.includes(v as V)) throw new OptionError(`${path} must be ${expected}, got ${show(v)}`);
      return v as V;
    },
    () => ({ enum: [...values] }),
    expected,
  );
}

/** A non-empty string. */
export function str(): Schema<string> {
  return new BaseSchema(
    (v, path) => {
      if (typeof v !== 'string' || v === '') throw new OptionError(`${path} must be a non-empty string, got ${show(v)}`);
      return v;
    },
    () => ({ type: 'string', minLength: 1 }),
    'a non-empty string',
  );
}

export function list<T>(item: Schema<T>, bounds: { minItems?: number; maxItems?: number } = {}): Schema<T[]> {
  return new BaseSchema(
    (v, path) => {
      if (!Array.isArray(v)) throw new OptionError(`${path} must be an array of ${item.expected}, got ${show(v)}`);
      if (bounds.minItems !== undefined && v.length < bounds.minItems) throw new OptionError(`${path} needs at least ${bounds.minItems} item(s)`);
      if (bounds.maxItems !== undefined && v.length > bounds.maxItems) throw new OptionError(`${path} takes at most ${bounds.maxItems} item(s)`);
      return v.map((x, i) => item.parse(x, `${path}[${i}]`));
    },
    () => {
      const s: JsonSchema = { type: 'array', items: item.toJSONSchema() };
      if (bounds.minItems !== undefined) s.minItems = bounds.minItems;
      if (bounds.maxItems !== undefined) s.maxItems = bounds.maxItems;
      return s;
    },
    `an array of ${item.expected}`,
  );
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
/** The object a shape of schemas produces: keys whose schema accepts `undefined` are optional. */
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * An object with exactly these keys (unknown keys are errors listing the known ones; prototype names such as
 * `__proto__` are unknown keys too). Defaults fill absent keys.
 */
export function options<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return new BaseSchema(
    (v, path) => {
      if (!isPlainObject(v)) throw new OptionError(`${path} must be an object with keys ${keys.join(', ') || '(none)'}, got ${show(v)}`);
      for (const k of Object.keys(v)) {
        if (!Object.hasOwn(shape, k)) throw new OptionError(`${path}: unknown option "${k}" (known: ${keys.join(', ') || 'none'})`);
      }
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const parsed = shape[k].parse(v[k], path ? `${path}.${k}` : k);
        if (parsed !== undefined) out[k] = parsed;
      }
      return out as ObjectOf<S>;
    },
    () => {
      const properties: JsonSchema = {};
      const required: string[] = [];
      for (const k of keys) {
        properties[k] = shape[k].toJSONSchema();
        const s = shape[k] as Schema<unknown>;
        let acceptsUndefined = s.defaultValue !== undefined;
        if (!acceptsUndefined) {
          try {
            s.parse(undefined, k);
            acceptsUndefined = true;
          } catch {
            acceptsUndefined = false;
          }
        }
        if (!acceptsUndefined) required.push(k);
      }
      const s: JsonSchema = { type: 'object', properties, additionalProperties: false };
      if (required.length) s.required = required;
      return s;
    },
    `an object with keys ${keys.join(', ') || '(none)'}`,
  );
}

/** The first schema a value matches (each tried in order; the error lists them all). */
export function anyOf<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B>;
export function anyOf<A, B, C>(a: Schema<A>, b: Schema<B>, c: Schema<C>): Schema<A | B | C>;
export function anyOf<A, B, C, D>(a: Schema<A>, b: Schema<B>, c: Schema<C>, d: Schema<D>): Schema<A | B | C | D>;
export function anyOf<A, B, C, D, E>(a: Schema<A>, b: Schema<B>, c: Schema<C>, d: Schema<D>, e: Schema<E>): Schema<A | B | C | D | E>;
export function anyOf<A, B, C, D, E, F>(
  a: Schema<A>,
  b: Schema<B>,
  c: Schema<C>,
  d: Schema<D>,
  e: Schema<E>,
  f: Schema<F>,
): Schema<A | B | C | D | E | F>;
export function anyOf(...schemas: Schema<unknown>[]): Schema<unknown> {
  const expected = schemas.map((s) => s.expected).join(', or ');
  return new BaseSchema(
    (v, path) => {
      for (const s of schemas) {
        try {
          return s.parse(v, path);
        } catch (e) {
          if (!(e instanceof OptionError)) throw e;
        }
      }
      throw new OptionError(`${path} must be ${expected}; got ${show(v)}`);
    },
    () => ({ anyOf: schemas.map((s) => s.toJSONSchema()) }),
    expected,
  );
}

/** Exactly this value (`literal(false)`). */
export function literal<const V extends string | number | boolean>(value: V): Schema<V> {
  return new BaseSchema(
    (v, path) => {
      if (v !== value) throw new OptionError(`${path} must be ${JSON.stringify(value)}, got ${show(v)}`);
      return v as V;
    },
    () => ({ const: value }),
    JSON.stringify(value),
  );
}

/**
 * A schema whose values are checked by a function (for shapes the combinators do not express). `check` returns the
 * value, or `undefined` for the generic message; it may throw its own `OptionError` naming `path` and what is wrong.
 */
export function custom<T>(expected: string, check: (value: unknown, path: string) => T | undefined, json: JsonSchema): Schema<T> {
  return new BaseSchema(
    (v, path) => {
      const r = check(v, path);
      if (r === undefined) throw new OptionError(`${path} must be ${expected}, got ${show(v)}`);
      return r;
    },
    () => structuredClone(json),
    expected,
  );
}
