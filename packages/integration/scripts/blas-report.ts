// Prints one JSON report: the raw sgemm peak (1024², through the addon), samples/s of the 784-1000-10 tanh step
// per backend (cpu, wasm, blas) and rule (bp, fa, dfa), each step's sgemm efficiency against that peak, and
// one Trainer.fit epoch of 784-256-256-10 on 60,000 samples. Every target is reported, met or missed.
// Rates and efficiencies come from the median step; the `AtBest` figures from the fastest step, which on a
// shared machine is the closest to what the code does on an idle one (loadavg is in the report).
//
// Needs the blas addon (it measures that backend); here rather than in @bioprop/tfjs-backend-blas because it steps
// the rule packages' rules.
//
//   pnpm --filter @bioprop/integration blas-report                 (full: ~1–2 min on 2 idle cores)
//   … blas-report --quick                                          (fewer steps, no wasm/cpu epoch)
import { cpus, loadavg } from 'node:os';
import { blasInfo, measureSgemmPeak } from '@bioprop/tfjs-backend-blas';
import { epochData, timeEpoch, timeStep, type EpochTiming, type StepTiming } from '../src/dense-workloads.js';
import { denseStepFlops, type DenseRuleKind } from '../src/flops.js';

const quick = process.argv.includes('--quick');
const STEP_NET = [784, 1000, 10];
const EPOCH_NET = [784, 256, 256, 10];
const BATCH = 128;
const TARGET_STEP_SAMPLES = 10_000;
const TARGET_EFFICIENCY = 0.3;
const TARGET_EPOCH_SAMPLES = 12_000;

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const loadBefore = loadavg();
log('measuring the sgemm peak (1024², best of 5)…');
const peakBefore = measureSgemmPeak({ size: 1024, reps: 5 });

const steps: StepTiming[] = [];
const plan: [string, DenseRuleKind, number][] = [
  ['cpu', 'bp', quick ? 2 : 3],
  ['wasm', 'bp', quick ? 10 : 30],
  ['wasm', 'fa', quick ? 10 : 30],
  ['wasm', 'dfa', quick ? 10 : 30],
  ['blas', 'bp', quick ? 30 : 100],
  ['blas', 'fa', quick ? 30 : 100],
  ['blas', 'dfa', quick ? 30 : 100],
];
// the peak is sampled between workloads too: on a shared machine one sample can land on a busy moment
const peakSamples = [peakBefore];
for (const [backend, rule, n] of plan) {
  log(`step ${STEP_NET.join('-')} ${rule} on ${backend} (${n} steps)…`);
  steps.push(await timeStep(backend, rule, STEP_NET, BATCH, n, backend === 'cpu' ? 1 : 5));
  peakSamples.push(measureSgemmPeak({ size: 1024, reps: 3 }));
}

log('loading 60,000 samples for the epoch…');
const { data, source } = await epochData();
const epochs: EpochTiming[] = [];
for (const backend of quick ? ['blas'] : ['blas', 'wasm']) {
  log(`epoch ${EPOCH_NET.join('-')} bp on ${backend}…`);
  epochs.push(await timeEpoch(backend, 'bp', EPOCH_NET, data, BATCH));
}

const peakAfter = measureSgemmPeak({ size: 1024, reps: 5 });
peakSamples.push(peakAfter);
const peak = Math.max(...peakSamples);
const blasStep = (rule: DenseRuleKind) => steps.find((s) => s.backend === 'blas' && s.rule === rule)!;
const efficiency = (s: StepTiming) => s.gflops / peak;
const blasEpoch = epochs.find((e) => e.backend === 'blas')!;

const report = {
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavgBefore: loadBefore.map((x) => round(x)),
    loadavgAfter: loadavg().map((x) => round(x)),
    blas: blasInfo(),
  },
  sgemmPeakGflops: { size: 1024, threads: blasInfo().openblasThreads, samples: peakSamples.map((p) => round(p, 1)), used: round(peak, 1) },
  step: {
    network: `${STEP_NET.join('-')} tanh (linear output, softmax cross-entropy), SGD`,
    batch: BATCH,
    gflopPerStep: Object.fromEntries((['bp', 'fa', 'dfa'] as const).map((r) => [r, round(denseStepFlops({ sizes: STEP_NET, batch: BATCH, rule: r }) / 1e9, 4)])),
    results: steps.map((s) => ({
      backend: s.backend,
      rule: s.rule,
      steps: s.steps,
      msMedian: round(s.msMedian, 3),
      msMean: round(s.msMean, 3),
      msP10: round(s.msP10, 3),
      msBest: round(s.msBest, 3),
      cpuMsMean: round(s.cpuMsMean, 3),
      samplesPerSec: Math.round(s.samplesPerSec),
      samplesPerSecAtBest: Math.round((BATCH / s.msBest) * 1000),
      gflops: round(s.gflops, 1),
      efficiency: round(efficiency(s), 3),
      efficiencyAtBest: round((denseStepFlops({ sizes: STEP_NET, batch: BATCH, rule: s.rule }) / (s.msBest / 1000) / 1e9) / peak, 3),
    })),
  },
  epoch: {
    network: `${EPOCH_NET.join('-')} tanh, bp, batch ${BATCH}, Trainer.fit, no evaluation`,
    data: source,
    results: epochs.map((e) => ({ ...e, trainSeconds: round(e.trainSeconds, 3), wallSeconds: round(e.wallSeconds, 3), samplesPerSec: Math.round(e.samplesPerSec), finalLoss: round(e.finalLoss, 4) })),
  },
  targets: {
    stepSamplesPerSec: { target: TARGET_STEP_SAMPLES, measured: Math.round(blasStep('bp').samplesPerSec), met: blasStep('bp').samplesPerSec >= TARGET_STEP_SAMPLES },
    faStepSamplesPerSec: { target: TARGET_STEP_SAMPLES, measured: Math.round(blasStep('fa').samplesPerSec), met: blasStep('fa').samplesPerSec >= TARGET_STEP_SAMPLES },
    efficiency: Object.fromEntries(
      (['bp', 'fa', 'dfa'] as const).map((r) => [r, { target: TARGET_EFFICIENCY, measured: round(efficiency(blasStep(r)), 3), met: efficiency(blasStep(r)) >= TARGET_EFFICIENCY }]),
    ),
    epochSamplesPerSec: { target: TARGET_EPOCH_SAMPLES, measured: Math.round(blasEpoch.samplesPerSec), met: blasEpoch.samplesPerSec >= TARGET_EPOCH_SAMPLES },
  },
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
