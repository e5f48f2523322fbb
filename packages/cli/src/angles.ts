import { probeAlignment } from '@bioprop/diagnostics';
import type { Tensor, Trainer } from '@bioprop/core';

/**
 * Per-layer angle (degrees) between the rule's teaching signals `δ_l` and backprop's on one batch, with the current
 * weights. `probeAlignment` runs the rule without training and restores its state, and draws from a throwaway
 * random source, so a run with angles is bit-for-bit the run without.
 */
export function probeAngles(trainer: Trainer, x: Tensor, y: Tensor): number[] {
  const record = probeAlignment({
    network: trainer.network,
    boundRule: trainer.boundRule,
    loss: trainer.loss,
    input: x,
    target: y,
    step: trainer.position.step,
    epoch: trainer.position.epoch,
    seed: trainer.random.seed,
    pbp: false,
    weights: false,
    condition: false,
  });
  return record.deltaAngleDeg;
}
