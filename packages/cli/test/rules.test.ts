// The registry over packages' `rules` exports, with a stand-in importer (no rule package is loaded).
import { describe, expect, it } from 'vitest';
import { RulePackageError, UsageError } from '../src/errors.js';
import { BUNDLED_RULE_PACKAGES, checkRulesExport, loadRules, parseRuleList } from '../src/rules.js';

const entry = (id: string) => ({
  id,
  name: `rule ${id}`,
  summary: 'a stand-in',
  supports: ['dense'],
  graphs: 'any',
  options: { parse: (v: unknown) => v, toJSONSchema: () => ({ type: 'object' }) },
  defaults: { optimizer: { name: 'sgd', lr: 0.1 }, kernelInit: 'glorot', batchSize: 32, activation: 'tanh', source: 'none' },
  create: () => ({}),
});

/** Each bundled package brings one rule named after it; `absent` ones are not installed. */
function importer(absent: readonly string[] = []) {
  return async (specifier: string) => {
    if (absent.includes(specifier)) throw Object.assign(new Error(`Cannot find package '${specifier}' imported from /x/rules.js`), { code: 'ERR_MODULE_NOT_FOUND' });
    return { rules: [entry(specifier.replace('@bioprop/', ''))] };
  };
}

describe('loadRules', () => {
  it('lists the bundled packages in their order and names those not installed', async () => {
    const registry = await loadRules({ importer: importer(['@bioprop/lra']) });
    expect(registry.ids()).toEqual(BUNDLED_RULE_PACKAGES.filter((p) => p !== '@bioprop/lra').map((p) => p.replace('@bioprop/', '')));
    expect(registry.missing).toEqual(['@bioprop/lra']);
    expect(registry.rules.get('backprop')?.package).toBe('@bioprop/backprop');
    expect(() => registry.entry('lra')).toThrow(UsageError);
    expect(() => registry.entry('lra')).toThrow(/unknown rule "lra" \(installed rules: backprop, .*; not installed: @bioprop\/lra;/);
    expect(parseRuleList(undefined, registry)).toEqual(registry.ids());
    expect(parseRuleList('backprop, feedback-alignment', registry)).toEqual(['backprop', 'feedback-alignment']);
    expect(() => parseRuleList('backprop,backprop', registry)).toThrow(/lists "backprop" twice/);
  });

  it('a bundled package that fails for another reason is not taken for absent', async () => {
    const broken = async (specifier: string) => {
      if (specifier === '@bioprop/lra') throw Object.assign(new Error("Cannot find module '/x/lra/dist/index.js'"), { code: 'ERR_MODULE_NOT_FOUND' });
      return { rules: [entry(specifier.replace('@bioprop/', ''))] };
    };
    await expect(loadRules({ importer: broken })).rejects.toThrow(/Cannot find module/);
  });
});

describe('checkRulesExport', () => {
  it('accepts RuleEntry values and names the package and field otherwise', () => {
    expect(checkRulesExport('p', { rules: [entry('a'), entry('b')] }).map((e) => e.id)).toEqual(['a', 'b']);
    expect(() => checkRulesExport('p', { faEntry: entry('a') })).toThrow(RulePackageError);
    expect(() => checkRulesExport('p', { rules: [] })).toThrow(/p exports an empty `rules` array/);
    expect(() => checkRulesExport('p', { rules: [{ ...entry('a'), graphs: 'tree' }] })).toThrow(/p: rules\[0\] \(id "a"\) is not a RuleEntry: missing or wrong graphs/);
    const { create: _, ...noCreate } = entry('a');
    expect(() => checkRulesExport('p', { rules: [entry('b'), noCreate] })).toThrow(/rules\[1\] \(id "a"\).*create \(a function\)/);
    expect(() => checkRulesExport('p', { rules: [{ ...entry('a'), id: 'Not An Id' }] })).toThrow(/missing or wrong id/);
    expect(() => checkRulesExport('p', { rules: [entry('a'), entry('a')] })).toThrow(/p exports rule id "a" twice/);
  });
});
