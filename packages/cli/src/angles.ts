import { probeAlignmentAsync } from '@bioprop/diagnostics';
import type { Tensor, Trainer } from '@bioprop/core';
import type { AlignmentProbe } from './run.js';

/**
 * Per-layer angle (degrees) between the rule's teaching signals `δ_l` and backprop's on one batch, with the current
 * weights; with `alignment`, also B vs Wᵀ per layer, the angle to pseudobackprop and eᵀWBe. `probeAlignmentAsync` runs
 * the rule without training, restores its state and draws from a throwaway random source, so a run with probes is
 * bit-for-bit the run without. It reads with `await data()`, so it works on WebGPU too (the same numbers elsewhere).
 */
export async function probeSignals(trainer: Trainer, x: Tensor, y: Tensor, alignment: boolean): Promise<{ deltaAngleDeg: number[]; alignment?: AlignmentProbe }> {
  const record = await probeAlignmentAsync({
    network: trainer.network,
    boundRule: trainer.boundRule,
    loss: trainer.loss,
    input: x,
    target: y,
    step: trainer.position.step,
    epoch: trainer.position.epoch,
    seed: trainer.random.seed,
    pbp: alignment,
    weights: alignment,
    condition: alignment,
  });
  if (!alignment) return { deltaAngleDeg: record.deltaAngleDeg };
  return {
    deltaAngleDeg: record.deltaAngleDeg,
    alignment: {
      weights: record.weights.map((w) => ({ layer: w.layer, angleDeg: w.angleDeg, normRatio: w.normRatio })),
      pbp: record.pbp,
      condition: record.condition,
    },
  };
}

/** The per-layer angles only. */
export async function probeAngles(trainer: Trainer, x: Tensor, y: Tensor): Promise<number[]> {
  return (await probeSignals(trainer, x, y, false)).deltaAngleDeg;
}
