import { describe, expect, it } from 'vitest';
import { OptionError } from './errors.js';
import { anyOf, bool, custom, list, num, oneOf, options, str, type Infer } from './options.js';

const init = anyOf(
  oneOf('glorot', 'fanInUniform'),
  options({ uniform: num({ min: 0 }) }),
  options({ normal: num({ min: 0 }) }),
);

const schema = options({
  feedbackInit: init.default('glorot'),
  sparsity: num({ min: 0, max: 1 }).default(0),
  k: num({ min: 1, integer: true }).default(1),
  c1: num({ exclusiveMin: 0 }).nullable().default(null),
  metrics: bool().default(false),
  name: str().optional(),
  layers: list(num({ integer: true, min: 0 }), { maxItems: 3 }).optional(),
});

describe('options schemas', () => {
  it('fill defaults and keep given values, typed', () => {
    const o: Infer<typeof schema> = schema.parse({ sparsity: 0.5, feedbackInit: { uniform: 0.5 } }, 'fa');
    expect(o).toEqual({ feedbackInit: { uniform: 0.5 }, sparsity: 0.5, k: 1, c1: null, metrics: false });
    expect(schema.parse({}, 'fa')).toEqual({ feedbackInit: 'glorot', sparsity: 0, k: 1, c1: null, metrics: false });
    expect(schema.parse({ c1: 2, layers: [0, 2] }, 'fa')).toMatchObject({ c1: 2, layers: [0, 2] });
  });

  it('reject unknown keys (prototype names included) and name the place and what is allowed', () => {
    expect(() => schema.parse({ sefl: 2 }, 'sa')).toThrow(OptionError);
    expect(() => schema.parse({ sefl: 2 }, 'sa')).toThrow(/sa: unknown option "sefl" \(known: feedbackInit, sparsity, k, c1, metrics, name, layers\)/);
    expect(() => schema.parse(JSON.parse('{"__proto__": {"k": 3}}'), 'sa')).toThrow(/unknown option "__proto__"/);
    expect(() => schema.parse({ k: 1.5 }, 'lra')).toThrow(/lra\.k must be an integer ≥ 1, got 1.5/);
    expect(() => schema.parse({ sparsity: '0.5' }, 'fa')).toThrow(/fa\.sparsity must be a number ≥ 0 ≤ 1, got "0.5"/);
    expect(() => schema.parse({ c1: 0 }, 'lra')).toThrow(/lra\.c1 must be a number > 0 or null/);
    expect(() => schema.parse({ feedbackInit: 'xavier' }, 'fa')).toThrow(/fa\.feedbackInit must be one of 'glorot', 'fanInUniform', or an object with keys uniform/);
    expect(() => schema.parse({ feedbackInit: { uniform: -1 } }, 'fa')).toThrow(OptionError);
    expect(() => schema.parse({ layers: [1, 2, 3, 4] }, 'x')).toThrow(/x\.layers takes at most 3/);
    expect(() => schema.parse({ layers: [1, -2] }, 'x')).toThrow(/x\.layers\[1\] must be an integer ≥ 0/);
    expect(() => schema.parse([], 'x')).toThrow(/x must be an object/);
    expect(() => num().parse(NaN, 'lr')).toThrow(/lr must be a number, got null/);
    expect(() => num().parse(Infinity, 'lr')).toThrow(OptionError);
  });

  it('a default must pass its own schema', () => {
    expect(() => num({ min: 0 }).default(-1)).toThrow(OptionError);
  });

  it('defaults are copies: a caller mutating one does not change the next', () => {
    const s = options({ layers: list(num()).default([1, 2]) });
    const a = s.parse({}, 'x');
    a.layers.push(3);
    expect(s.parse({}, 'x').layers).toEqual([1, 2]);
  });

  it('produce a JSON Schema with types, bounds, defaults, enums and no additional properties', () => {
    const described = options({ lr: num({ exclusiveMin: 0 }).describe('learning rate').default(0.1), kind: oneOf('a', 'b') });
    expect(described.toJSONSchema()).toEqual({
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: {
        lr: { type: 'number', exclusiveMinimum: 0, description: 'learning rate', default: 0.1 },
        kind: { enum: ['a', 'b'] },
      },
    });
    const json = schema.toJSONSchema();
    expect(json.required).toBeUndefined();
    expect((json.properties as Record<string, unknown>).c1).toEqual({ anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'null' }], default: null });
    expect((json.properties as Record<string, unknown>).layers).toEqual({ type: 'array', items: { type: 'integer', minimum: 0 }, maxItems: 3 });
  });

  it('custom checks speak the same language', () => {
    const even = custom<number>('an even integer', (v) => (typeof v === 'number' && v % 2 === 0 ? v : undefined), { type: 'integer', multipleOf: 2 });
    expect(even.parse(4, 'n')).toBe(4);
    expect(() => even.parse(3, 'n')).toThrow(/n must be an even integer, got 3/);
    expect(even.toJSONSchema()).toEqual({ type: 'integer', multipleOf: 2 });
  });
});
