import { readFileSync } from 'node:fs';
import {
  OptionError,
  ShapeError,
  dense,
  layerFromConfig,
  preset,
  presets,
  sequential,
  type ArchitecturePreset,
  type JsonValue,
  type LayerSpec,
  type Network,
  type PresetTraining,
  type RandomSource,
  type RuleDefaults,
} from '@bioprop/core';
import { UsageError } from './errors.js';

/**
 * What `--arch` names: layer widths (`784-256-256-10`, input first), a preset (`lenet5`), or a JSON layer list, inline
 * (`'[{"kind":"dense","units":100,"activation":"tanh"}, …]'`) or in a `.json` file.
 */
export type ArchSpec = { kind: 'widths'; widths: number[] } | { kind: 'preset'; name: string } | { kind: 'layers'; layers: JsonValue[]; label: string };

/** Parse `--arch`; errors are usage errors naming the problem. */
export function parseArch(text: string): ArchSpec {
  const t = text.trim();
  if (/^\d+(-\d+)+$/.test(t)) {
    const widths = t.split('-').map(Number);
    if (widths.some((w) => !Number.isSafeInteger(w) || w < 1)) throw new UsageError(`--arch widths must be positive integers; got "${text}"`);
    return { kind: 'widths', widths };
  }
  if (Object.hasOwn(presets, t)) return { kind: 'preset', name: t };
  if (t.startsWith('[') || t.endsWith('.json')) {
    let value: unknown;
    const label = t.startsWith('[') ? 'layer list' : t;
    try {
      value = JSON.parse(t.startsWith('[') ? t : readFileSync(t, 'utf8'));
    } catch (e) {
      throw new UsageError(`--arch ${label}: not readable JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(value)) throw new UsageError(`--arch ${label}: a layer list must be a JSON array of layer configs`);
    // validate the configs now (kinds and keys), before any data is loaded
    value.forEach((c, i) => {
      try {
        layerFromConfig(c as JsonValue, `layers[${i}]`);
      } catch (e) {
        throw new UsageError(`--arch ${label}: ${(e as Error).message}`);
      }
    });
    return { kind: 'layers', layers: value as JsonValue[], label };
  }
  throw new UsageError(
    `--arch must be widths joined by '-' (input first, e.g. 784-256-256-10), a preset (${Object.keys(presets).join(', ')}) or a JSON layer list; got "${text}"`,
  );
}

/** How an architecture prints in tables and results. */
export function archLabel(arch: ArchSpec): string {
  return arch.kind === 'widths' ? arch.widths.join('-') : arch.kind === 'preset' ? arch.name : arch.label;
}

/** The preset an arch names, or null. */
export function archPreset(arch: ArchSpec): ArchitecturePreset | null {
  return arch.kind === 'preset' ? preset(arch.name) : null;
}

/** A preset's training defaults, when it has them. */
export function presetTraining(arch: ArchSpec): PresetTraining | null {
  return archPreset(arch)?.training ?? null;
}

export type KernelInit = RuleDefaults['kernelInit'];

/** Parse `--init`: glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω or normal:σ. */
export function parseInit(text: string): KernelInit {
  if (text === 'glorot' || text === 'zero' || text === 'fanInUniform' || text === 'heNormal') return text;
  const m = /^(uniform|normal|glorot):([0-9]*\.?[0-9]+(?:e-?\d+)?)$/i.exec(text);
  if (m) {
    const v = Number(m[2]);
    const kind = m[1].toLowerCase();
    if (Number.isFinite(v) && v >= 0) return kind === 'uniform' ? { uniform: v } : kind === 'normal' ? { normal: v } : { name: 'glorot', config: { gain: v } };
  }
  throw new UsageError(`--init must be glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω or normal:σ; got "${text}"`);
}

export function formatInit(init: KernelInit): string {
  if (typeof init === 'string') return init;
  if ('uniform' in init) return `uniform:${init.uniform}`;
  if ('normal' in init) return `normal:${init.normal}`;
  const gain = (init.config as { gain?: number } | undefined)?.gain;
  return gain === undefined ? init.name : `${init.name}:${gain}`;
}

/** The data a network is built for: per-sample shape (flat or an image) and the number of outputs. */
export interface DataShape {
  sampleShape: readonly number[];
  outputs: number;
}

/** The input shape and layer specs of an architecture for this data (widths must match the data's). */
export function archLayers(
  arch: ArchSpec,
  data: DataShape,
  options: { activation: string; kernelInit: KernelInit | null },
): { inputShape: number[]; layers: LayerSpec[] } {
  const inputs = data.sampleShape.reduce((a, b) => a * b, 1);
  if (arch.kind === 'widths') {
    const w = arch.widths;
    if (w[0] !== inputs) throw new UsageError(`--arch ${w.join('-')} takes ${w[0]} inputs but the data's samples have ${inputs} features`);
    if (w[w.length - 1] !== data.outputs) {
      throw new UsageError(`--arch ${w.join('-')} has ${w[w.length - 1]} outputs but the data has ${data.outputs}`);
    }
    return {
      inputShape: [w[0]],
      layers: w.slice(1).map((units, i) =>
        dense({ units, activation: i === w.length - 2 ? 'linear' : options.activation, kernelInit: options.kernelInit ?? undefined }),
      ),
    };
  }
  if (arch.kind === 'preset') {
    try {
      return preset(arch.name).build({ inputShape: data.sampleShape, classes: data.outputs, kernelInit: options.kernelInit ?? undefined });
    } catch (e) {
      if (e instanceof ShapeError || e instanceof OptionError) throw new UsageError(`--arch ${arch.name}: ${e.message}`);
      throw e;
    }
  }
  return { inputShape: [...data.sampleShape], layers: arch.layers.map((c, i) => layerFromConfig(c, `layers[${i}]`)) };
}

/** Build the network (weights drawn from the run's `init` stream, so the seed fixes them); shape problems are usage errors. */
export function buildNetwork(
  arch: ArchSpec,
  data: DataShape,
  options: { activation: string; kernelInit: KernelInit | null; random: RandomSource },
): Network {
  const { inputShape, layers } = archLayers(arch, data, options);
  let network: Network;
  try {
    network = sequential({ inputShape, layers, random: options.random });
  } catch (e) {
    if (e instanceof ShapeError || e instanceof OptionError) throw new UsageError(`--arch ${archLabel(arch)}: ${e.message}`);
    throw e;
  }
  const out = network.outputShape.reduce((a, b) => a * b, 1);
  if (out !== data.outputs) {
    network.dispose();
    throw new UsageError(`--arch ${archLabel(arch)} has ${out} outputs but the data has ${data.outputs}`);
  }
  return network;
}
