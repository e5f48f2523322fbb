import { readFileSync } from 'node:fs';
import { OptionError, optimizerConfigSchema, resolveOptimizer, type JsonValue, type Rule } from '@bioprop/core';
import { describe, expect, it } from 'vitest';
import {
  auxiliaryOutputSimplifiedDifferenceTargetPropagation,
  differenceTargetPropagation,
  rules,
  simplifiedDifferenceTargetPropagation,
  targetPropagation,
  targetPropagationDefaults,
} from './index.js';

type Props = Record<string, { default?: JsonValue; description?: string }>;

const KEYS = ['alpha', 'noise', 'inverseOptimizer', 'inverseInit', 'schedule', 'alternateStart'];
const common = { inverseOptimizer: { name: 'adam', lr: 3e-4 }, inverseInit: 'glorot', schedule: 'parallel', alternateStart: 'forward' };

/** Per rule: its factory, its option keys in order, and its tuned values (README "Options"; the schema is their one source). */
const cases: Record<string, { factory: (o?: never) => Rule; keys: string[]; tuned: Record<string, JsonValue> }> = {
  tp: { factory: targetPropagation, keys: KEYS, tuned: { alpha: 0.2, noise: 0.01, ...common } },
  dtp: { factory: differenceTargetPropagation, keys: KEYS, tuned: { alpha: 0.05, noise: 0.3, ...common } },
  sdtp: { factory: simplifiedDifferenceTargetPropagation, keys: KEYS, tuned: { alpha: 0.05, noise: 0.01, ...common } },
  'ao-sdtp': { factory: auxiliaryOutputSimplifiedDifferenceTargetPropagation, keys: [...KEYS, 'auxUnits'], tuned: { alpha: 0.05, noise: 0.1, ...common, auxUnits: 256 } },
};

const changed = { noise: 0.05, inverseOptimizer: { name: 'momentum', lr: 1e-2, momentum: 0.9 }, inverseInit: { normal: 0.001 }, schedule: 'alternating', alternateStart: 'inverse' };

describe('one options schema per rule', () => {
  it('every rule of the package has a case here', () => {
    expect(rules.map((e) => e.id)).toEqual(Object.keys(cases));
  });

  it.each(rules.map((e) => [e.id, e] as const))('%s: an unknown key is rejected, naming it and the known options (factory and entry alike)', (id, entry) => {
    const message = `${id}: unknown option "sefl" (known: ${cases[id].keys.join(', ')})`;
    expect(() => cases[id].factory({ sefl: 2 } as never)).toThrow(OptionError);
    expect(() => cases[id].factory({ sefl: 2 } as never)).toThrow(message);
    expect(() => entry.create({ sefl: 2 })).toThrow(message);
    expect(() => entry.options.parse({ sefl: 2 }, id)).toThrow(message);
  });

  it.each(rules.map((e) => [e.id, e] as const))('%s: the factory and the entry are one path (the same filled options, defaults or not)', (id, entry) => {
    const { factory, tuned } = cases[id];
    expect(factory().options).toEqual(entry.create().options);
    expect(entry.create().options).toEqual(tuned);
    expect(factory(changed as never).options).toEqual(entry.create(changed).options);
    expect(entry.create(changed).options).toEqual({ ...tuned, ...changed });
  });

  it.each(rules.map((e) => [e.id, e] as const))('%s: the JSON Schema carries the tuned defaults, a description for every option, and no extra keys', (id, entry) => {
    const json = entry.options.toJSONSchema();
    expect(json).toMatchObject({ type: 'object', additionalProperties: false });
    expect(json.required).toBeUndefined();
    const props = json.properties as Props;
    expect(Object.keys(props)).toEqual(cases[id].keys);
    for (const [key, value] of Object.entries(cases[id].tuned)) expect(props[key].default, `${id}.${key}`).toEqual(value);
    for (const key of cases[id].keys) expect(props[key].description, `${id}.${key}`).toMatch(/\w/);
  });

  it('inverse optimizers: JSON configs validated with the bounds core checks, every accepted one accepted by core', () => {
    expect(() => differenceTargetPropagation({ inverseOptimizer: { name: 'adam', lr: 1e-3, beta2: 2 } })).toThrow(/dtp\.inverseOptimizer\.beta2 must be a number ≥ 0 ≤ 1/);
    expect(() => differenceTargetPropagation({ inverseOptimizer: { name: 'adam', lr: 1e-3, lrr: 1 } as never })).toThrow(/dtp\.inverseOptimizer: unknown option "lrr"/);
    const full = { name: 'rmsprop', lr: 1e-3, rho: 0.9, epsilon: 1e-7, weightDecay: 1e-4, decoupledDecay: 1e-3, clipNorm: 1, schedule: { type: 'step', every: 10, gamma: 0.5 } };
    for (const config of [full, changed.inverseOptimizer, ...Object.values(targetPropagationDefaults).map((d) => d.optimizer)]) {
      const parsed = optimizerConfigSchema.parse(config, 'optimizer');
      expect(parsed).toEqual(config);
      expect(resolveOptimizer(parsed).name).toBe(parsed.name);
    }
  });
});

/** The option names of the README's table under `### <heading>`, in order. */
function readmeOptions(heading: string): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.split(`\n### ${heading}`)[1]?.split(/\n##+ /)[0] ?? '';
  return [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
}

describe('the README documents the schemas', () => {
  it.each(rules.map((e) => [e.id, e] as const))('%s: its Options table lists exactly the schema\'s options, in order', (id, entry) => {
    expect(readmeOptions(`\`${id}\``)).toEqual(Object.keys(entry.options.toJSONSchema().properties as Props));
  });
});
