import { OptionError, ShapeError, checkNumber } from './errors.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { locallyConnected2d } from './layers/locally-connected.js';
import { activation } from './modules/activation.js';
import { batchNorm } from './modules/batch-norm.js';
import { maxPool2d } from './modules/pooling.js';
import { residual } from './modules/residual.js';
import { flatten, globalAvgPool2d, zeroPad2d } from './modules/shape.js';
import type { InitializerConfig, InitializerLike } from './initializers.js';
import type { JsonValue, LayerSpec, OptimizerConfig } from './types.js';

/** What a preset is built for: the data's per-sample shape and the number of classes. */
export interface PresetInput {
  /** `[784]`, `[28, 28, 1]`, `[32, 32, 3]`… (flat inputs of a square image are reshaped for image presets). */
  inputShape: readonly number[];
  classes: number;
  /** The initializer of every kernel, in place of the preset's own (Glorot; He normal in the ResNets). */
  kernelInit?: InitializerLike;
}

/**
 * How to train a preset where an MLP's per-rule defaults do not fit. An application (the CLI) uses these in place of
 * a rule's tuned MLP optimizer, batch size and init; `rules` holds what differs for one rule id.
 */
export interface PresetTraining {
  /** Standardize inputs with the training set's mean and standard deviation (one scalar each). */
  readonly standardize: boolean;
  readonly batchSize: number;
  /** The forward weights' optimizer; a `cosine` schedule spans the whole run (its length is set by the application). */
  readonly optimizer: OptimizerConfig;
  readonly schedule?: 'cosine';
  readonly rules?: Readonly<
    Record<
      string,
      { readonly optimizer?: OptimizerConfig; readonly ruleOptions?: JsonValue; readonly kernelInit?: InitializerConfig; readonly batchSize?: number }
    >
  >;
  /** How these were chosen (data, budget, command). */
  readonly source: string;
}

/** A named architecture from the papers, as layer specs for a given input. */
export interface ArchitecturePreset {
  readonly name: string;
  /** One line: what it is and where it comes from. */
  readonly description: string;
  /** Whether it reads images (`[H, W, C]`); flat inputs of a square single-channel image are reshaped. */
  readonly image: boolean;
  /** The data it was designed for (what `bioprop bench --arch <name>` feeds it). */
  readonly defaultInput: PresetInput;
  /** The network's input shape and layers for this data. */
  build(input: PresetInput): { inputShape: number[]; layers: LayerSpec[] };
  /** Training defaults for it (absent: the rules' MLP defaults apply). */
  readonly training?: PresetTraining;
}

/** `[H, W, C]` from a sample shape: an image as it is, a flat square single-channel image reshaped. */
export function imageInput(preset: string, shape: readonly number[]): [number, number, number] {
  if (shape.length === 3) return [shape[0], shape[1], shape[2]];
  const n = shape.reduce((a, b) => a * b, 1);
  const side = Math.round(Math.sqrt(n));
  if (shape.length === 1 && side * side === n) return [side, side, 1];
  throw new ShapeError(`preset ${preset} reads images [height, width, channels]; the data's samples are [${shape.join(', ')}]`);
}

const flatSize = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const MNIST: PresetInput = { inputShape: [28, 28, 1], classes: 10 };
const CIFAR: PresetInput = { inputShape: [32, 32, 3], classes: 10 };

function mlp(name: string, description: string, widths: readonly number[], act: string): ArchitecturePreset {
  return {
    name,
    description,
    image: false,
    defaultInput: { inputShape: [784], classes: 10 },
    build: ({ inputShape, classes, kernelInit }) => ({
      inputShape: [flatSize(inputShape)],
      layers: [...widths.map((units) => dense({ units, activation: act, kernelInit })), dense({ units: classes, kernelInit })],
    }),
  };
}

/**
 * biotorch's LeNet-5: conv 6@5×5 → relu → max-pool 2 → conv 16@5×5 → relu → max-pool 2 → conv 120@5×5 → relu →
 * flatten → fc 84 (linear, as in their code) → fc classes. A 28×28 input is zero-padded to 32×32 first.
 */
const lenet5: ArchitecturePreset = {
  name: 'lenet5',
  description: "LeNet-5 as in biotorch's code (conv 6-16-120 with relu and 2×2 max pooling, fc 84, fc classes); 28×28 input zero-padded to 32×32",
  image: true,
  defaultInput: MNIST,
  build({ inputShape, classes, kernelInit }) {
    const [h, w, c] = imageInput('lenet5', inputShape);
    const pad = h === 28 && w === 28 ? [zeroPad2d(2)] : [];
    if (h + (pad.length ? 4 : 0) !== 32 || w + (pad.length ? 4 : 0) !== 32) {
      throw new ShapeError(`preset lenet5 needs 28×28 or 32×32 images, got ${h}×${w}`);
    }
    return {
      inputShape: [h, w, c],
      layers: [
        ...pad,
        conv2d({ filters: 6, kernelSize: 5, activation: 'relu', kernelInit }),
        maxPool2d(2),
        conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInit }),
        maxPool2d(2),
        conv2d({ filters: 120, kernelSize: 5, activation: 'relu', kernelInit }),
        flatten(),
        dense({ units: 84, kernelInit }),
        dense({ units: classes, kernelInit }),
      ],
    };
  },
  training: {
    standardize: true,
    batchSize: 128,
    optimizer: { name: 'adam', lr: 1e-3 },
    schedule: 'cosine',
    rules: {
      // random feedback needs small forward weights to align with before they grow (Lillicrap et al.), and more steps:
      // Glorot ×0.1 and batch 32 beat Glorot (31.7% after 3 epochs), ×0.03 and batch 64 (14.5–14.8% after 10)
      fa: { kernelInit: { name: 'glorot', config: { gain: 0.1 } }, batchSize: 32 },
      dfa: { kernelInit: { name: 'glorot', config: { gain: 0.1 } }, batchSize: 32 },
      // Kolen–Pollack starts as feedback alignment (random B) and needs the same start; its decoupled decay λ, which
      // ties B to W, is on its own optimizer here (the preset's Adam has none). 20k/5k, 3 epochs, seeds 1-3 (mean test
      // error; experiments/sweeps/retune.yaml, stages kp-lenet5*): λ 5e-5 23.1%, 5e-4 25.8%, 5e-3 90.3%;
      // with Glorot and batch 128, 59.8% at 5e-5 and 62.6% at λ = 0; backprop at 5e-5 16.0%.
      kp: { kernelInit: { name: 'glorot', config: { gain: 0.1 } }, batchSize: 32, optimizer: { name: 'adam', lr: 1e-3, decoupledDecay: 5e-5 } },
    },
    source: 'Fashion-MNIST 60k/10k, 10 epochs, seed 1: bp 9.41%, fa 13.64%, dfa 13.59% test error (README of @bioprop/core, "presets")',
  },
};

function locallyConnected(
  name: string,
  description: string,
  defaultInput: PresetInput,
  convs: readonly [number, number, number][],
  fc: number,
): ArchitecturePreset {
  return {
    name,
    description,
    image: true,
    defaultInput,
    build({ inputShape, classes, kernelInit }) {
      const shape = imageInput(name, inputShape);
      return {
        inputShape: [...shape],
        layers: [
          ...convs.map(([filters, k, s]) => locallyConnected2d({ filters, kernelSize: k, strides: s, padding: 'same', activation: 'tanh', kernelInit })),
          dense({ units: fc, activation: 'tanh', kernelInit }),
          dense({ units: classes, kernelInit }),
        ],
      };
    },
  };
}

export interface ResNetOptions {
  /** `6n + 2` (20, 32, 44, 56). */
  depth: number;
  /** Filters of the first stage (16 in He et al.); the stages use width, 2·width, 4·width. */
  width: number;
}

/**
 * He et al.'s CIFAR ResNet (post-activation basic blocks, batch norm after every convolution, bias-free He-normal
 * convolutions), with 1×1-convolution projection shortcuts where the shape changes (option B), global average pooling
 * and a dense classifier.
 */
export function resnetLayers(input: PresetInput, options: ResNetOptions): LayerSpec[] {
  checkNumber('resnet depth', options.depth, { min: 8, integer: true });
  if ((options.depth - 2) % 6 !== 0) throw new OptionError(`resnet depth must be 6n + 2 (20, 32, 44, 56), got ${options.depth}`);
  const width = checkNumber('resnet width', options.width, { min: 1, integer: true });
  const n = (options.depth - 2) / 6;
  const kernelInit = input.kernelInit ?? 'heNormal';
  const conv = (filters: number, kernelSize: number, strides = 1) => conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInit });
  const layers: LayerSpec[] = [conv(width, 3), batchNorm(), activation('relu')];
  let channels = width;
  for (let stage = 0; stage < 3; stage++) {
    const filters = width * 2 ** stage;
    for (let b = 0; b < n; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      const project = strides !== 1 || filters !== channels;
      layers.push(
        residual({
          body: [conv(filters, 3, strides), batchNorm(), activation('relu'), conv(filters, 3), batchNorm()],
          shortcut: project ? [conv(filters, 1, strides), batchNorm()] : undefined,
        }),
        activation('relu'),
      );
      channels = filters;
    }
  }
  layers.push(globalAvgPool2d(), dense({ units: input.classes, kernelInit: input.kernelInit }));
  return layers;
}

function resnet(name: string, description: string, defaultInput: PresetInput, options: ResNetOptions): ArchitecturePreset {
  return {
    name,
    description,
    image: true,
    defaultInput,
    build(input) {
      return { inputShape: [...imageInput(name, input.inputShape)], layers: resnetLayers(input, options) };
    },
  };
}

/** The architectures of the papers, by the name `--arch` takes. */
export const presets: Readonly<Record<string, ArchitecturePreset>> = Object.fromEntries(
  [
    lenet5,
    locallyConnected(
      'bartunov-lc-mnist',
      'Bartunov et al. MNIST locally connected net: LC (3×3,32,s2), LC (3×3,64,s2), fc 1024, tanh',
      MNIST,
      [
        [32, 3, 2],
        [64, 3, 2],
      ],
      1024,
    ),
    locallyConnected(
      'bartunov-lc-cifar',
      'Bartunov et al. CIFAR locally connected net: LC (5×5,64,s2), LC (5×5,128,s2), LC (3×3,256), fc 1024, tanh',
      CIFAR,
      [
        [64, 5, 2],
        [128, 5, 2],
        [256, 3, 1],
      ],
      1024,
    ),
    mlp('bartunov-fc-mnist', 'Bartunov et al. MNIST fully connected net: 5 × 256 tanh', [256, 256, 256, 256, 256], 'tanh'),
    mlp('nokland-7x240', 'Nøkland: 7 × 240 tanh', Array(7).fill(240), 'tanh'),
    mlp('nokland-100x240', 'Nøkland: 100 × 240 tanh', Array(100).fill(240), 'tanh'),
    resnet('resnet20', 'CIFAR ResNet-20 (He et al.): 3 stages × 3 basic blocks, 16-32-64 filters, batch norm', CIFAR, { depth: 20, width: 16 }),
    resnet('resnet20-tiny', 'ResNet-20 topology at width 4 (4-8-16 filters), for fast tests on small images', { inputShape: [8, 8, 3], classes: 10 }, {
      depth: 20,
      width: 4,
    }),
  ].map((p) => [p.name, p]),
);

/** A preset by name, or an `OptionError` listing them. */
export function preset(name: string): ArchitecturePreset {
  if (typeof name !== 'string' || !Object.hasOwn(presets, name)) {
    throw new OptionError(`unknown architecture preset ${JSON.stringify(name)} (known: ${Object.keys(presets).join(', ')})`);
  }
  return presets[name];
}
