// Messages between the page and the training worker.
import type { BackendChoice } from '@bioprop/core';
import type { Diagnostics, IdxFiles, PlaygroundConfig, WeightImage } from './experiment';

export type ToWorker =
  /** `resume`: the text and name of a checkpoint file saved by this page; the runs continue from its step. */
  | { type: 'start'; config: PlaygroundConfig; idxFiles?: IdxFiles; resume?: { name: string; text: string } }
  | { type: 'stop' }
  /** Save the last run's trainers (kept until the next start) as one checkpoint file. */
  | { type: 'checkpoints' };

export interface RuleInfo {
  id: string;
  name: string;
  summary: string;
  supports: readonly string[];
  graphs: 'any' | 'chain';
}

export type FromWorker =
  /** Sent once the worker has loaded: what the page offers. */
  | { type: 'catalog'; rules: RuleInfo[]; presets: { name: string; description: string }[]; defaults: PlaygroundConfig }
  | { type: 'backend'; choice: Pick<BackendChoice, 'name' | 'tfBackend' | 'reason' | 'adapter'> }
  | { type: 'data'; summary: string; classification: boolean; sampleShape: number[] }
  /** A run that could not be built (a rule that does not support the architecture) is reported and left out. */
  | { type: 'skipped'; rule: string; reason: string }
  /** `firstStep`: the step the runs start from (0, or a resumed checkpoint's). */
  | { type: 'runs'; rules: { id: string; name: string }[]; layers: string[]; firstStep: number }
  | { type: 'checkpoints'; text: string }
  | { type: 'losses'; step: number; losses: Record<string, number>; stepMs: number }
  | { type: 'eval'; step: number; results: Record<string, { loss: number; accuracy: number | null }> }
  | { type: 'diagnostics'; step: number; results: Record<string, Diagnostics | { error: string }> }
  | { type: 'weights'; step: number; rule: string; images: WeightImage[] }
  | { type: 'done'; step: number; stopped: boolean; seconds: number }
  | { type: 'error'; message: string };
