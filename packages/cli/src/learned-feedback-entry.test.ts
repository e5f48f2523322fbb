import { OptionError } from '@bioprop/core';
import { describe, expect, it } from 'vitest';
import { loadRules, parseRuleList } from './rules.js';

describe('lf: learned feedback with any terms', () => {
  it('is listed after the named rules, builds from JSON terms (none: FA), needs its terms, and is not in --rules all', async () => {
    const registry = await loadRules();
    const ids = registry.ids();
    expect(ids.indexOf('lf')).toBe(ids.indexOf('kp') + 1);
    expect(registry.rules.get('lf')!.package).toBe('@bioprop/learned-feedback');
    const lf = registry.entry('lf');
    const rule = lf.create({ terms: [{ primitive: 'self', coefficient: 2e-3 }, { primitive: 'decay', coefficient: 2e-3 }] });
    expect(rule.id).toBe('lf');
    expect(lf.create({ terms: [] }).options).toMatchObject({ terms: [], feedbackOptimizer: { name: 'sgd', lr: 10 }, feedbackInit: 'glorot' });
    expect(() => lf.create({})).toThrow(OptionError);
    // the id is the entry's: an option cannot rename the rule
    expect(() => lf.create({ terms: [], id: 'other' })).toThrow(/unknown option "id"/);
    expect(lf.defaults.optimizer).toEqual({ name: 'momentum', lr: 0.05, momentum: 0.9 });
    const all = parseRuleList('all', registry);
    expect(all).not.toContain('lf');
    expect(all).toEqual(ids.filter((id) => id !== 'lf'));
    expect(parseRuleList('bp,lf', registry)).toEqual(['bp', 'lf']);
  });
});
