import { readFileSync } from 'node:fs';
import { OptionError, optimizerConfigSchema, adam, resolveOptimizer, type JsonValue, type Rule } from '@bioprop/core';
import { describe, expect, it } from 'vitest';
import {
  activationAlignment,
  amp,
  coefficientSchema,
  decay,
  informationAlignment,
  kolenPollack,
  learnedFeedback,
  learnedFeedbackOptions,
  ruleDefaults,
  rules,
  scheduleSchemas,
  symmetricAlignment,
  symmetricAlignmentOptions,
  weightMirror,
} from './index.js';

type Props = Record<string, { default?: JsonValue; description?: string }>;

/** Per rule: its factory, the option keys in order, and options that differ from the defaults. */
const cases: Record<string, { factory: (o?: never) => Rule; keys: string[]; changed: Record<string, JsonValue> }> = {
  sa: { factory: symmetricAlignment, keys: ['self', 'decay', 'feedbackOptimizer', 'feedbackInit'], changed: { self: 1e-3, feedbackInit: 'kernel' } },
  aa: {
    factory: activationAlignment,
    keys: ['amp', 'sparse', 'feedbackOptimizer', 'feedbackInit', 'feedbackSamples'],
    changed: { sparse: { type: 'linear', from: 0, to: 2e-3, duration: 100 }, feedbackSamples: null },
  },
  wm: {
    factory: weightMirror,
    keys: ['amp', 'decay', 'mirror', 'feedbackOptimizer', 'feedbackInit', 'feedbackSamples'],
    changed: { mirror: { batchSize: 16 }, feedbackOptimizer: { name: 'momentum', lr: 5, momentum: 0.9 } },
  },
  ia: {
    factory: informationAlignment,
    keys: ['amp', 'null', 'decay', 'feedbackOptimizer', 'feedbackInit', 'feedbackSamples'],
    changed: { null: { type: 'exponential', value: 2e-3, gamma: 0.5, every: 2, unit: 'epoch' }, feedbackInit: { normal: 0.1 } },
  },
  kp: { factory: kolenPollack, keys: ['feedbackInit'], changed: { feedbackInit: 'kernel' } },
};

/** The tuned values each schema carries (README "Options"); the schema is their one source. */
const tuned: Record<string, Record<string, JsonValue>> = {
  sa: { self: 2e-3, decay: 2e-3, feedbackOptimizer: { name: 'sgd', lr: 25 }, feedbackInit: 'glorot' },
  aa: { amp: 2e-3, sparse: 2e-3, feedbackOptimizer: { name: 'adam', lr: 1e-2 }, feedbackInit: 'glorot', feedbackSamples: 32 },
  wm: { amp: 1e-3, decay: 2e-3, mirror: { batchSize: 64 }, feedbackOptimizer: { name: 'sgd', lr: 10 }, feedbackInit: 'glorot', feedbackSamples: null },
  ia: { amp: 1e-2, null: 2e-3, decay: 2e-3, feedbackOptimizer: { name: 'adam', lr: 3e-3 }, feedbackInit: 'glorot', feedbackSamples: 32 },
  kp: { feedbackInit: 'glorot' },
};

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

  it.each(rules.map((e) => [e.id, e] as const))('%s: the factory and the entry are one path (the same options, defaults or not)', (id, entry) => {
    const { factory, changed } = cases[id];
    expect(factory().options).toEqual(entry.create().options);
    expect(factory(changed as never).options).toEqual(entry.create(changed).options);
    expect(factory(changed as never).options).toMatchObject(changed);
    expect(factory(changed as never).options).not.toEqual(factory().options);
  });

  it.each(rules.map((e) => [e.id, e] as const))('%s: the JSON Schema carries the tuned defaults, a description for every option, and no extra keys', (id, entry) => {
    const json = entry.options.toJSONSchema();
    expect(json).toMatchObject({ type: 'object', additionalProperties: false });
    expect(json.required).toBeUndefined();
    const props = json.properties as Props;
    expect(Object.keys(props)).toEqual(cases[id].keys);
    for (const [key, value] of Object.entries(tuned[id])) expect(props[key].default, `${id}.${key}`).toEqual(value);
    for (const key of cases[id].keys) expect(props[key].description, `${id}.${key}`).toMatch(/\w/);
    // the defaults are what an absent option takes
    expect(entry.options.parse({}, id)).toEqual(tuned[id]);
  });

  it('coefficients are numbers or schedules in the JSON Schema; functions are accepted from JavaScript', () => {
    const props = symmetricAlignmentOptions.toJSONSchema().properties as Props;
    expect((props.self as { anyOf: JsonValue[] }).anyOf).toEqual([{ type: 'number' }, ...Object.values(scheduleSchemas).map((s) => s.toJSONSchema())]);
    const fn = ({ step }: { step: number }) => (step < 10 ? 0 : 2e-3);
    expect(symmetricAlignment({ decay: fn }).options).toMatchObject({ decay: '<function>' });
    expect(coefficientSchema.parse(fn, 'c')).toBe(fn);
    expect(() => symmetricAlignment({ decay: { type: 'linear', from: 0, to: 1, duration: 5, unti: 'epoch' } as never })).toThrow(/sa\.decay must be a number, a schedule/);
    expect(() => activationAlignment({ amp: { type: 'piecewise', boundaries: [2, 1], values: [0, 1, 2] } })).toThrow(/aa\.amp must be .*strictly ascending/);
    expect(() => informationAlignment({ null: '2e-3' as never })).toThrow(/ia\.null must be a number/);
  });

  it('B optimizers: a spec from JavaScript or a JSON config, validated with the bounds core checks', () => {
    const spec = adam({ lr: 1e-2 });
    expect(symmetricAlignment({ feedbackOptimizer: spec }).options).toMatchObject({ feedbackOptimizer: { name: 'adam', lr: 1e-2 } });
    expect(() => symmetricAlignment({ feedbackOptimizer: { name: 'adam', lr: 1e-2, beta1: 1.5 } })).toThrow(/sa\.feedbackOptimizer must be an optimizer spec/);
    expect(() => weightMirror({ feedbackOptimizer: { name: 'sgd', lr: 1, lrr: 2 } as never })).toThrow(OptionError);
    // every config the local schema accepts, core accepts too
    const full = {
      name: 'momentum',
      lr: 0.1,
      momentum: 0.9,
      nesterov: true,
      epsilon: 1e-8,
      weightDecay: 1e-4,
      decoupledDecay: 1e-3,
      clipNorm: 5,
      schedule: { type: 'cosine', totalSteps: 100, minFactor: 0.1 },
    };
    for (const config of [full, ...Object.values(ruleDefaults).map((d) => d.optimizer), ...Object.values(tuned).flatMap((t) => (t.feedbackOptimizer ? [t.feedbackOptimizer] : []))]) {
      const parsed = optimizerConfigSchema.parse(config, 'optimizer');
      expect(parsed).toEqual(config);
      expect(resolveOptimizer(parsed).name).toBe(parsed.name);
    }
    expect(() => optimizerConfigSchema.parse({ name: 'sgd', lr: 0.1, schedule: { type: 'step', every: 0, gamma: 0.5 } }, 'o')).toThrow(OptionError);
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

  it('learnedFeedback: its Options table lists exactly the schema\'s options', () => {
    expect(readmeOptions('`learnedFeedback`')).toEqual(Object.keys(learnedFeedbackOptions.toJSONSchema().properties as Props));
  });
});

describe('the generic rule, learnedFeedback', () => {
  it('takes terms (values or JSON) and fills every other option from its schema', () => {
    const rule = learnedFeedback({ terms: [amp(1e-3), { primitive: 'decay', coefficient: 2e-3 }] });
    expect(rule.id).toBe('lf');
    expect(rule.options).toEqual({
      terms: [
        { primitive: 'amp', coefficient: 1e-3 },
        { primitive: 'decay', coefficient: 2e-3 },
      ],
      feedbackOptimizer: { name: 'sgd', lr: 10 },
      feedbackInit: 'glorot',
      feedbackInputs: 'data',
      feedbackSamples: null,
    });
    expect(learnedFeedback({ id: 'fa', terms: [decay(0)] }).id).toBe('fa');
    expect(() => learnedFeedback({ terms: [amp(1)], sefl: 2 } as never)).toThrow(/^lf: unknown option "sefl" \(known: terms, feedbackOptimizer, feedbackInit, feedbackInputs, feedbackSamples, id, name\)/);
  });

  it('its JSON Schema requires terms, describes them and carries the defaults', () => {
    const json = learnedFeedbackOptions.toJSONSchema();
    expect(json.required).toEqual(['terms']);
    const props = json.properties as Props & { terms: { items: { properties: { primitive: JsonValue } } } };
    expect(props.terms.items.properties.primitive).toEqual({ enum: ['decay', 'amp', 'null', 'sparse', 'self'] });
    expect(props.feedbackOptimizer.default).toEqual({ name: 'sgd', lr: 10 });
    expect(props.feedbackInputs.default).toBe('data');
    expect(props.feedbackSamples.default).toBeNull();
    expect(props.id.default).toBe('lf');
  });
});
