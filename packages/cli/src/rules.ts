/**
 * The CLI's rules: the `rules` export of each rule package it ships with, then of each `--plugin` (core keeps no
 * registry). Adding a method to the CLI = its package in `BUNDLED_RULE_PACKAGES` (and in package.json).
 */
import { pathToFileURL } from 'node:url';
import type { RuleEntry } from '@bioprop/core';
import { RulePackageError, UsageError } from './errors.js';
import { LEARNED_FEEDBACK_PACKAGE, learnedFeedbackEntry } from './learned-feedback-entry.js';
import { resolvePlugin } from './resolve-package.js';

/** The rule packages the CLI depends on, in the order `bioprop rules` and `compare` list their rules. */
export const BUNDLED_RULE_PACKAGES: readonly string[] = [
  '@bioprop/backprop',
  '@bioprop/feedback-alignment',
  '@bioprop/direct-feedback-alignment',
  '@bioprop/learned-feedback',
  '@bioprop/lra',
  '@bioprop/target-propagation',
  '@bioprop/sign-symmetry',
];

/** A rule and the package (or `--plugin` argument) it came from. */
export interface InstalledRule {
  readonly entry: RuleEntry;
  readonly package: string;
}

/** The rules a command can use, by id, in display order. */
export interface RuleRegistry {
  readonly rules: ReadonlyMap<string, InstalledRule>;
  /** Bundled packages that are not installed (their rules are missing). */
  readonly missing: readonly string[];
  /** The entry of a rule id, or a usage error listing the installed ones. */
  entry(id: string): RuleEntry;
  ids(): string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isFunction = (v: unknown) => typeof v === 'function';

/** What is wrong with one element of a `rules` export (empty when it is a RuleEntry). */
function entryProblems(value: unknown): string[] {
  if (!isObject(value)) return ['not an object'];
  const v = value;
  const d = v.defaults;
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => ok || problems.push(what);
  check(typeof v.id === 'string' && /^[a-z][a-z0-9-]*$/.test(v.id), 'id (lowercase letters, digits and -)');
  check(typeof v.name === 'string', 'name (a string)');
  check(typeof v.summary === 'string', 'summary (a string)');
  check(Array.isArray(v.supports) && v.supports.every((s) => typeof s === 'string'), 'supports (kernel kinds)');
  check(v.graphs === 'any' || v.graphs === 'chain', "graphs ('any' or 'chain')");
  check(isObject(v.options) && isFunction(v.options.parse) && isFunction(v.options.toJSONSchema), 'options (a schema from @bioprop/core)');
  check(
    isObject(d) &&
      isObject(d.optimizer) &&
      typeof d.optimizer.name === 'string' &&
      typeof d.optimizer.lr === 'number' &&
      d.kernelInit !== undefined &&
      Number.isInteger(d.batchSize) &&
      (d.batchSize as number) > 0 &&
      typeof d.activation === 'string' &&
      typeof d.source === 'string',
    'defaults (optimizer, kernelInit, batchSize, activation, source)',
  );
  check(isFunction(v.create), 'create (a function)');
  return problems;
}

/** The rule entries of a package module's `rules` export; a RulePackageError naming the package when it breaks the contract. */
export function checkRulesExport(packageName: string, module: unknown): RuleEntry[] {
  const rules = isObject(module) ? module.rules : undefined;
  const contract = 'a rule package exports `rules`: an array of RuleEntry built with defineRule from @bioprop/core';
  if (!Array.isArray(rules)) throw new RulePackageError(`${packageName} has no \`rules\` export (${contract})`);
  if (rules.length === 0) throw new RulePackageError(`${packageName} exports an empty \`rules\` array (${contract})`);
  const ids = new Set<string>();
  rules.forEach((value, i) => {
    const problems = entryProblems(value);
    const id = isObject(value) && typeof value.id === 'string' ? ` (id "${value.id}")` : '';
    if (problems.length) throw new RulePackageError(`${packageName}: rules[${i}]${id} is not a RuleEntry: missing or wrong ${problems.join(', ')} (${contract})`);
    const entry = value as RuleEntry;
    if (ids.has(entry.id)) throw new RulePackageError(`${packageName} exports rule id "${entry.id}" twice`);
    ids.add(entry.id);
  });
  return rules as RuleEntry[];
}

/** A registry over packages' `rules` exports (checked), in the given order; an id two packages bring is an error naming both. */
export function ruleRegistry(packages: readonly { package: string; module: unknown }[], missing: readonly string[] = []): RuleRegistry {
  const rules = new Map<string, InstalledRule>();
  for (const p of packages) {
    for (const entry of checkRulesExport(p.package, p.module)) {
      const other = rules.get(entry.id);
      if (other) throw new RulePackageError(`rule id "${entry.id}" comes from both ${other.package} and ${p.package}`);
      rules.set(entry.id, { entry, package: p.package });
    }
  }
  return {
    rules,
    missing,
    ids: () => [...rules.keys()],
    entry(id) {
      const found = rules.get(id);
      if (found) return found.entry;
      const notInstalled = missing.length ? `; not installed: ${missing.join(', ')}` : '';
      throw new UsageError(`unknown rule "${id}" (installed rules: ${[...rules.keys()].join(', ')}${notInstalled}; another package's rules: --plugin <package>)`);
    },
  };
}

/** Imports a module by specifier or file URL. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

// bundled packages resolve from the CLI's own dependencies
const importFromCli: ModuleImporter = (specifier) => import(/* @vite-ignore */ specifier);

const notInstalled = (err: unknown, pkg: string) => {
  const e = err as { code?: string; message?: string } | null;
  return e?.code === 'ERR_MODULE_NOT_FOUND' && (e.message ?? '').includes(`'${pkg}'`);
};

/**
 * The bundled rule packages (a missing one is listed in `missing`), then each plugin, resolved from `cwd` (a package
 * installed there or above, or a path). Every `rules` export is checked.
 */
export async function loadRules(options: { plugins?: readonly string[]; cwd?: string; importer?: ModuleImporter } = {}): Promise<RuleRegistry> {
  const importer = options.importer ?? importFromCli;
  const cwd = options.cwd ?? process.cwd();
  const packages: { package: string; module: unknown }[] = [];
  const missing: string[] = [];
  for (const pkg of BUNDLED_RULE_PACKAGES) {
    try {
      packages.push({ package: pkg, module: withCliEntries(pkg, await importer(pkg)) });
    } catch (err) {
      if (!notInstalled(err, pkg)) throw err;
      missing.push(pkg);
    }
  }
  for (const spec of new Set(options.plugins ?? [])) {
    const file = resolvePlugin(spec, cwd);
    let module: unknown;
    try {
      module = await importer(pathToFileURL(file).href);
    } catch (err) {
      throw new RulePackageError(`--plugin ${spec}: cannot load ${file}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    packages.push({ package: spec, module });
  }
  return ruleRegistry(packages, missing);
}

/** A bundled package's rules, plus the entries the CLI adds for its generic rules (`lf` beside learned feedback's named rules). */
function withCliEntries(pkg: string, module: unknown): unknown {
  if (pkg !== LEARNED_FEEDBACK_PACKAGE || !isObject(module) || !Array.isArray(module.rules)) return module;
  const lf = learnedFeedbackEntry(module);
  return lf ? { ...module, rules: [...module.rules, lf] } : module;
}

/** Whether a rule runs with no options given (`lf` needs its terms). */
function runsWithDefaults(entry: RuleEntry): boolean {
  try {
    entry.options.parse({}, entry.id);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse `--rules bp,fa,…` (or `all`, the default: every installed rule that runs without options, so not `lf`): every
 * id must be installed.
 */
export function parseRuleList(text: string | undefined, registry: RuleRegistry): string[] {
  if (text === undefined || text === 'all') return registry.ids().filter((id) => runsWithDefaults(registry.entry(id)));
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError('--rules needs at least one rule id, e.g. --rules bp,fa,dfa');
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new UsageError(`--rules lists "${id}" twice`);
    seen.add(id);
    registry.entry(id);
  }
  return ids;
}
