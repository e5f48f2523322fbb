/** The options train and compare share: dataset, network, optimizer, budget, backend, outputs, checkpoints. */
import { Option, type Command } from 'commander';
import { presets, type RuleEntry } from '@bioprop/core';
import { BACKEND_CHOICES, type BackendPreference } from '../backend.js';
import type { CompareOptions } from '../compare.js';
import { DATASETS, knownShape, type DatasetName } from '../data.js';
import { archLayers } from '../network.js';
import { OPTIMIZERS, resolveConfig, type OptimizerName, type RunOptions } from '../run.js';
import { DEFAULTS } from './defaults.js';
import { addPluginOption } from './plugins.js';
import { activationArg, archArg, initArg, integer, positiveNumber } from './values.js';

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
  seed: number;
  limitTrain?: number;
  limitTest?: number;
  backend: BackendPreference;
  out?: string;
  plot?: string;
  checkpoint?: string;
  resume?: string;
  angles: boolean;
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
    .addOption(new Option('--optimizer <name>', "optimizer of the forward weights (default: the rule's)").choices(OPTIMIZERS))
    .option('--lr <x>', "learning rate (default: the rule's)", positiveNumber('--lr'))
    .option('--init <init>', "kernel init: glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω, normal:σ (default: the rule's; a preset's own)", initArg)
    .option('--seed <n>', 'seed of the run (init, shuffling, rule state)', integer('--seed', 0, 0xffffffff), DEFAULTS.seed)
    .option('--limit-train <n>', 'use the first n training samples', integer('--limit-train', 1))
    .option('--limit-test <n>', 'use the first n test samples', integer('--limit-test', 1))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES).default(DEFAULTS.backend))
    .option('--out <file>', 'write results JSON here')
    .option('--plot <file>', 'write learning and alignment curves (SVG) here')
    .option('--checkpoint <dir>', 'save a checkpoint here at every epoch end and at the end')
    .option('--resume <dir>', 'continue the run saved in this checkpoint (bit-for-bit)')
    .option('--no-angles', 'skip the per-epoch angle to backprop');
  return addPluginOption(cmd);
}

/** The run options the flags give (null: the rule's tuned default). */
export function compareOptionsFrom(flags: TrainingFlags): CompareOptions {
  return {
    dataset: flags.dataset,
    dataDir: flags.dataDir ?? null,
    arch: flags.arch ?? null,
    activation: flags.activation ?? null,
    epochs: flags.epochs,
    batchSize: flags.batchSize ?? null,
    optimizer: flags.optimizer ?? null,
    lr: flags.lr ?? null,
    init: flags.init ?? null,
    seed: flags.seed,
    limitTrain: flags.limitTrain ?? null,
    limitTest: flags.limitTest ?? null,
    angles: flags.angles,
  };
}

/**
 * Catch option problems before loading data: arch vs dataset widths, optimizer without lr, rule options the rule's
 * schema rejects, a preset or layer list that does not fit the data (the layer specs are built, not the weights).
 */
export function checkEarly(entry: RuleEntry, options: RunOptions): void {
  const shape = knownShape(options.dataset);
  const config = resolveConfig(entry, options, { ...shape, task: options.dataset === 'linear' ? 'regression' : 'classification' });
  archLayers(config.arch, shape, config);
}
