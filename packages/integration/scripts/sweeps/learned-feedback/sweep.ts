/**
 * Sweep a handful of forward / feedback learning rates per rule on the standard run and print a table
 * (and append JSON lines to packages/learned-feedback/docs/sweep-results.jsonl). The README's defaults come from this output.
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/learned-feedback/sweep.ts [--stage grid|refine|samples|defaults] [--rules sa,aa] [--data digits]
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backprop } from '@bioprop/backprop';
import type { OptimizerConfig, Rule } from '@bioprop/core';
import {
  activationAlignment,
  informationAlignment,
  kolenPollack,
  learnedFeedback,
  decay,
  ruleDefaults,
  symmetricAlignment,
  weightMirror,
} from '@bioprop/learned-feedback';
import { fmt, loadData, parseArgs, setup, standardRun } from './standard-run.js';

interface Config {
  rule: string;
  label: string;
  make: () => Rule;
  optimizer: OptimizerConfig;
  /** Seeds to run (default: --seed). */
  seeds?: number[];
}

const fwd = (lr: number, extra: Partial<OptimizerConfig> = {}): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9, ...extra });
const sgdB = (lr: number): OptimizerConfig => ({ name: 'sgd', lr });

/** Stage 1: a coarse grid, one seed. */
function grid(): Config[] {
  const out: Config[] = [];
  const fwdLrs = [0.02, 0.05, 0.1];
  for (const lr of fwdLrs) out.push({ rule: 'bp', label: `fwd ${lr}`, make: () => backprop(), optimizer: fwd(lr) });
  // feedback alignment = learned feedback with every coefficient zero (B stays at its random init)
  for (const lr of fwdLrs) out.push({ rule: 'fa', label: `fwd ${lr}`, make: () => learnedFeedback({ id: 'fa', terms: [decay(0)] }), optimizer: fwd(lr) });
  for (const lr of fwdLrs) {
    for (const lrB of [10, 50, 250]) {
      out.push({ rule: 'sa', label: `fwd ${lr}, B sgd ${lrB}`, make: () => symmetricAlignment({ feedbackOptimizer: sgdB(lrB) }), optimizer: fwd(lr) });
      out.push({ rule: 'wm', label: `fwd ${lr}, B sgd ${lrB}`, make: () => weightMirror({ feedbackOptimizer: sgdB(lrB) }), optimizer: fwd(lr) });
      out.push({ rule: 'ia', label: `fwd ${lr}, B sgd ${lrB}`, make: () => informationAlignment({ feedbackOptimizer: sgdB(lrB) }), optimizer: fwd(lr) });
    }
    for (const B of [sgdB(10), sgdB(50), { name: 'adam', lr: 1e-3 } as OptimizerConfig, { name: 'adam', lr: 3e-3 } as OptimizerConfig]) {
      out.push({ rule: 'aa', label: `fwd ${lr}, B ${B.name} ${B.lr}`, make: () => activationAlignment({ feedbackOptimizer: B }), optimizer: fwd(lr) });
    }
    for (const lambda of [1e-3, 5e-3, 2e-2]) {
      out.push({ rule: 'kp', label: `fwd ${lr}, λ ${lambda}`, make: () => kolenPollack(), optimizer: fwd(lr, { decoupledDecay: lambda }) });
    }
  }
  return out;
}

/** Stage 2: around stage 1's best cells, stable B optimizers for AA and IA, mirror batch sizes; two seeds each. */
function refine(): Config[] {
  const out: Config[] = [];
  const seeds = [7, 8];
  const adamB = (lr: number): OptimizerConfig => ({ name: 'adam', lr });
  for (const lr of [0.02, 0.05]) {
    for (const lrB of [50, 250]) {
      out.push({ rule: 'sa', label: `fwd ${lr}, B sgd ${lrB}`, make: () => symmetricAlignment({ feedbackOptimizer: sgdB(lrB) }), optimizer: fwd(lr), seeds });
    }
    for (const lrB of [5, 10]) {
      for (const batchSize of [64, 128]) {
        out.push({
          rule: 'wm',
          label: `fwd ${lr}, B sgd ${lrB}, mirror batch ${batchSize}`,
          make: () => weightMirror({ feedbackOptimizer: sgdB(lrB), mirror: { batchSize } }),
          optimizer: fwd(lr),
          seeds,
        });
      }
    }
    for (const [B, a] of [
      [sgdB(2), 2e-3],
      [adamB(3e-3), 2e-3],
      [adamB(1e-2), 2e-3],
      [adamB(3e-3), 1e-2],
      [adamB(1e-2), 1e-2],
    ] as const) {
      out.push({
        rule: 'ia',
        label: `fwd ${lr}, B ${B.name} ${B.lr}, amp ${a}`,
        make: () => informationAlignment({ feedbackOptimizer: B, amp: a }),
        optimizer: fwd(lr),
        seeds,
      });
    }
    for (const B of [sgdB(20), adamB(1e-2), adamB(3e-3)]) {
      out.push({ rule: 'aa', label: `fwd ${lr}, B ${B.name} ${B.lr}`, make: () => activationAlignment({ feedbackOptimizer: B }), optimizer: fwd(lr), seeds });
    }
    for (const lambda of [5e-3, 1e-2]) {
      out.push({ rule: 'kp', label: `fwd ${lr}, λ ${lambda}`, make: () => kolenPollack(), optimizer: fwd(lr, { decoupledDecay: lambda }), seeds });
    }
  }
  return out;
}

/** Stage 3: B's update on a subset of each batch (cost), AA and IA at their chosen settings; two seeds. */
function samples(): Config[] {
  const out: Config[] = [];
  const seeds = [7, 8];
  for (const n of [32, 64]) {
    out.push({ rule: 'aa', label: `defaults, feedbackSamples ${n}`, make: () => activationAlignment({ feedbackSamples: n }), optimizer: ruleDefaults.aa.optimizer, seeds });
    out.push({ rule: 'ia', label: `defaults, feedbackSamples ${n}`, make: () => informationAlignment({ feedbackSamples: n }), optimizer: ruleDefaults.ia.optimizer, seeds });
  }
  return out;
}

/** The shipped defaults, exactly as a user gets them. */
function shipped(): Config[] {
  const out: Config[] = [];
  const named: Record<string, () => Rule> = {
    sa: () => symmetricAlignment(),
    aa: () => activationAlignment(),
    wm: () => weightMirror(),
    ia: () => informationAlignment(),
    kp: () => kolenPollack(),
  };
  for (const [id, make] of Object.entries(named)) {
    out.push({ rule: id, label: 'defaults', make, optimizer: ruleDefaults[id as keyof typeof ruleDefaults].optimizer, seeds: [7, 8] });
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
await setup();
const data = await loadData(args);
const rules = args.rules ? args.rules.split(',') : null;
// --stage grid (stage 1), refine (stage 2) or defaults (the shipped defaults, two seeds)
const stage = args.stage ?? 'grid';
const configs = stage === 'refine' ? refine() : stage === 'samples' ? samples() : stage === 'defaults' ? shipped() : grid();
const epochs = Number(args.epochs ?? 3);
const seed = Number(args.seed ?? 7);
const here = dirname(fileURLToPath(import.meta.url));
const outFile = args.out ?? join(here, '..', '..', '..', '..', 'learned-feedback', 'docs', 'sweep-results.jsonl');
mkdirSync(dirname(outFile), { recursive: true });

console.log(`data ${data.source}: ${data.train.count} train / ${data.test.count} test, ${epochs} epochs, seed ${seed}`);
console.log('| rule | config | seed | test acc | δ angle to BP per hidden layer (last epoch) | ∠(B, W) per layer | s |');
console.log('|---|---|---|---|---|---|---|');
for (const c of configs) {
  if (rules && !rules.includes(c.rule)) continue;
  for (const s of c.seeds ?? [seed]) {
    const r = await standardRun(data, { rule: c.make(), optimizer: c.optimizer, epochs, seed: s });
    console.log(
      `| ${c.rule} | ${c.label} | ${s} | ${fmt(r.accuracy, 4)} | ${r.deltaAngles.map((a) => fmt(a, 1)).join(' / ')} | ${r.weightAngles
        .map((a) => fmt(a, 1))
        .join(' / ')} | ${fmt(r.seconds, 1)} |${r.diverged ? ` diverged: ${r.diverged.slice(0, 80)}` : ''}`,
    );
    appendFileSync(
      outFile,
      `${JSON.stringify({ date: new Date().toISOString(), stage, data: data.source, epochs, seed: s, rule: c.rule, config: c.label, optimizer: c.optimizer, ...r })}\n`,
    );
  }
}
