export { runConformance, type ConformanceOptions } from './conformance.js';
export {
  checkShapes,
  checkNoLeak,
  checkDeterminism,
  checkResume,
  checkLossFalls,
  checkUnsupported,
  checkShapeMismatch,
  checkDivergence,
  probeAngles,
  type ShapesReport,
  type LeakReport,
  type DeterminismReport,
  type ResumeReport,
  type LossFallsReport,
  type DivergenceReport,
} from './checks.js';
export { ConformanceError, type ConformanceCheck } from './errors.js';
export { resolveSetup, type AngleProbeArgs, type ConformanceSetup, type ResolvedSetup } from './setup.js';
export { snapshot, diffSnapshots, type RunSnapshot } from './snapshot.js';
export { relativeError, expectClose, seededData, seededImages, type Numeric, type SeededTaskKind } from './helpers.js';
// the project's one angle function (90° for a zero vector), re-exported for property tests
export { angleDeg } from '@bioprop/core';
