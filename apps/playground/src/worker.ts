// The training worker: picks the backend, loads the data, trains every chosen rule step by step (round robin, same
// batches) and posts losses, test results, diagnostics and weights. The page's thread never computes. Every read is
// `await data()`: tfjs-webgpu's synchronous read in a worker returns zeros and then loses the device (Chromium 156,
// SwiftShader adapter).
import { resolveBackend, type BackendName } from '@bioprop/core';
import simdWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import plainWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import { Batches, DEFAULT_CONFIG, RULES, browserPresets, createRun, diagnose, disposeRun, evaluate, loadData, trainStep, weightImages, type Diagnostics, type Run } from './experiment';
import { checkpointBundle, parseBundle, restoreRuns } from './checkpoints';
import type { PlaygroundConfig } from './experiment';
import type { FromWorker, ToWorker } from './protocol';

// the application installs the backends and hands core their loaders; nothing loads until it is tried
const loaders = {
  webgpu: () => import('@tensorflow/tfjs-backend-webgpu'),
  webgl: () => import('@tensorflow/tfjs-backend-webgl'),
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // the .wasm files are assets of this build, found next to it on any static host
    wasm.setWasmPaths({ 'tfjs-backend-wasm.wasm': plainWasm, 'tfjs-backend-wasm-simd.wasm': simdWasm, 'tfjs-backend-wasm-threaded-simd.wasm': threadedWasm });
    return wasm;
  },
  cpu: () => import('@tensorflow/tfjs-backend-cpu'),
};

const post = (msg: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(msg, transfer);
post({
  type: 'catalog',
  rules: RULES.map((r) => ({ id: r.id, name: r.name, summary: r.summary, supports: r.supports, graphs: r.graphs })),
  presets: browserPresets(),
  defaults: DEFAULT_CONFIG,
});
let stopRequested = false;
let running = false;
/** The last run's trainers, kept for a checkpoint download until the next start. */
let last: { runs: Run[]; config: PlaygroundConfig } | null = null;

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === 'stop') stopRequested = true;
  else if (msg.type === 'checkpoints' && last && !running) {
    checkpointBundle(last.runs, last.config)
      .then((text) => post({ type: 'checkpoints', text }))
      .catch((err: unknown) => post({ type: 'error', message: `checkpoint: ${err instanceof Error ? err.message : String(err)}` }));
  } else if (msg.type === 'start' && !running) {
    running = true;
    stopRequested = false;
    train(msg).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) })).finally(() => (running = false));
  }
};

async function train({ config, idxFiles, resume }: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  if (last) for (const run of last.runs) disposeRun(run);
  last = null;
  const choice = await resolveBackend(config.backend as BackendName | 'auto', { loaders });
  post({ type: 'backend', choice: { name: choice.name, tfBackend: choice.tfBackend, reason: choice.reason, adapter: choice.adapter } });

  const data = await loadData(config.data, config.seed, idxFiles);
  const { train: trainSplit, test } = data.splits;
  post({ type: 'data', summary: data.summary, classification: data.classification, sampleShape: trainSplit.sampleShape });

  const runs: Run[] = [];
  for (const id of config.rules) {
    try {
      runs.push(createRun(id, config, data));
    } catch (err) {
      post({ type: 'skipped', rule: id, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  if (runs.length === 0) throw new Error('no rule can train this network');
  let step = 0;
  try {
    if (resume) step = await restoreRuns(runs, parseBundle(resume.text, resume.name), resume.name);
  } catch (err) {
    for (const run of runs) disposeRun(run);
    throw err;
  }
  post({ type: 'runs', rules: runs.map((r) => ({ id: r.id, name: r.entry.name })), layers: runs[0].network.layers.map((l) => `${l.name} (${l.kind})`), firstStep: step });

  // the batch order is the config's seed; a resumed run skips the batches its checkpoint has seen
  const batches = new Batches(trainSplit, config.batchSize, config.seed);
  for (let s = 0; s < step; s++) batches.next();
  const started = performance.now();
  const report = async (final: boolean) => {
    if (final || (config.evalEvery > 0 && step % config.evalEvery === 0)) {
      const results: Record<string, { loss: number; accuracy: number | null }> = {};
      for (const run of runs) results[run.id] = await evaluate(run, test, data.classification);
      post({ type: 'eval', step, results });
    }
    if (config.diagEvery > 0 && (final || step % config.diagEvery === 0)) {
      const results: Record<string, Diagnostics | { error: string }> = {};
      for (const run of runs) {
        try {
          results[run.id] = await diagnose(run, test);
        } catch (err) {
          results[run.id] = { error: err instanceof Error ? err.message : String(err) };
        }
      }
      post({ type: 'diagnostics', step, results });
      for (const run of runs) {
        const images = await weightImages(run);
        post({ type: 'weights', step, rule: run.id, images }, images.map((i) => i.data.buffer));
      }
    }
  };

  try {
    await report(false);
    while (step < config.steps && !stopRequested) {
      const idx = batches.next();
      const t0 = performance.now();
      const losses: Record<string, number> = {};
      for (const run of [...runs]) {
        try {
          losses[run.id] = await trainStep(run, trainSplit, idx);
        } catch (err) {
          // a run that diverges stops alone; the others go on
          post({ type: 'skipped', rule: run.id, reason: `stopped at step ${step + 1}: ${err instanceof Error ? err.message : String(err)}` });
          runs.splice(runs.indexOf(run), 1);
          disposeRun(run);
        }
      }
      if (runs.length === 0) throw new Error('every run stopped');
      step++;
      post({ type: 'losses', step, losses, stepMs: (performance.now() - t0) / runs.length });
      if (step < config.steps) await report(false);
    }
    await report(true);
    post({ type: 'done', step, stopped: stopRequested, seconds: (performance.now() - started) / 1000 });
  } finally {
    last = { runs, config };
  }
}
