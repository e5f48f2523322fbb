import { dense, sequential, type Network, type RandomSource, type RuleDefaults } from '@bioprop/core';
import { UsageError } from './errors.js';

/** Parse `784-256-256-10` into layer widths (input first). */
export function parseArch(text: string): number[] {
  if (!/^\d+(-\d+)+$/.test(text)) {
    throw new UsageError(`--arch must be widths joined by '-', input first, e.g. 784-256-256-10; got "${text}"`);
  }
  const widths = text.split('-').map(Number);
  if (widths.some((w) => !Number.isSafeInteger(w) || w < 1)) throw new UsageError(`--arch widths must be positive integers; got "${text}"`);
  return widths;
}

export type KernelInit = RuleDefaults['kernelInit'];

/** Parse `--init`: glorot, zero, fanInUniform, uniform:ω or normal:σ. */
export function parseInit(text: string): KernelInit {
  if (text === 'glorot' || text === 'zero' || text === 'fanInUniform') return text;
  const m = /^(uniform|normal):([0-9]*\.?[0-9]+(?:e-?\d+)?)$/i.exec(text);
  if (m) {
    const v = Number(m[2]);
    if (Number.isFinite(v) && v >= 0) return m[1].toLowerCase() === 'uniform' ? { uniform: v } : { normal: v };
  }
  throw new UsageError(`--init must be glorot, zero, fanInUniform, uniform:ω or normal:σ; got "${text}"`);
}

export function formatInit(init: KernelInit): string {
  if (typeof init === 'string') return init;
  return 'uniform' in init ? `uniform:${init.uniform}` : `normal:${init.normal}`;
}

/**
 * The network for `--arch a-b-…-z --activation f`: dense hidden layers with `f`, a linear last layer, kernels from
 * the rule's default init; weights drawn from the run's `init` stream so the seed fixes them.
 */
export function buildNetwork(options: { arch: readonly number[]; activation: string; kernelInit: KernelInit; random: RandomSource }): Network {
  const { arch } = options;
  const layers = arch.slice(1).map((units, i) =>
    dense({ units, activation: i === arch.length - 2 ? 'linear' : options.activation, kernelInit: options.kernelInit }),
  );
  return sequential({ inputShape: [arch[0]], layers, random: options.random });
}
