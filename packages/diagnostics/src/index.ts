export { kernelAt, pseudoBackpropSignal, signalAngles, weightAlignment, alignmentCondition } from './angles.js';
export type { SignalAngleOptions, SignalAngles, TopSignal, WeightAlignmentEntry, AlignmentCondition } from './angles.js';
// the project's one angle function lives in core
export { NO_DIRECTION_DEG, angleDeg, angleAndNorms } from '@bioprop/core';
export { pinv, pinvArray } from './pinv.js';
export type { PinvOptions } from './pinv.js';
export { alignmentRecorder, probeAlignment } from './recorder.js';
export type { AlignmentRecord, AlignmentRecorder, AlignmentRecorderOptions, ProbeArgs, ProbeBatch } from './recorder.js';
// the same measurements read with `await data()`, for backends that cannot read synchronously (WebGPU in Node)
export { signalAnglesAsync, weightAlignmentAsync, alignmentConditionAsync, probeAlignmentAsync, pinvAsync } from './async.js';
