export { lraDiff, lraFdbk, lraLoopRule, feedbackKey } from './rule.js';
export { lraLayerRule } from './layer-rule.js';
export { computeLra, type LraComputation } from './algorithm.js';
export {
  resolveLraOptions,
  type LraOptions,
  type LraFdbkOptions,
  type LraCorrection,
  type LraFdbkDerivative,
  type LraOutputLoss,
  type LraUpdateFrom,
  type LraDefaultOptions,
  type ResolvedLraOptions,
} from './options.js';
export { lraDiffDefaults, lraFdbkDefaults, type LraRuleDefaults } from './defaults.js';
export { lraDiffEntry, lraFdbkEntry, lraEntries } from './entries.js';
