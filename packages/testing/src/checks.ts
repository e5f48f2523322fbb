import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { angleDeg, randomSource, stepContext, type JsonValue, type Tensor, type Trainer } from '@bioprop/core';
import { restoreTrainer, saveCheckpoint } from '@bioprop/core/node';
import { ConformanceError, type ConformanceCheck } from './errors.js';
import { batchTensors, disposeTrainer, resolveSetup, type AngleProbeArgs, type ConformanceSetup, type ResolvedSetup } from './setup.js';
import { diffSnapshots, snapshot } from './snapshot.js';

const describeError = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
const isFinite = (t: Tensor) => tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Build a trainer for a check; a rule that cannot even bind to the test network fails that check, clearly. */
function trainerFor(check: ConformanceCheck, s: ResolvedSetup, seed: number): Trainer {
  try {
    return s.trainer(seed);
  } catch (e) {
    throw new ConformanceError(check, `could not build a trainer with the rule on the test network: ${describeError(e)}`);
  }
}

async function withTrainer<T>(check: ConformanceCheck, s: ResolvedSetup, seed: number, body: (t: Trainer) => Promise<T> | T): Promise<T> {
  const trainer = trainerFor(check, s, seed);
  try {
    return await body(trainer);
  } finally {
    disposeTrainer(trainer);
  }
}

function withBatch<T>(s: ResolvedSetup, trainer: Trainer, body: (x: Tensor, y: Tensor) => T): T {
  const [x, y] = batchTensors(s.data(s.batchSize), trainer.network, 0, s.batchSize);
  try {
    return body(x, y);
  } finally {
    x.dispose();
    y.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------

export interface ShapesReport {
  layers: number;
  /** Per layer, the param keys the rule updates. */
  updated: string[][];
  stateKeys: string[];
}

/**
 * Every update `grads[l][k]` has exactly the shape of layer l's param `k` (and `k` is one of its params);
 * every teaching signal `signals[l]` has the shape of `a_l`; updates and signals are finite on a benign batch;
 * the rule updates something; after training steps `state()` keeps its keys and shapes, holds variables,
 * and is finite. Checked on the rule's raw step result, before any optimizer sees it.
 */
export async function checkShapes(setup: ConformanceSetup): Promise<ShapesReport> {
  const s = resolveSetup(setup);
  return withTrainer('shapes', s, s.seed, (trainer) =>
    withBatch(s, trainer, (x, y) => {
      const net = trainer.network;
      const L = net.layers.length;
      const problems: string[] = [];
      const updated: string[][] = [];
      const stateBefore = Object.fromEntries(Object.entries(trainer.boundRule.state()).map(([k, v]) => [k, shapeStr(v.shape)]));
      tf.tidy(() => {
        const trace = net.forward(x, { training: true, random: trainer.random.stream('activations') });
        const target = tf.reshape(y, trace.output.shape);
        const ctx = stepContext({ network: net, trace, target, loss: trainer.loss, step: 0, epoch: 0, random: trainer.random });
        let result;
        try {
          result = trainer.boundRule.step(ctx);
        } catch (e) {
          throw new ConformanceError('shapes', `the rule's step threw on the test network: ${describeError(e)}`);
        }
        if (!Array.isArray(result?.grads) || result.grads.length !== L) {
          problems.push(`StepResult.grads must have one entry per layer (${L}), got ${Array.isArray(result?.grads) ? result.grads.length : typeof result?.grads}`);
        }
        if (!Array.isArray(result?.signals) || result.signals.length !== L) {
          problems.push(`StepResult.signals must have one entry per layer (${L}), got ${Array.isArray(result?.signals) ? result.signals.length : typeof result?.signals}`);
        }
        if (problems.length) return;
        net.layers.forEach((layer, l) => {
          const g = result.grads[l] ?? {};
          updated.push(Object.keys(g));
          for (const [k, t] of Object.entries(g)) {
            const p = layer.params[k];
            if (!p) {
              problems.push(`grads[${l}] has key "${k}", which is not a param of layer ${l} (${layer.name}: ${Object.keys(layer.params).join(', ')})`);
            } else if (p.shape.join() !== t.shape.join()) {
              problems.push(`grads[${l}].${k} has shape ${shapeStr(t.shape)}, the param it updates has ${shapeStr(p.shape)}`);
            } else if (!isFinite(t)) {
              problems.push(`grads[${l}].${k} is not finite on a benign batch`);
            }
          }
          const sig = result.signals[l];
          const pre = trace.layers[l].pre;
          if (!sig) problems.push(`signals[${l}] is missing`);
          else if (sig.shape.join() !== pre.shape.join()) {
            problems.push(`signals[${l}] has shape ${shapeStr(sig.shape)}, a_${l} (trace pre) has ${shapeStr(pre.shape)}`);
          } else if (!isFinite(sig)) problems.push(`signals[${l}] is not finite on a benign batch`);
        });
        const modules = new Map(net.nodes.map((n) => [n.module.name, n.module]));
        for (const [name, g] of Object.entries(result.moduleGrads ?? {})) {
          const m = modules.get(name);
          if (!m) problems.push(`moduleGrads has module "${name}", which is not in the network`);
          else
            for (const [k, t] of Object.entries(g)) {
              const p = m.params[k];
              if (!p) problems.push(`moduleGrads.${name} has key "${k}", which is not a param of ${name}`);
              else if (p.shape.join() !== t.shape.join()) problems.push(`moduleGrads.${name}.${k} has shape ${shapeStr(t.shape)}, the param ${shapeStr(p.shape)}`);
              else if (!isFinite(t)) problems.push(`moduleGrads.${name}.${k} is not finite on a benign batch`);
            }
        }
        if (problems.length === 0 && updated.every((keys) => keys.length === 0)) {
          problems.push('the rule returned no update for any layer');
        }
      });
      if (problems.length) throw new ConformanceError('shapes', `${problems.join('; ')}`);
      // a full trainer step (optimizer, afterUpdate) must keep rule state well formed
      for (let i = 0; i < 2; i++) trainer.step(x, y);
      const state = trainer.boundRule.state();
      const after = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, shapeStr(v.shape)]));
      if (JSON.stringify(after) !== JSON.stringify(stateBefore)) {
        problems.push(`state() changed its keys or shapes during training: ${JSON.stringify(stateBefore)} → ${JSON.stringify(after)}`);
      }
      for (const [k, v] of Object.entries(state)) {
        if (typeof (v as { assign?: unknown }).assign !== 'function') problems.push(`state()["${k}"] is not a tf.Variable (loadState cannot assign it)`);
        else if (v.isDisposed) problems.push(`state()["${k}"] is disposed`);
        else if (!isFinite(v)) problems.push(`state()["${k}"] is not finite after 2 training steps`);
      }
      for (const k of trainer.boundRule.learned()) {
        if (!(k in state)) problems.push(`learned() names "${k}", which is not a key of state()`);
      }
      tf.tidy(() =>
        net.layers.forEach((layer, l) => {
          const b = trainer.boundRule.feedbackWeights(l);
          const kernel = layer.params[layer.kernelName];
          if (b && b.shape.join() !== kernel.shape.join()) {
            problems.push(`feedbackWeights(${l}) has shape ${shapeStr(b.shape)}, layer ${l}'s kernel ${shapeStr(kernel.shape)} (feedback is stored in the kernel's layout)`);
          }
        }),
      );
      if (problems.length) throw new ConformanceError('shapes', problems.join('; '));
      return { layers: L, updated, stateKeys: Object.keys(state) };
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The tensor work of an angle probe, as diagnostics does it: the rule's step on a batch without training (its state
 * and meta put back, a throwaway random source), then, per layer, the angle of its kernel update to the kernel and
 * of its feedback weights (where the rule has them) to the kernel. Returns the angles in degrees.
 */
export function probeAngles(args: AngleProbeArgs): number[] {
  const { network, boundRule, loss, input, target } = args;
  const angles: number[] = [];
  tf.tidy(() => {
    const state = boundRule.state();
    const saved = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, tf.clone(v)]));
    const meta = JSON.stringify(boundRule.getMeta() ?? null);
    const random = randomSource(0);
    const trace = network.forward(input, { training: true, random: random.stream('forward') });
    const ctx = stepContext({ network, trace, target, loss, step: 0, epoch: 0, random });
    try {
      const result = boundRule.step(ctx);
      network.layers.forEach((layer, l) => {
        const g = result.grads[l]?.[layer.kernelName];
        if (g) angles.push(angleDeg(g, layer.params[layer.kernelName]));
      });
    } finally {
      for (const [k, v] of Object.entries(state)) if (!v.isDisposed) v.assign(saved[k]);
      boundRule.setMeta(JSON.parse(meta) as JsonValue);
    }
    network.layers.forEach((layer, l) => {
      const b = boundRule.feedbackWeights(l);
      if (b) angles.push(angleDeg(b, layer.params[layer.kernelName]));
    });
  });
  return angles;
}

export interface LeakReport {
  /** `tf.memory().numTensors` during training (after warm-up), and before the network was built. */
  tensorsDuringTraining: number;
  tensorsBaseline: number;
}

/**
 * `tf.memory().numTensors` is unchanged by `bind → dispose`, unchanged by training steps (measured over 3 steps
 * after 2 warm-up steps, since optimizers create slots lazily), by evaluation, by an angle probe (`angleProbe`,
 * default `probeAngles`), by a checkpoint save, a restore into the same trainer, and a restore into a fresh trainer
 * followed by its dispose; and back to where it started once the trainer and the network are disposed.
 */
export async function checkNoLeak(setup: ConformanceSetup): Promise<LeakReport> {
  const s = resolveSetup(setup);
  const baseline = tf.memory().numTensors;
  const net = s.network(s.seed);
  try {
    const withNet = tf.memory().numTensors;
    const bound = s.setup.createRule().bind(net, randomSource(s.seed));
    bound.dispose();
    const afterBind = tf.memory().numTensors;
    if (afterBind !== withNet) {
      throw new ConformanceError(
        'leak',
        `bind → dispose leaves ${afterBind - withNet} tensor(s) behind (${withNet} → ${afterBind}): BoundRule.dispose must free every tensor bind created`,
      );
    }
  } finally {
    net.dispose();
  }
  const trainer = trainerFor('leak', s, s.seed);
  let during = 0;
  try {
    withBatch(s, trainer, (x, y) => {
      trainer.step(x, y);
      trainer.step(x, y);
      const n0 = tf.memory().numTensors;
      const steps = 3;
      for (let i = 0; i < steps; i++) trainer.step(x, y);
      const n1 = tf.memory().numTensors;
      during = n1;
      if (n1 !== n0) {
        throw new ConformanceError(
          'leak',
          `a training step leaks ${(n1 - n0) / steps} tensor(s) per step (${n0} → ${n1} over ${steps} steps after 2 warm-up steps): ` +
            'run the step inside tf.tidy, or dispose what you keep',
        );
      }
    });
    // evaluation, an angle probe, and a checkpoint round trip keep nothing either: each measured on its own
    const evalData = s.data(2 * s.batchSize);
    const keeps = async (what: string, hint: string, body: () => unknown) => {
      const before = tf.memory().numTensors;
      await body();
      const after = tf.memory().numTensors;
      if (after !== before) throw new ConformanceError('leak', `${what} leaves ${after - before} tensor(s) behind (${before} → ${after}): ${hint}`);
    };
    await keeps('evaluate', 'evaluate must run in tf.tidy', () => trainer.evaluate(evalData, s.batchSize));
    const probe = s.setup.angleProbe ?? probeAngles;
    await keeps('an angle probe (a rule step without training, then feedbackWeights)', 'step and feedbackWeights must return tensors a tidy frees', () =>
      withBatch(s, trainer, (input, target) => probe({ network: trainer.network, boundRule: trainer.boundRule, loss: trainer.loss, input, target })),
    );
    const dir = await mkdtemp(join(tmpdir(), 'bioprop-leak-'));
    try {
      await keeps('saveCheckpoint', 'serializing must only read tensors', () =>
        saveCheckpoint(dir, { network: trainer.network, boundRule: trainer.boundRule, trainer }),
      );
      await keeps('restoreTrainer into the trainer that saved', 'restore must dispose what it copies', () => restoreTrainer(trainer, dir));
      // into a fresh trainer: its slots and state are created from the checkpoint, and freed by its dispose
      await keeps('restoreTrainer into a fresh trainer, then its dispose', 'restore must dispose what it copies, dispose what restore made', async () => {
        const fresh = trainerFor('leak', s, s.seed + 1);
        try {
          await restoreTrainer(fresh, dir);
        } finally {
          disposeTrainer(fresh);
        }
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    disposeTrainer(trainer);
  }
  const end = tf.memory().numTensors;
  if (end !== baseline) {
    throw new ConformanceError(
      'leak',
      `${end - baseline} tensor(s) remain after trainer.dispose() and network.dispose() (${baseline} → ${end}): state created during training must be freed by BoundRule.dispose`,
    );
  }
  return { tensorsDuringTraining: during, tensorsBaseline: baseline };
}

// ---------------------------------------------------------------------------------------------------------

export interface DeterminismReport {
  steps: number;
  tensorsCompared: number;
}

/** Two runs with the same seed (network, trainer, shuffled `fit`) end with bitwise identical weights, rule state and optimizer slots. */
export async function checkDeterminism(setup: ConformanceSetup): Promise<DeterminismReport> {
  const s = resolveSetup(setup);
  const batches = 3;
  const epochs = 2;
  const data = s.data(batches * s.batchSize);
  const run = () =>
    withTrainer('determinism', s, s.seed, async (trainer) => {
      const initial = snapshot(trainer, { optimizer: false });
      await trainer.fit(data, { epochs, batchSize: s.batchSize, shuffle: true });
      const end = snapshot(trainer);
      return { initial, end };
    });
  const a = await run();
  const b = await run();
  const initialDiff = diffSnapshots(a.initial, b.initial);
  if (initialDiff) {
    throw new ConformanceError('determinism', `two runs with seed ${s.seed} differ already after bind, before any step: ${initialDiff} (draw rule state from the RandomSource bind receives, never Math.random)`);
  }
  const diff = diffSnapshots(a.end, b.end);
  if (diff) {
    throw new ConformanceError(
      'determinism',
      `two runs with seed ${s.seed} differ after ${batches * epochs} steps: ${diff} (draw every random number from the run's RandomSource, never Math.random)`,
    );
  }
  return { steps: batches * epochs, tensorsCompared: a.end.tensors.size };
}

// ---------------------------------------------------------------------------------------------------------

export interface ResumeReport {
  /** Steps before the checkpoint and after it (step-wise phase). */
  stepsBefore: number;
  stepsAfter: number;
  /** Where `fit` was stopped (0-based epoch, batches done in it). */
  fitStoppedAt: { epoch: number; batch: number };
}

const RESUME_HINT = 'is all rule state in state()/getMeta(), and does loadState/setMeta restore it?';

/**
 * Train k steps, save a checkpoint (core's `saveCheckpoint` with the trainer), continue m steps (A). Build a
 * fresh trainer with a DIFFERENT seed (so nothing can come from re-drawing the same random numbers), restore
 * the checkpoint into it, run the same m steps (B): weights, rule state and optimizer slots must be bitwise
 * equal. Then the same through `fit`, stopped mid-epoch: the position and the shuffle stream must resume.
 */
export async function checkResume(setup: ConformanceSetup): Promise<ResumeReport> {
  const s = resolveSetup(setup);
  const other = s.seed + 1;
  const dir = await mkdtemp(join(tmpdir(), 'bioprop-conformance-'));
  try {
    // phase 1: explicit steps on fixed batches
    const k = 3;
    const m = 3;
    const data = s.data((k + m) * s.batchSize);
    const stepAt = (t: Trainer, i: number) => {
      const [x, y] = batchTensors(data, t.network, i * s.batchSize, s.batchSize);
      try {
        return t.step(x, y);
      } finally {
        x.dispose();
        y.dispose();
      }
    };
    const stepDir = join(dir, 'steps');
    const a = await withTrainer('resume', s, s.seed, async (t) => {
      for (let i = 0; i < k; i++) stepAt(t, i);
      await saveCheckpoint(stepDir, { network: t.network, boundRule: t.boundRule, trainer: t });
      const losses: number[] = [];
      for (let i = k; i < k + m; i++) losses.push(stepAt(t, i));
      return { snap: snapshot(t), losses };
    });
    const b = await withTrainer('resume', s, other, async (t) => {
      await restoreTrainer(t, stepDir);
      const losses: number[] = [];
      for (let i = k; i < k + m; i++) losses.push(stepAt(t, i));
      return { snap: snapshot(t), losses };
    });
    const diff = diffSnapshots(a.snap, b.snap, ['uninterrupted', 'restored']);
    if (diff) {
      throw new ConformanceError(
        'resume',
        `train ${k} steps → save → ${m} more steps differs from restoring the checkpoint into a fresh trainer (seed ${other}) and running the same ${m} steps: ${diff}; ${RESUME_HINT}`,
      );
    }
    if (a.losses.some((l, i) => !Object.is(l, b.losses[i]))) {
      throw new ConformanceError('resume', `losses after restoring differ: [${a.losses}] vs [${b.losses}]; ${RESUME_HINT}`);
    }

    // phase 2: fit, stopped mid-epoch, with shuffling
    const batches = 3;
    const epochs = 3;
    const stopAt = { epoch: 1, batch: 1 };
    const fitData = s.data(batches * s.batchSize);
    const fitDir = join(dir, 'fit');
    const fa = await withTrainer('resume', s, s.seed, async (t) => {
      const ac = new AbortController();
      const first = await t.fit(fitData, {
        epochs,
        batchSize: s.batchSize,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.epoch === stopAt.epoch && p.batch === stopAt.batch) ac.abort();
        },
      });
      if (!first.stopped) throw new ConformanceError('resume', 'fit did not stop when its AbortSignal fired (core trainer)');
      await saveCheckpoint(fitDir, { network: t.network, boundRule: t.boundRule, trainer: t });
      const rest = await t.fit(fitData, { epochs, batchSize: s.batchSize });
      return { snap: snapshot(t), losses: rest.epochs.map((e) => e.trainLoss) };
    });
    const fb = await withTrainer('resume', s, other, async (t) => {
      await restoreTrainer(t, fitDir);
      const rest = await t.fit(fitData, { epochs, batchSize: s.batchSize });
      return { snap: snapshot(t), losses: rest.epochs.map((e) => e.trainLoss) };
    });
    const fitDiff = diffSnapshots(fa.snap, fb.snap, ['uninterrupted', 'restored']);
    if (fitDiff) {
      throw new ConformanceError(
        'resume',
        `fit stopped mid-epoch (epoch ${stopAt.epoch + 1}, after batch ${stopAt.batch}), saved and resumed in a fresh trainer ends differently from the uninterrupted fit: ${fitDiff}; ${RESUME_HINT}`,
      );
    }
    if (fa.losses.length !== fb.losses.length || fa.losses.some((l, i) => !Object.is(l, fb.losses[i]))) {
      throw new ConformanceError('resume', `epoch losses after resuming fit differ: [${fa.losses}] vs [${fb.losses}]; ${RESUME_HINT}`);
    }
    return { stepsBefore: k, stepsAfter: m, fitStoppedAt: stopAt };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

export interface LossFallsReport {
  initialLoss: number;
  finalLoss: number;
  ratio: number;
  steps: number;
}

/** On the seeded task, `fit` lowers the full-set loss to at most `maxRatio` (default 0.8) of its initial value. */
export async function checkLossFalls(setup: ConformanceSetup): Promise<LossFallsReport> {
  const s = resolveSetup(setup);
  const o = s.setup.lossFalls ?? {};
  const samples = o.samples ?? 256;
  const epochs = o.epochs ?? 8;
  const batchSize = o.batchSize ?? 32;
  const maxRatio = o.maxRatio ?? 0.8;
  const data = s.data(samples);
  return withTrainer('lossFalls', s, s.seed, async (t) => {
    const initialLoss = t.evaluate(data).loss;
    await t.fit(data, { epochs, batchSize });
    const finalLoss = t.evaluate(data).loss;
    const ratio = finalLoss / initialLoss;
    const steps = epochs * Math.ceil(samples / batchSize);
    if (!(ratio <= maxRatio)) {
      throw new ConformanceError(
        'lossFalls',
        `the ${s.loss.name} loss on the seeded ${s.task} task went from ${initialLoss.toFixed(4)} to ${finalLoss.toFixed(4)} in ${steps} steps ` +
          `(ratio ${ratio.toFixed(3)}, required ≤ ${maxRatio}) with optimizer ${s.optimizer.name} ${JSON.stringify(s.optimizer.config)}`,
      );
    }
    return { initialLoss, finalLoss, ratio, steps };
  });
}

// ---------------------------------------------------------------------------------------------------------

function expectRuleSupportError(what: string, run: () => unknown, match: RegExp): void {
  let result: unknown;
  try {
    result = run();
  } catch (e) {
    const err = e as Error;
    if (err?.name !== 'RuleSupportError') {
      throw new ConformanceError('unsupported', `${what} threw ${describeError(e)}, expected core's RuleSupportError`);
    }
    if (!match.test(err.message)) {
      throw new ConformanceError('unsupported', `${what} threw RuleSupportError "${err.message}", which does not match ${match}`);
    }
    return;
  }
  (result as { dispose?: () => void } | undefined)?.dispose?.();
  throw new ConformanceError('unsupported', `${what} accepted a network the rule cannot handle; expected a RuleSupportError matching ${match}`);
}

/** `rule.check(network)` and `rule.bind(network)` both throw `RuleSupportError` matching `unsupported.match`, and a refused bind leaks nothing. */
export async function checkUnsupported(setup: ConformanceSetup): Promise<void> {
  const u = setup.unsupported;
  if (!u) throw new TypeError('checkUnsupported: pass `unsupported: { network, match }`');
  const s = resolveSetup(setup);
  const net = u.network();
  try {
    const rule = s.setup.createRule();
    expectRuleSupportError('rule.check(network)', () => rule.check(net), u.match);
    const before = tf.memory().numTensors;
    expectRuleSupportError('rule.bind(network, random)', () => rule.bind(net, randomSource(s.seed)), u.match);
    const after = tf.memory().numTensors;
    if (after !== before) throw new ConformanceError('unsupported', `a refused bind leaves ${after - before} tensor(s) behind`);
  } finally {
    net.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Targets of a different size than the network's output give core's `ShapeError` from `step` and from `fit`,
 * before anything changes: weights, rule state and the tensor count are untouched.
 */
export async function checkShapeMismatch(setup: ConformanceSetup): Promise<void> {
  const s = resolveSetup(setup);
  await withTrainer('shapeMismatch', s, s.seed, async (t) => {
    const wrong = s.data(2 * s.batchSize, 1);
    const before = snapshot(t);
    const n0 = tf.memory().numTensors;
    const expectShapeError = async (what: string, run: () => unknown) => {
      try {
        await run();
      } catch (e) {
        if ((e as Error)?.name !== 'ShapeError') {
          throw new ConformanceError('shapeMismatch', `${what} with targets one wider than the network output threw ${describeError(e)}, expected core's ShapeError`);
        }
        return;
      }
      throw new ConformanceError('shapeMismatch', `${what} accepted targets one wider than the network output; expected a ShapeError`);
    };
    await expectShapeError('trainer.step', () => {
      const [x, y] = batchTensors(wrong, t.network, 0, s.batchSize);
      try {
        return t.step(x, y);
      } finally {
        x.dispose();
        y.dispose();
      }
    });
    await expectShapeError('trainer.fit', () => t.fit(wrong, { epochs: 1, batchSize: s.batchSize }));
    const n1 = tf.memory().numTensors;
    if (n1 !== n0) throw new ConformanceError('shapeMismatch', `the refused step leaves ${n1 - n0} tensor(s) behind`);
    const diff = diffSnapshots(before, snapshot(t), ['before', 'after']);
    if (diff) throw new ConformanceError('shapeMismatch', `a refused step changed the training state: ${diff}`);
  });
}

// ---------------------------------------------------------------------------------------------------------

export interface DivergenceReport {
  message: string;
  step: number;
  layer: number | null;
}

/**
 * A step whose input holds a NaN throws core's `DivergenceError` naming the step and a layer; that step leaves
 * weights, rule state, optimizer slots, the step counter and the tensor count unchanged, and the trainer can
 * take a normal step afterwards.
 */
export async function checkDivergence(setup: ConformanceSetup): Promise<DivergenceReport> {
  const s = resolveSetup(setup);
  return withTrainer('divergence', s, s.seed, (t) =>
    withBatch(s, t, (x, y) => {
      t.step(x, y);
      const stepBefore = t.position.step;
      const before = snapshot(t);
      const values = x.dataSync().slice();
      values[0] = NaN;
      const bad = tf.tensor(values, x.shape);
      let caught: unknown = null;
      const n0 = tf.memory().numTensors;
      try {
        t.step(bad, y);
      } catch (e) {
        caught = e;
      } finally {
        bad.dispose();
      }
      const n1 = tf.memory().numTensors + 1; // `bad` was disposed after n0 was read
      if (!caught) throw new ConformanceError('divergence', 'a step on an input holding NaN did not throw; expected a DivergenceError');
      const err = caught as Error & { step?: number; layer?: number | null };
      if (err.name !== 'DivergenceError') {
        throw new ConformanceError('divergence', `a step on an input holding NaN threw ${describeError(err)}, expected core's DivergenceError`);
      }
      const expectedStep = stepBefore + 1;
      if (err.step !== expectedStep || !err.message.includes(`step ${expectedStep}`)) {
        throw new ConformanceError('divergence', `the DivergenceError must name step ${expectedStep}: step=${err.step}, "${err.message}"`);
      }
      if (typeof err.layer !== 'number' || !err.message.includes(`layer ${err.layer}`)) {
        throw new ConformanceError('divergence', `the DivergenceError must name the layer where non-finite values appeared: layer=${err.layer}, "${err.message}"`);
      }
      if (n1 !== n0) throw new ConformanceError('divergence', `the diverging step leaves ${n1 - n0} tensor(s) behind`);
      if (t.position.step !== stepBefore) {
        throw new ConformanceError('divergence', `the diverging step advanced the step counter (${stepBefore} → ${t.position.step})`);
      }
      const diff = diffSnapshots(before, snapshot(t), ['before', 'after']);
      if (diff) throw new ConformanceError('divergence', `the diverging step changed the training state: ${diff}`);
      const next = t.step(x, y);
      if (!Number.isFinite(next)) throw new ConformanceError('divergence', `after a refused step, a normal step gives loss ${next}`);
      return { message: err.message, step: err.step, layer: err.layer };
    }),
  );
}
