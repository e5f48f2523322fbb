/**
 * The CLI's map of learning rules: the ONE place where rule packages are wired in (core keeps no registry).
 * To add a package: add it to package.json, import it here, and spread `entriesOf(itsModule)` into ENTRIES.
 */
import * as backpropPackage from '@bioprop/backprop';
import type { RuleDefaults, RuleEntry } from '@bioprop/core';
import * as directFeedbackAlignmentPackage from '@bioprop/direct-feedback-alignment';
import * as feedbackAlignmentPackage from '@bioprop/feedback-alignment';
import * as learnedFeedbackPackage from '@bioprop/learned-feedback';
import * as lraPackage from '@bioprop/lra';
import * as targetPropagationPackage from '@bioprop/target-propagation';

/** Every rule id the CLI knows, in the order tables list them, with the package that provides it. */
export const RULE_PACKAGES: Readonly<Record<string, string>> = {
  bp: '@bioprop/backprop',
  fa: '@bioprop/feedback-alignment',
  dfa: '@bioprop/direct-feedback-alignment',
  sa: '@bioprop/learned-feedback',
  aa: '@bioprop/learned-feedback',
  wm: '@bioprop/learned-feedback',
  ia: '@bioprop/learned-feedback',
  kp: '@bioprop/learned-feedback',
  'lra-diff': '@bioprop/lra',
  'lra-fdbk': '@bioprop/lra',
  tp: '@bioprop/target-propagation',
  dtp: '@bioprop/target-propagation',
  sdtp: '@bioprop/target-propagation',
  'ao-sdtp': '@bioprop/target-propagation',
};
export const RULE_ORDER: readonly string[] = Object.keys(RULE_PACKAGES);

/** Whether a value has the shape of a `RuleEntry` (packages may export entries under any name). */
export function isRuleEntry(value: unknown): value is RuleEntry {
  const v = value as Partial<RuleEntry> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.id === 'string' &&
    typeof v.create === 'function' &&
    typeof v.defaults === 'object' &&
    v.defaults !== null &&
    typeof (v.defaults as RuleDefaults).optimizer === 'object'
  );
}

/** The rule entries a package module exports (single entries, arrays or records of them). */
export function entriesOf(module: object): RuleEntry[] {
  const found = new Map<string, RuleEntry>();
  const visit = (v: unknown) => {
    if (isRuleEntry(v)) found.set(v.id, v);
    else if (Array.isArray(v)) v.forEach((x) => isRuleEntry(x) && found.set(x.id, x));
  };
  for (const value of Object.values(module)) {
    visit(value);
    // a record of entries, e.g. `{ sa: saEntry, aa: aaEntry }`
    if (value && typeof value === 'object' && !Array.isArray(value) && !isRuleEntry(value)) {
      for (const inner of Object.values(value as Record<string, unknown>)) if (isRuleEntry(inner)) found.set(inner.id, inner);
    }
  }
  return [...found.values()];
}

const ENTRIES: RuleEntry[] = [
  ...entriesOf(backpropPackage),
  ...entriesOf(feedbackAlignmentPackage),
  ...entriesOf(directFeedbackAlignmentPackage),
  ...entriesOf(learnedFeedbackPackage),
  ...entriesOf(lraPackage),
  ...entriesOf(targetPropagationPackage),
];

function build(): Map<string, RuleEntry> {
  const byId = new Map<string, RuleEntry>();
  for (const e of ENTRIES) byId.set(e.id, e);
  // known ids first, in the papers' order; then any extra rule a package brings
  const ordered = new Map<string, RuleEntry>();
  for (const id of RULE_ORDER) if (byId.has(id)) ordered.set(id, byId.get(id)!);
  for (const [id, e] of byId) if (!ordered.has(id)) ordered.set(id, e);
  return ordered;
}

/** The installed rules by id, in display order. */
export const RULES: ReadonlyMap<string, RuleEntry> = build();

/** The rule ids known but not installed (their package is not a dependency yet). */
export function missingRuleIds(): string[] {
  return RULE_ORDER.filter((id) => !RULES.has(id));
}
