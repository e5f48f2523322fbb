/**
 * The standard run, shared by the sweep and the noise-robustness scripts: Fashion-MNIST (or the embedded
 * digits), 784-256-256-10, cross-entropy, one seed for the weights, shuffling and rule state.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  angleDeg,
  backpropSignals,
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type BoundRule,
  type InitializerLike,
  type OptimizerConfig,
  type Rule,
} from '@bioprop/core';
import { loadDigits, type DatasetSplits } from '@bioprop/datasets';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { feedbackAngles } from '@bioprop/learned-feedback';

export interface StandardRunOptions {
  rule: Rule;
  optimizer: OptimizerConfig;
  kernelInit?: InitializerLike;
  activation?: string;
  hidden?: number[];
  epochs?: number;
  batchSize?: number;
  seed?: number;
  /** Measure δ angles to backprop on every step of the last epoch. */
  angles?: boolean;
}

export interface StandardRunResult {
  accuracy: number;
  trainLoss: number;
  /** Per hidden layer: mean over the last epoch's batches of angle(δ_rule, δ_BP), degrees. */
  deltaAngles: number[];
  /** Per layer: angle(B, kernel) at the end, degrees (null without B). */
  weightAngles: (number | null)[];
  seconds: number;
  diverged?: string;
}

export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=');
    out[k] = v ?? (argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
  }
  return out;
}

export async function loadData(args: Record<string, string>): Promise<DatasetSplits> {
  const limitTrain = Number(args['limit-train'] ?? 10000);
  const limitTest = Number(args['limit-test'] ?? 2000);
  if (args.data === 'digits') return loadDigits({ limitTrain, limitTest });
  return loadFashionMnist({ limitTrain, limitTest, download: false });
}

export async function setup(): Promise<void> {
  await resolveBackend((process.env.BIOPROP_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm');
}

/** Wrap a rule so every step of the last epoch also measures its δ's angle to backprop's on the same trace. */
function measured(rule: Rule, lastEpoch: number, sums: number[], counts: number[]): Rule {
  return {
    ...rule,
    bind(network, random) {
      const inner = rule.bind(network, random);
      const bound: BoundRule = {
        rule: inner.rule,
        step(ctx) {
          const result = inner.step(ctx);
          if (ctx.epoch === lastEpoch) {
            const bp = backpropSignals(ctx.network, ctx.trace, ctx);
            for (let l = 0; l < bp.length - 1; l++) {
              sums[l] = (sums[l] ?? 0) + angleDeg(result.signals[l], bp[l]);
              counts[l] = (counts[l] ?? 0) + 1;
            }
          }
          return result;
        },
        afterUpdate: inner.afterUpdate ? (ctx) => inner.afterUpdate!(ctx) : undefined,
        state: () => inner.state(),
        learned: () => inner.learned(),
        feedbackWeights: (l) => inner.feedbackWeights(l),
        loadState: (s) => inner.loadState(s),
        getMeta: () => inner.getMeta(),
        setMeta: (m) => inner.setMeta(m),
        dispose: () => inner.dispose(),
      };
      return bound;
    },
  };
}

export async function standardRun(data: DatasetSplits, o: StandardRunOptions): Promise<StandardRunResult> {
  const epochs = o.epochs ?? 3;
  const seed = o.seed ?? 7;
  const random = randomSource(seed);
  const hidden = o.hidden ?? [256, 256];
  const network = sequential({
    inputShape: data.train.sampleShape,
    layers: [
      ...hidden.map((units) => dense({ units, activation: o.activation ?? 'tanh', kernelInit: o.kernelInit ?? 'glorot' })),
      dense({ units: data.train.targetShape[0], kernelInit: o.kernelInit ?? 'glorot' }),
    ],
    random,
  });
  const sums: number[] = [];
  const counts: number[] = [];
  const rule = o.angles === false ? o.rule : measured(o.rule, epochs - 1, sums, counts);
  const trainer = createTrainer({
    network,
    rule,
    loss: 'softmaxCrossEntropy',
    optimizer: resolveOptimizer(o.optimizer as Parameters<typeof resolveOptimizer>[0]),
    random,
  });
  const t0 = performance.now();
  let diverged: string | undefined;
  let trainLoss = NaN;
  try {
    const fit = await trainer.fit(data.train, { epochs, batchSize: o.batchSize ?? 128 });
    trainLoss = fit.epochs[fit.epochs.length - 1].trainLoss;
  } catch (e) {
    diverged = (e as Error).message;
  }
  const { accuracy } = diverged ? { accuracy: NaN } : trainer.evaluate(data.test);
  const weightAngles = feedbackAngles(network, trainer.boundRule);
  trainer.dispose();
  network.dispose();
  return {
    accuracy,
    trainLoss,
    deltaAngles: sums.map((s, l) => s / counts[l]),
    weightAngles,
    seconds: (performance.now() - t0) / 1000,
    ...(diverged ? { diverged } : {}),
  };
}

export const fmt = (x: number | null, d = 2) => (x !== null && Number.isFinite(x) ? x.toFixed(d) : '—');
