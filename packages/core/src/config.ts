import { activationFromConfig } from './activations.js';
import { OptionError } from './errors.js';
import type { InitializerLike } from './initializers.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { locallyConnected2d } from './layers/locally-connected.js';
import { activation } from './modules/activation.js';
import { batchNorm } from './modules/batch-norm.js';
import { dropout } from './modules/dropout.js';
import { avgPool2d, maxPool2d } from './modules/pooling.js';
import { residual } from './modules/residual.js';
import { flatten, globalAvgPool2d, zeroPad2d, type Padding2d } from './modules/shape.js';
import { sequential, type GraphNetwork } from './network.js';
import type { JsonValue, LayerSpec, ModuleConfig, NetworkConfig, RandomSource } from './types.js';

type Factory = (c: Record<string, unknown>, where: string) => LayerSpec;

const KERNEL_KEYS = ['activation', 'kernelInit', 'biasInit', 'useBias', 'name'];
const PATCH_KEYS = ['filters', 'kernelSize', 'strides', 'padding', ...KERNEL_KEYS];

const act = (c: Record<string, unknown>) =>
  c.activation === undefined ? undefined : activationFromConfig(c.activation as string | { name: string; config?: unknown });

/** Each kind: the keys its config may hold, and how to build its spec. */
const FACTORIES: Record<string, { keys: readonly string[]; make: Factory }> = {
  dense: {
    keys: ['units', ...KERNEL_KEYS],
    make: (c) => dense({ ...(c as object), units: c.units as number, activation: act(c), kernelInit: c.kernelInit as InitializerLike }),
  },
  conv2d: {
    keys: PATCH_KEYS,
    make: (c) => conv2d({ ...(c as object), activation: act(c) } as Parameters<typeof conv2d>[0]),
  },
  locallyConnected2d: {
    keys: PATCH_KEYS,
    make: (c) => locallyConnected2d({ ...(c as object), activation: act(c) } as Parameters<typeof locallyConnected2d>[0]),
  },
  activation: {
    keys: ['activation', 'name'],
    make: (c, where) => {
      if (c.activation === undefined) throw new OptionError(`${where}: an activation module needs "activation"`);
      return activation(act(c)!, { name: c.name as string | undefined });
    },
  },
  maxPool2d: { keys: ['poolSize', 'strides', 'padding', 'name'], make: (c) => maxPool2d(c as unknown as Parameters<typeof maxPool2d>[0]) },
  avgPool2d: { keys: ['poolSize', 'strides', 'padding', 'name'], make: (c) => avgPool2d(c as unknown as Parameters<typeof avgPool2d>[0]) },
  globalAvgPool2d: { keys: ['name'], make: (c) => globalAvgPool2d({ name: c.name as string | undefined }) },
  flatten: { keys: ['name'], make: (c) => flatten({ name: c.name as string | undefined }) },
  zeroPad2d: {
    keys: ['padding', 'name'],
    make: (c) => zeroPad2d(c.padding as number | [number, number] | Padding2d, { name: c.name as string | undefined }),
  },
  batchNorm: { keys: ['momentum', 'epsilon', 'name'], make: (c) => batchNorm(c as Parameters<typeof batchNorm>[0]) },
  dropout: { keys: ['rate', 'name'], make: (c) => dropout(c as { rate: number; name?: string }) },
  residual: {
    keys: ['body', 'shortcut', 'name'],
    make: (c, where) => {
      if (!Array.isArray(c.body)) throw new OptionError(`${where}.body must be an array of layer configs`);
      if (c.shortcut !== undefined && !Array.isArray(c.shortcut)) throw new OptionError(`${where}.shortcut must be an array of layer configs`);
      return residual({
        body: c.body.map((b, i) => layerFromConfig(b as ModuleConfig, `${where}.body[${i}]`)),
        shortcut: (c.shortcut as ModuleConfig[] | undefined)?.map((b, i) => layerFromConfig(b, `${where}.shortcut[${i}]`)),
        name: c.name as string | undefined,
      });
    },
  },
};

/** The layer kinds a config may name. */
export const LAYER_KINDS: readonly string[] = Object.keys(FACTORIES);

/**
 * A layer spec from its JSON config (`{ kind: 'conv2d', filters: 6, kernelSize: 5, activation: 'relu' }`): what
 * checkpoints store and what a JSON layer list holds. Unknown kinds and keys are `OptionError`s naming the place.
 */
export function layerFromConfig(config: ModuleConfig | JsonValue, where = 'layer'): LayerSpec {
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new OptionError(`${where} must be an object with a "kind"`);
  const c = config as Record<string, unknown>;
  const kind = c.kind;
  const entry = typeof kind === 'string' && Object.hasOwn(FACTORIES, kind) ? FACTORIES[kind] : undefined;
  if (!entry) throw new OptionError(`${where}: unknown layer kind ${JSON.stringify(kind)} (known: ${LAYER_KINDS.join(', ')})`);
  for (const key of Object.keys(c)) {
    if (key !== 'kind' && !entry.keys.includes(key)) {
      throw new OptionError(`${where}: unknown key "${key}" for a ${kind} layer (allowed: ${entry.keys.join(', ')})`);
    }
  }
  const rest = { ...c };
  delete rest.kind;
  try {
    return entry.make(rest, where);
  } catch (e) {
    if (e instanceof OptionError && !e.message.startsWith(where)) throw new OptionError(`${where}: ${e.message}`);
    throw e;
  }
}

/** Rebuild a network from its config (weights come from `seed`; load saved ones over them). */
export function networkFromConfig(config: NetworkConfig, options: { seed?: number; random?: RandomSource } = {}): GraphNetwork {
  if (!config || typeof config !== 'object' || !Array.isArray(config.inputShape) || !Array.isArray(config.layers)) {
    throw new OptionError('network config must be { inputShape: number[], layers: [...] }');
  }
  const layers = config.layers.map((c, i) => layerFromConfig(c, `layers[${i}]`));
  return sequential({ inputShape: config.inputShape, layers, ...options });
}
