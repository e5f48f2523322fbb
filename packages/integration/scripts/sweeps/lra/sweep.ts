/**
 * How LRA's defaults were chosen. Runs the standard budget (Fashion-MNIST, 784-256-256-10, 10000 train /
 * 2000 test, 3 epochs, batch 128, seed 7, wasm) for a list of configurations and appends one JSON line per run
 * to results/sweep.jsonl beside this script (runs already there are skipped, so stages can be re-run and extended).
 *
 *   pnpm --filter @bioprop/integration script scripts/sweeps/lra/sweep.ts <stage> [<stage> …]   # stages below; `list` prints them
 *   pnpm --filter @bioprop/integration script scripts/sweeps/lra/sweep.ts table                  # the results as a Markdown table, best first
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-wasm';
import {
  createTrainer,
  dense,
  randomSource,
  resolveBackend,
  resolveOptimizer,
  sequential,
  type ActivationLike,
  type OptimizerConfig,
  type Rule,
} from '@bioprop/core';
import { lwta } from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { loadFashionMnist } from '@bioprop/datasets/node';
import { lraDiff, lraFdbk, type LraFdbkOptions } from '@bioprop/lra';

interface RunConfig {
  rule: 'lra-fdbk' | 'lra-diff' | 'bp';
  optimizer: OptimizerConfig;
  kernelInit: 'glorot' | 'zero' | { uniform: number } | { normal: number };
  activation: string;
  ruleOptions: LraFdbkOptions;
  seed?: number;
  epochs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(here, 'results', 'sweep.jsonl');

const sgd = (lr: number): OptimizerConfig => ({ name: 'sgd', lr });
const mom = (lr: number): OptimizerConfig => ({ name: 'momentum', lr, momentum: 0.9 });
const adam = (lr: number): OptimizerConfig => ({ name: 'adam', lr });
const base = (rule: RunConfig['rule'], optimizer: OptimizerConfig, ruleOptions: LraFdbkOptions = {}, extra: Partial<RunConfig> = {}): RunConfig => ({
  rule,
  optimizer,
  kernelInit: 'glorot',
  activation: 'tanh',
  ruleOptions,
  ...extra,
});
const grid = <T>(xs: T[], f: (x: T) => RunConfig[]): RunConfig[] => xs.flatMap(f);

const STAGES: Record<string, () => RunConfig[]> = {
  /** Reference point. */
  bp: () => [base('bp', mom(0.05)), base('bp', sgd(0.1))],
  /** Stage 1: the learning rate and β with c₁ off, both fdbk derivatives, both output losses. */
  fdbk1: () =>
    grid(['below', 'above'] as const, (derivative) =>
      grid([0.01, 0.1], (beta) =>
        grid([0.1, 0.5], (lr) => [base('lra-fdbk', sgd(lr), { derivative, beta, c1: null, outputLoss: 'task', k: 1 })]),
      ),
    ),
  diff1: () => grid([0.01, 0.1, 1], (beta) => grid([0.1, 0.5], (lr) => [base('lra-diff', sgd(lr), { beta, c1: null, outputLoss: 'task', k: 1 })])),
  /** Stage 2: momentum (BP's best optimizer here), β around stage 1's best, c₁ still off. */
  fdbk2: () =>
    grid(['below', 'above'] as const, (derivative) =>
      grid([0.003, 0.01, 0.03], (beta) =>
        grid([0.02, 0.05, 0.1], (lr) => [base('lra-fdbk', mom(lr), { derivative, beta, c1: null, outputLoss: 'task', k: 1 })]),
      ),
    ),
  /** Stage 3: the norm bound c₁ (per-layer update norms at init: ≈ 0.1, 0.3, 1 bottom to top), β up to where the per-hop gain 2β‖E‖ nears 1. */
  fdbk3: () =>
    grid(['below', 'above'] as const, (derivative) =>
      grid([0.01, 0.03, 0.1], (beta) => grid([1, 0.3, 0.1], (c1) => [base('lra-fdbk', mom(0.05), { derivative, beta, c1, outputLoss: 'task', k: 1 })])),
    ),
  /** Stage 3z: from all-zero weights, where the signal reaching layer 1 scales like β². */
  fdbk3z: () =>
    grid(['below', 'above'] as const, (derivative) =>
      grid([0.03, 0.1, 0.3], (beta) =>
        grid([null, 0.3], (c1) => [base('lra-fdbk', mom(0.05), { derivative, beta, c1, outputLoss: 'task', k: 1 }, { kernelInit: 'zero' })]),
      ),
    ),
  /** Stage 4: around stage 3's best (β 0.1, c₁ 0.3, momentum 0.05): c₁, lr; then the output loss and Adam. */
  fdbk4: () => [
    ...grid(['below', 'above'] as const, (derivative) =>
      grid([0.2, 0.5], (c1) => grid([0.05, 0.1], (lr) => [base('lra-fdbk', mom(lr), { derivative, beta: 0.1, c1, outputLoss: 'task', k: 1 })])),
    ),
    ...grid(['below', 'above'] as const, (derivative) => [
      base('lra-fdbk', mom(0.1), { derivative, beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }),
      base('lra-fdbk', mom(0.05), { derivative, beta: 0.1, c1: 0.3, outputLoss: 'cauchy', k: 1 }),
      base('lra-fdbk', adam(1e-3), { derivative, beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }),
    ]),
  ],
  /** Stage 5: 'above' (better on LWTA/Bernoulli/softplus digits runs, equal on tanh), Adam vs momentum, other seeds. */
  fdbk5: () => [
    ...grid([5e-4, 1e-3, 2e-3], (lr) => [base('lra-fdbk', adam(lr), { derivative: 'above', beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 })]),
    base('lra-fdbk', adam(1e-3), { derivative: 'above', beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }, { kernelInit: 'zero' }),
    base('lra-fdbk', adam(1e-3), { derivative: 'above', beta: 0.1, c1: null, outputLoss: 'task', k: 1 }),
    ...grid([8, 9], (seed) => [
      base('lra-fdbk', mom(0.05), { derivative: 'above', beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }, { seed }),
      base('lra-fdbk', mom(0.05), { derivative: 'below', beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }, { seed }),
      base('lra-fdbk', adam(1e-3), { derivative: 'above', beta: 0.1, c1: 0.3, outputLoss: 'task', k: 1 }, { seed }),
    ]),
  ],
  diff5: () => [
    base('lra-diff', adam(1e-3), { beta: 0.3, c1: 1, outputLoss: 'task', k: 1 }),
    ...grid([8, 9], (seed) => [
      base('lra-diff', mom(0.05), { beta: 0.3, c1: 1, outputLoss: 'task', k: 1 }, { seed }),
      base('lra-diff', adam(1e-3), { beta: 0.3, c1: 1, outputLoss: 'task', k: 1 }, { seed }),
    ]),
  ],
  /** K > 1: the bookkeeping options (settleTop, updateFrom) at K = 3 and 10. */
  kloop: () =>
    grid([3, 10], (k) =>
      grid([true, false], (settleTop) =>
        grid(['lastPass', 'forward'] as const, (updateFrom) => [
          base('lra-fdbk', mom(0.05), { derivative: 'above', beta: 0.1, c1: 0.3, outputLoss: 'task', k, settleTop, updateFrom }),
        ]),
      ),
    ),
  diff3: () => grid([0.1, 0.3, 1], (beta) => grid([1, 0.3], (c1) => [base('lra-diff', mom(0.05), { beta, c1, outputLoss: 'task', k: 1 })])),
  diff2: () => grid([0.03, 0.1, 0.3], (beta) => grid([0.02, 0.05, 0.1], (lr) => [base('lra-diff', mom(lr), { beta, c1: null, outputLoss: 'task', k: 1 })])),
};

function makeRule(c: RunConfig): Rule {
  if (c.rule === 'bp') return backprop();
  return c.rule === 'lra-diff' ? lraDiff(c.ruleOptions) : lraFdbk(c.ruleOptions);
}

function activationOf(name: string): ActivationLike {
  const m = /^lwta(\d+)$/.exec(name);
  return m ? lwta({ blockSize: Number(m[1]) }) : name;
}

const keyOf = (c: RunConfig) => JSON.stringify(c);

async function runOne(c: RunConfig, data: Awaited<ReturnType<typeof loadFashionMnist>>) {
  const seed = c.seed ?? 7;
  const random = randomSource(seed);
  const act = activationOf(c.activation);
  const network = sequential({
    inputShape: [784],
    layers: [
      dense({ units: 256, activation: act, kernelInit: c.kernelInit }),
      dense({ units: 256, activation: act, kernelInit: c.kernelInit }),
      dense({ units: 10, kernelInit: c.kernelInit }),
    ],
    random,
  });
  const trainer = createTrainer({ network, rule: makeRule(c), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(c.optimizer), random });
  const t0 = performance.now();
  let diverged = false;
  try {
    await trainer.fit(data.train, { epochs: c.epochs ?? 3, batchSize: 128 });
  } catch (e) {
    diverged = true;
    console.error(`  diverged: ${(e as Error).message.split('\n')[0]}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const test = diverged ? { accuracy: NaN, loss: NaN } : trainer.evaluate(data.test);
  trainer.dispose();
  network.dispose();
  return { accuracy: test.accuracy, loss: test.loss, seconds, diverged };
}

async function readResults(): Promise<{ key: string; config: RunConfig; accuracy: number; loss: number; seconds: number }[]> {
  try {
    const text = await readFile(RESULTS, 'utf8');
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

function describe(c: RunConfig): string {
  const o = c.optimizer;
  const opt = `${o.name} ${o.lr}`;
  const ro = Object.entries(c.ruleOptions)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `| ${c.rule} | ${opt} | ${typeof c.kernelInit === 'string' ? c.kernelInit : JSON.stringify(c.kernelInit)} | ${ro} | ${c.seed ?? 7} |`;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0 || args[0] === 'list') {
    console.log(Object.keys(STAGES).join('\n'));
    return;
  }
  if (args[0] === 'table') {
    const rows = (await readResults()).filter((r) => !args[1] || r.config.rule === args[1]).sort((a, b) => (b.accuracy || 0) - (a.accuracy || 0));
    console.log('| rule | optimizer | init | rule options (tanh) | seed | test acc | test loss | train s |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`${describe(r.config)} ${r.accuracy.toFixed(4)} | ${r.loss.toFixed(3)} | ${r.seconds.toFixed(1)} |`);
    return;
  }
  await resolveBackend('wasm');
  const data = await loadFashionMnist({ limitTrain: 10000, limitTest: 2000, download: false });
  const done = new Set((await readResults()).map((r) => r.key));
  await mkdir(dirname(RESULTS), { recursive: true });
  for (const stage of args) {
    const make = STAGES[stage];
    if (!make) throw new Error(`unknown stage "${stage}" (known: ${Object.keys(STAGES).join(', ')})`);
    for (const config of make()) {
      const key = keyOf(config);
      if (done.has(key)) continue;
      const r = await runOne(config, data);
      console.log(`${describe(config)} ${r.accuracy.toFixed(4)} | ${r.loss.toFixed(3)} | ${r.seconds.toFixed(1)} |`);
      await appendFile(RESULTS, `${JSON.stringify({ key, config, ...r, stage })}\n`);
      done.add(key);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
