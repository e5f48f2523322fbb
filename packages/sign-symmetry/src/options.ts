import { anyOf, num, oneOf, options, type Infer, type RuleDefaults } from '@bioprop/core';

/**
 * How uSF scales `sign(W)`, per layer: `'norm'` multiplies it by `‖W‖_F / ‖sign(W)‖_F`, so `‖B‖_F = ‖W‖_F` at every
 * step; `'glorot'` by `√(2 / (fanIn + fanOut))` (biotorch's fixed factor); `'none'` leaves `B = sign(W)`.
 */
export const signScaleSchema = oneOf('norm', 'glorot', 'none');

/**
 * The distribution `M` is drawn from (`B = |M| ⊙ sign(W)`, so only `|M|` matters): `'glorot'` is
 * `U[±√(6/(fanIn+fanOut))]` (biotorch's), `'fanInUniform'` is `U[±1/√fanIn]`, `{ uniform: β }` is `U[−β, β]`,
 * `{ normal: σ }` is `N(0, σ²)`.
 */
export const magnitudeInitSchema = anyOf(
  oneOf('glorot', 'fanInUniform'),
  options({ uniform: num({ exclusiveMin: 0 }) }),
  options({ normal: num({ exclusiveMin: 0 }) }),
);

/**
 * uSF's options. `'norm'` is the default: with Adam the three scales end within the seed spread of each other (MLP
 * budget: 0.8278 / 0.8302 / 0.8300 mean accuracy; LeNet-5: 10.11 / 10.22 / 10.47% test error for norm / none /
 * glorot), and with momentum SGD only `'norm'` matches backprop (0.8287, against 0.7270 unscaled): README, "How the
 * defaults were chosen".
 */
export const uniformSignFeedbackOptions = options({
  scale: signScaleSchema
    .default('norm')
    .describe("per-layer factor on sign(W): 'norm' → ‖B‖_F = ‖W‖_F at every step, 'glorot' → √(2/(fanIn+fanOut)), 'none' → B = sign(W)"),
});

/** brSF's options: the magnitudes are redrawn after every update, from the layer's own random stream. */
export const batchwiseRandomSignFeedbackOptions = options({
  magnitudeInit: magnitudeInitSchema.default('glorot').describe('distribution of M in B = |M| ⊙ sign(W), redrawn after every update'),
});

/** frSF's options: the magnitudes are drawn once, at bind time, and kept (saved with the network). */
export const fixedRandomSignFeedbackOptions = options({
  magnitudeInit: magnitudeInitSchema.default('glorot').describe('distribution of M in B = |M| ⊙ sign(W), drawn once and kept'),
});

/** Every uSF option, filled (what the rule runs with). */
export type UniformSignFeedbackConfig = Infer<typeof uniformSignFeedbackOptions>;
/** What a user passes to uSF: any subset of the options. */
export type UniformSignFeedbackOptions = Partial<UniformSignFeedbackConfig>;
export type BatchwiseRandomSignFeedbackConfig = Infer<typeof batchwiseRandomSignFeedbackOptions>;
export type BatchwiseRandomSignFeedbackOptions = Partial<BatchwiseRandomSignFeedbackConfig>;
export type FixedRandomSignFeedbackConfig = Infer<typeof fixedRandomSignFeedbackOptions>;
export type FixedRandomSignFeedbackOptions = Partial<FixedRandomSignFeedbackConfig>;
export type SignScale = UniformSignFeedbackConfig['scale'];
export type MagnitudeInit = FixedRandomSignFeedbackConfig['magnitudeInit'];

const MLP_BUDGET =
  'scripts/mlp.ts: Fashion-MNIST 784-256-256-10 tanh, 10000 train / 2000 test, 3 epochs, batch 128, wasm, seeds 7, 8, 9; ' +
  'Adam 3e-4 / 1e-3 / 2e-3 and momentum 0.9 lr 0.03 tried (backprop: 0.8237 with Adam 1e-3, 0.8277 with momentum)';

/**
 * The training uSF was tuned with (the CLI's MLP defaults). Every optimizer tried ended within 0.1 point of the others
 * (Adam 3e-4 / 1e-3 / 2e-3, momentum: 0.8283 / 0.8278 / 0.8265 / 0.8287 mean accuracy): Adam 1e-3, the presets' optimizer.
 */
export const usfDefaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 1e-3 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: `${MLP_BUDGET}; uSF (scale norm): 0.8283 / 0.8278 / 0.8265 / 0.8287 mean test accuracy, all within the seed spread: Adam 1e-3 kept`,
};

/** The training brSF was tuned with: Adam 3e-4 had the best mean test accuracy (0.8230, against 0.8167 at 1e-3). */
export const brsfDefaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 3e-4 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: `${MLP_BUDGET}; brSF: 0.8230 / 0.8167 / 0.8092 / 0.8110 mean test accuracy, best Adam 3e-4`,
};

/** The training frSF was tuned with: Adam 1e-3 had the best mean test accuracy (0.8333). */
export const frsfDefaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 1e-3 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: `${MLP_BUDGET}; frSF: 0.8267 / 0.8333 / 0.8250 / 0.8073 mean test accuracy, best Adam 1e-3`,
};
