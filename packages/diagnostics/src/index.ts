export {
  NO_DIRECTION_DEG,
  angleDeg,
  angleAndNorms,
  kernelAt,
  pseudoBackpropSignal,
  signalAngles,
  feedbackFor,
  weightAlignment,
  alignmentCondition,
} from './angles.js';
export type { SignalAngleOptions, SignalAngles, FeedbackLocation, WeightAlignmentEntry, AlignmentCondition } from './angles.js';
export { pinv, pinvArray } from './pinv.js';
export type { PinvOptions } from './pinv.js';
export { alignmentRecorder, probeAlignment } from './recorder.js';
export type { AlignmentRecord, AlignmentRecorder, AlignmentRecorderOptions, ProbeArgs, ProbeBatch } from './recorder.js';
