import { describe, expect, it } from 'vitest';
import { KNOWN_RULE_IDS, RULES, ruleEntry } from './rules.js';

describe('the rules found in the rule packages', () => {
  it('include every rule id known today, each once, backprop first', () => {
    const ids = [...RULES.keys()];
    expect(ids).toEqual(expect.arrayContaining([...KNOWN_RULE_IDS]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toBe('bp');
  });

  it('come with the package that provides them', () => {
    expect(RULES.get('fa')!.package).toBe('@bioprop/feedback-alignment');
    expect(RULES.get('ao-sdtp')!.package).toBe('@bioprop/target-propagation');
  });

  it('are exactly the packages\' `rules` lists, in their order', () => {
    expect([...RULES.keys()]).toEqual([...KNOWN_RULE_IDS]);
    expect(RULES.get('usf')!.package).toBe('@bioprop/sign-symmetry');
  });

  it('an unknown id is an error listing the known ones', () => {
    expect(() => ruleEntry('nope')).toThrow(/unknown rule "nope" \(known: bp, /);
  });
});
