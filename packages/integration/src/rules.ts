/**
 * Every rule of every rule package, from each package's `rules` export: the benches, the step-ratio harness and the
 * every-rule tests read this one map. Core keeps no registry; this private package is an application like the CLI,
 * so it builds its own.
 */
import { rules as backpropRules } from '@bioprop/backprop';
import type { RuleEntry } from '@bioprop/core';
import { rules as directFeedbackAlignmentRules } from '@bioprop/direct-feedback-alignment';
import { rules as feedbackAlignmentRules } from '@bioprop/feedback-alignment';
import { rules as learnedFeedbackRules } from '@bioprop/learned-feedback';
import { rules as lraRules } from '@bioprop/lra';
import { rules as signSymmetryRules } from '@bioprop/sign-symmetry';
import { rules as targetPropagationRules } from '@bioprop/target-propagation';

/** The rule packages, in the order tables list their rules. */
export const RULE_PACKAGES: Readonly<Record<string, readonly RuleEntry[]>> = {
  '@bioprop/backprop': backpropRules,
  '@bioprop/feedback-alignment': feedbackAlignmentRules,
  '@bioprop/direct-feedback-alignment': directFeedbackAlignmentRules,
  '@bioprop/learned-feedback': learnedFeedbackRules,
  '@bioprop/lra': lraRules,
  '@bioprop/target-propagation': targetPropagationRules,
  '@bioprop/sign-symmetry': signSymmetryRules,
};

/** The rule ids the packages above provide today (a test checks each is found, so a renamed export is noticed). */
export const KNOWN_RULE_IDS: readonly string[] = ['bp', 'fa', 'dfa', 'sa', 'aa', 'wm', 'ia', 'kp', 'lra-diff', 'lra-fdbk', 'tp', 'dtp', 'sdtp', 'ao-sdtp', 'usf', 'brsf', 'frsf'];

/** A rule entry with the package it comes from. */
export interface LocatedRule {
  entry: RuleEntry;
  package: string;
}

function collect(): Map<string, LocatedRule> {
  const byId = new Map<string, LocatedRule>();
  for (const [pkg, rules] of Object.entries(RULE_PACKAGES)) {
    for (const entry of rules) if (!byId.has(entry.id)) byId.set(entry.id, { entry, package: pkg });
  }
  return byId;
}

/** Every rule found, by id: backprop first, then package by package. */
export const RULES: ReadonlyMap<string, LocatedRule> = collect();

/** A rule's entry by id, or an error listing the ids there are. */
export function ruleEntry(id: string): RuleEntry {
  const found = RULES.get(id);
  if (!found) throw new Error(`unknown rule "${id}" (known: ${[...RULES.keys()].join(', ')})`);
  return found.entry;
}
