/** The options train and compare share: dataset, network, optimizer, budget, backend, outputs, run folders. */
import { Option, type Command } from 'commander';
import { presets } from '@bioprop/core';
import { BACKEND_CHOICES, type BackendPreference } from '../backend.js';
import { DATASETS, type DatasetName } from '../data.js';
import type { Experiment, LossChoice, Normalize, RuleRef } from '../experiment.js';
import { OPTIMIZERS, experimentFromFlags, type OptimizerName } from '../run.js';
import { resumeConflict, type SessionOutputs } from '../session.js';
import { DEFAULTS } from './defaults.js';
import { addPluginOption } from './plugins.js';
import { given } from './resume.js';
import { activationArg, archArg, initArg, integer, memorySize, positiveNumber, seedList } from './values.js';

export interface TrainingFlags {
  dataset: DatasetName;
  dataDir?: string;
  arch?: string;
  activation?: string;
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerName;
  lr?: number;
  init?: string;
  loss: LossChoice;
  seed: number;
  seeds?: number[];
  limitTrain?: number;
  limitTest?: number;
  validation: number;
  normalize: Normalize;
  maxSteps?: number;
  allowDivergence?: boolean;
  maxMemory?: number;
  backend: BackendPreference;
  name?: string;
  runsDir: string;
  out?: string;
  plot?: string;
  force?: boolean;
  resume?: string;
  angles: boolean;
  alignment?: boolean;
  sameOptimizer?: boolean;
  plugin?: string[];
}

export function addTrainingOptions(cmd: Command): Command {
  cmd
    .addOption(new Option('--dataset <name>', 'dataset').choices(DATASETS).default(DEFAULTS.dataset))
    .option('--data-dir <dir>', 'read the dataset files from this directory only')
    .option(
      '--arch <arch>',
      `layer widths, input first (default: <input>-256-256-<classes>; linear task 30-20-10), a preset (${Object.keys(presets).join(', ')}), or a JSON layer list (inline or a .json file)`,
      archArg,
    )
    .option('--activation <name>', "hidden activation (default: the rule's)", activationArg)
    .option('--epochs <n>', 'epochs', integer('--epochs', 1), DEFAULTS.epochs)
    .option('--batch-size <n>', "batch size (default: the rule's)", integer('--batch-size', 1))
    .addOption(new Option('--optimizer <name>', 'one optimizer for every rule (needs --lr)').choices(OPTIMIZERS))
    .option('--lr <x>', "learning rate (alone: over each rule's tuned optimizer)", positiveNumber('--lr'))
    .option('--init <init>', "kernel init: glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω, normal:σ (default: the rule's; a preset's own)", initArg)
    .addOption(new Option('--loss <name>', 'loss (auto: cross-entropy for classes, MSE for the linear task)').choices(['auto', 'softmaxCrossEntropy', 'mse', 'cauchy']).default('auto'))
    .option('--seed <n>', 'seed of the run (init, shuffling, rule state)', integer('--seed', 0, 0xffffffff), DEFAULTS.seed)
    .option('--seeds <list>', 'several seeds, comma-separated (tables show mean ± std and each seed)', seedList)
    .option('--limit-train <n>', 'use the first n training samples', integer('--limit-train', 1))
    .option('--limit-test <n>', 'use the first n test samples', integer('--limit-test', 1))
    .option('--validation <n>', 'hold out the last n training samples as a validation set', integer('--validation', 0), 0)
    .addOption(new Option('--normalize <how>', "inputs: auto (a preset's choice), none, standardize").choices(['auto', 'none', 'standardize']).default('auto'))
    .option('--max-steps <n>', 'stop each run after n steps (smoke runs)', integer('--max-steps', 1))
    .option('--allow-divergence', "keep training when the loss grows past 100 times its value at the initial weights, or starts over 10,000 times an all-zero output's (a non-finite loss still stops)")
    .option('--max-memory <size>', 'refuse runs estimated to need more memory (e.g. 8GB, 512MB; default: half of this machine\'s)', memorySize)
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default(DEFAULTS.backend))
    .option('--name <name>', 'name of the run folder (default: from the rule and dataset)')
    .option('--runs-dir <dir>', 'where run folders go', DEFAULTS.runsDir)
    .option('--out <file>', 'also write the results JSON here (- for stdout)')
    .option('--plot <file>', 'also write the learning and alignment curves (SVG) here')
    .option('--force', 'replace --out and --plot files that exist')
    .option('--resume <folder>', 'continue the run folder (bit-for-bit; finished runs are kept)')
    .option('--no-angles', 'skip the per-epoch angle to backprop')
    .option('--alignment', 'also record B–Wᵀ alignment, eᵀWBe and the angle to pseudobackprop every epoch');
  return addPluginOption(cmd);
}

/** Options that `--resume` may change (everything else comes back from the run folder). */
const RESUMABLE = new Set(['epochs', 'backend', 'out', 'plot', 'force', 'resume', 'plugin', 'runsDir', 'maxMemory']);

const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A usage error naming the options given with `--resume` that cannot change. */
export function checkResumeFlags(cmd: Command): void {
  const changed = Object.keys(cmd.opts()).filter((k) => given(cmd, k) && !RESUMABLE.has(k));
  if (changed.length) throw resumeConflict(changed.map(flag));
}

/** The experiment the flags describe (train: one rule; compare: several). */
export function experimentFromTraining(flags: TrainingFlags, rules: RuleRef[]): Experiment {
  return experimentFromFlags({
    name: flags.name,
    rules,
    dataset: flags.dataset,
    dataDir: flags.dataDir ?? null,
    arch: flags.arch ?? null,
    activation: flags.activation ?? null,
    epochs: flags.epochs,
    batchSize: flags.batchSize ?? null,
    optimizer: flags.optimizer ?? null,
    lr: flags.lr ?? null,
    init: flags.init ?? null,
    loss: flags.loss,
    seeds: flags.seeds ?? [flags.seed],
    limitTrain: flags.limitTrain ?? null,
    limitTest: flags.limitTest ?? null,
    validation: flags.validation,
    normalize: flags.normalize,
    maxSteps: flags.maxSteps ?? null,
    allowDivergence: flags.allowDivergence ?? false,
    angles: flags.angles,
    alignment: flags.alignment ?? false,
    sameOptimizer: flags.sameOptimizer ?? false,
    plugins: flags.plugin ?? [],
    backend: flags.backend,
  });
}

export function sessionOutputs(flags: { runsDir: string; out?: string; plot?: string; force?: boolean; maxMemory?: number }, single = false): SessionOutputs {
  return { runsDir: flags.runsDir, out: flags.out, plot: flags.plot, force: flags.force ?? false, single, maxMemory: flags.maxMemory };
}
