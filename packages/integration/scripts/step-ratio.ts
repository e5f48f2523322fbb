/**
 * Step-time ratios to backprop, every rule package's rules through one harness (src/step-ratio.ts): backprop and the
 * rules step interleaved on the same batches, the order flipping every round, so load on a shared machine hits all
 * alike; per rule the median and fastest step and the median per-round ratio to backprop.
 *
 *   pnpm --filter @bioprop/integration step-ratio --rules fa,dfa [--arch 784-256-256-10,nokland-7x240,lenet5]
 *     [--backend wasm,blas] [--batch-size 128] [--repeats 60] [--warmup 10] [--optimizer momentum --lr 0.01 | --optimizer tuned]
 *     [--frozen] [--data auto|digits|random] [--batches 40] [--activation tanh] [--seed 1] [--json]
 *
 * Rules take options in brackets: `--rules "lra-fdbk,lra-fdbk(k=10),aa(feedbackSamples=128)"`. `--arch` takes widths
 * (hidden layers `--activation`, linear output) or a core preset name. `--frozen` uses learning rate 0: the same
 * compute with weights that never change (tanh's cost depends on its input's range, and the rules train differently).
 * The table goes to stdout, progress to stderr.
 */
import { loadavg } from 'node:os';
import { checkRules, formatTable, measureStepRatios, parseStepRatioArgs } from '../src/step-ratio.js';

if (process.argv.includes('--help')) {
  process.stdout.write(`step-ratio --rules fa,dfa,lra-fdbk(k=10) [--arch widths|preset|JSON config,…] [--backend wasm,blas,cpu,tensorflow]
  [--batch-size 128] [--repeats 60] [--warmup 10] [--optimizer momentum|sgd|adam|rmsprop [--lr 0.01] | --optimizer tuned]
  [--frozen] [--data auto|digits|random] [--batches 40] [--activation tanh] [--seed 1] [--json]
(packages/integration/README.md describes each flag)\n`);
  process.exit(0);
}
let options: ReturnType<typeof parseStepRatioArgs>;
try {
  options = parseStepRatioArgs(process.argv.slice(2));
  checkRules(options.rules);
} catch (err) {
  // a bad flag, rule id or rule option: the message, not a stack
  process.stderr.write(`step-ratio: ${(err as Error).message}\n`);
  process.exit(2);
}
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const log = (line: string) => process.stderr.write(`${line}\n`);
log(`load average ${load()}`);
const rows = await measureStepRatios(options, log);
log(`load average ${load()}`);
process.stdout.write(`${options.json ? JSON.stringify(rows, null, 2) : formatTable(rows)}\n`);
