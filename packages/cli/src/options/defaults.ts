import type { BackendPreference } from '../backend.js';
import type { DatasetName } from '../data.js';

/** The default budget: short enough that `bioprop compare` over every rule on the embedded digits takes minutes. */
export const DEFAULTS = {
  dataset: 'digits' as DatasetName,
  epochs: 3,
  seed: 0,
  backend: 'auto' as BackendPreference,
  /** Every run gets its own folder here (`runs/<name>-<UTC time>/`). */
  runsDir: 'runs',
};
