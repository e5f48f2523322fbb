/**
 * `lf`: learned feedback with any terms (Kunin et al.'s five primitives, each with its coefficient). The package offers
 * it as `learnedFeedback({ terms })` without an entry, since it has no tuned training of its own; the CLI adds one so
 * that an experiment file can compose the primitives (`rule: { id: lf, options: { terms: [...] } }`). No terms is
 * feedback alignment: B stays at its initial draw.
 */
import { defineRule, list, num, options, type RuleEntry } from '@bioprop/core';
import type * as LearnedFeedback from '@bioprop/learned-feedback';

export const LEARNED_FEEDBACK_PACKAGE = '@bioprop/learned-feedback';

/** The `lf` entry built from the learned-feedback module the CLI loaded (null when the module lacks what it needs). */
export function learnedFeedbackEntry(module: unknown): RuleEntry | null {
  const m = module as Partial<typeof LearnedFeedback> | null;
  if (!m?.learnedFeedback || !m.termSchema || !m.feedbackOptimizerSchema || !m.feedbackInitSchema || !m.feedbackInputsSchema || !m.ruleDefaults) return null;
  const { learnedFeedback, termSchema, feedbackOptimizerSchema, feedbackInitSchema, feedbackInputsSchema, ruleDefaults } = m;
  return defineRule({
    id: 'lf',
    name: 'learned feedback',
    summary: "Feedback alignment whose B is trained on any weighted sum of Kunin et al.'s primitives (decay, amp, null, sparse, self); no terms: FA.",
    supports: ['dense', 'conv2d', 'locallyConnected2d'],
    graphs: 'any',
    options: options({
      terms: list(termSchema).describe('R(B) = Σ c_i R_i(B): [{ primitive: decay | amp | null | sparse | self, coefficient }, …]; [] leaves B at its init (FA)'),
      // the package's generic defaults: η_B · 2e-3 (the papers' decay) is 0.02 per step
      feedbackOptimizer: feedbackOptimizerSchema.default({ name: 'sgd', lr: 10 }).describe("B's own optimizer (never the forward one)"),
      feedbackInit: feedbackInitSchema.default('glorot').describe('how B starts'),
      feedbackInputs: feedbackInputsSchema.default('data').describe("'data', or mirror mode { noise: σ, batchSize? }"),
      feedbackSamples: num({ min: 1, integer: true }).nullable().default(null).describe("data mode: B's update reads the first n samples of each batch (null: all)"),
    }),
    defaults: {
      ...ruleDefaults.sa,
      source: "not tuned for lf: the named rules' training (momentum 0.9, lr 0.05, Glorot, tanh, batch 128), with which sa, aa and wm were tuned",
    },
    build: (o) => learnedFeedback({ ...o, id: 'lf', name: 'learned feedback' }),
  });
}
