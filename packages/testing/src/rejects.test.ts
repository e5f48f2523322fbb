// The kit's checks called directly: they pass correct rules (and report figures) and reject broken ones
// with a ConformanceError that says what is wrong.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, resolveBackend, sequential } from '@bioprop/core';
import {
  ConformanceError,
  checkDeterminism,
  checkDivergence,
  checkLossFalls,
  checkNoLeak,
  checkResume,
  checkShapeMismatch,
  checkShapes,
  checkUnsupported,
  probeAngles,
  resolveSetup,
} from './index.js';
import { batchTensors, disposeTrainer } from './setup.js';
import {
  ascentRule,
  backpropWithoutSign,
  disposeForgetsStateRule,
  forgetfulRule,
  leakyFeedbackRule,
  leakyRestoreRule,
  leakyRule,
  localBackprop,
  localFeedbackAlignment,
  mathRandomRule,
  networkWithSideEffect,
  plainErrorRule,
  wrongShapeRule,
  wrongSignalShapeRule,
} from './test-rules.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const signNetwork = () => sequential({ inputShape: [20], layers: [dense({ units: 16, activation: 'sign' }), dense({ units: 5 })] });

describe('checks pass correct rules and report what they measured', () => {
  it('shapes: local backprop updates kernel and bias of every layer', async () => {
    const r = await checkShapes({ createRule: localBackprop });
    expect(r.updated).toEqual([
      ['kernel', 'bias'],
      ['kernel', 'bias'],
      ['kernel', 'bias'],
    ]);
    expect(r.stateKeys).toEqual([]);
  });

  it('shapes: feedback alignment exposes its B per layer in state()', async () => {
    const r = await checkShapes({ createRule: localFeedbackAlignment });
    expect(r.stateKeys).toEqual(['layer1/B', 'layer2/B']);
  });

  it('loss falls for backprop (softmax CE) and feedback alignment, rises for gradient ascent', async () => {
    const bp = await checkLossFalls({ createRule: localBackprop });
    const fa = await checkLossFalls({ createRule: localFeedbackAlignment });
    console.info(`[kit] loss falls: backprop ${bp.initialLoss.toFixed(3)} → ${bp.finalLoss.toFixed(3)}, FA ${fa.initialLoss.toFixed(3)} → ${fa.finalLoss.toFixed(3)} in ${bp.steps} steps`);
    expect(bp.ratio).toBeLessThan(0.8);
    expect(fa.ratio).toBeLessThan(0.8);
    await expect(checkLossFalls({ createRule: ascentRule })).rejects.toThrow(/\[lossFalls\] .* went from/);
  });

  it('the NaN step names step 2 and layer 0', async () => {
    const r = await checkDivergence({ createRule: localBackprop });
    expect(r.step).toBe(2);
    expect(r.layer).toBe(0);
  });

  it('a custom network builder and input shape are used', async () => {
    const r = await checkShapes({
      createRule: localBackprop,
      network: (seed) => sequential({ inputShape: [4, 3], layers: [dense({ units: 6, activation: 'relu' }), dense({ units: 3 })], seed }),
    });
    expect(r.layers).toBe(2);
  });
});

describe('checks reject broken rules', () => {
  it('a rule that leaks a tensor per step', async () => {
    const p = checkNoLeak({ createRule: leakyRule });
    await expect(p).rejects.toThrow(ConformanceError);
    await expect(checkNoLeak({ createRule: leakyRule })).rejects.toThrow(/leaks 1 tensor\(s\) per step/);
  });

  it('a rule whose feedbackWeights keeps a copy (the angle probe leaks), and a probe that keeps a tensor', async () => {
    await expect(checkNoLeak({ createRule: leakyFeedbackRule })).rejects.toThrow(/\[leak\] an angle probe .* leaves 2 tensor\(s\) behind/);
    await expect(checkNoLeak({ createRule: localBackprop, angleProbe: ({ input }) => tf.keep(tf.clone(input)) })).rejects.toThrow(
      /\[leak\] an angle probe .* leaves 1 tensor\(s\) behind/,
    );
    // the kit's own probe on a correct rule gives finite angles, one per layer's signal and one per B
    const t = resolveSetup({ createRule: localFeedbackAlignment }).trainer(1);
    const [x, y] = batchTensors(resolveSetup({ createRule: localFeedbackAlignment }).data(8), t.network, 0, 8);
    const angles = probeAngles({ network: t.network, boundRule: t.boundRule, loss: t.loss, input: x, target: y });
    expect(angles).toHaveLength(3 + 2);
    for (const a of angles) expect(a).toBeGreaterThanOrEqual(0), expect(a).toBeLessThanOrEqual(180);
    tf.dispose([x, y]);
    disposeTrainer(t);
  });

  it('a rule whose loadState keeps the copies it loads (restore leaks)', async () => {
    await expect(checkNoLeak({ createRule: leakyRestoreRule })).rejects.toThrow(/\[leak\] restoreTrainer into the trainer that saved leaves 2 tensor\(s\) behind/);
  });

  it('a rule whose dispose forgets its state (leak across bind → dispose)', async () => {
    await expect(checkNoLeak({ createRule: disposeForgetsStateRule })).rejects.toThrow(/\[leak\] bind → dispose leaves 2 tensor/);
  });

  it('a rule with a wrong update shape', async () => {
    await expect(checkShapes({ createRule: wrongShapeRule })).rejects.toThrow(ConformanceError);
    await expect(checkShapes({ createRule: wrongShapeRule })).rejects.toThrow(/grads\[1\]\.kernel has shape \[12, 16\], the param it updates has \[16, 12\]/);
  });

  it('a rule whose teaching signal is not shaped like a_l', async () => {
    await expect(checkShapes({ createRule: wrongSignalShapeRule })).rejects.toThrow(/signals\[1\] has shape \[16, 16\], a_1 \(trace pre\) has \[16, 12\]/);
  });

  it('a non-deterministic rule (Math.random)', async () => {
    await expect(checkDeterminism({ createRule: mathRandomRule })).rejects.toThrow(ConformanceError);
    await expect(checkDeterminism({ createRule: mathRandomRule })).rejects.toThrow(/\[determinism\] .*differ .*"rule\/layer1\/B"/);
  });

  it('a rule whose state() omits its feedback weights (loses B on save)', async () => {
    // the same rule is deterministic: only saving and restoring exposes it
    await expect(checkDeterminism({ createRule: forgetfulRule })).resolves.toBeTruthy();
    await expect(checkResume({ createRule: forgetfulRule })).rejects.toThrow(ConformanceError);
    await expect(checkResume({ createRule: forgetfulRule })).rejects.toThrow(/\[resume\] train 3 steps → save → 3 more steps differs/);
  });

  it('feedback alignment with B saved in state() resumes bit-for-bit', async () => {
    await expect(checkResume({ createRule: localFeedbackAlignment })).resolves.toMatchObject({ stepsBefore: 3, stepsAfter: 3 });
  });

  it('unsupported: accepts the right RuleSupportError, rejects a wrong message, a plain Error, or no error', async () => {
    const unsupported = { network: signNetwork, match: /sign units are not supported/ };
    await expect(checkUnsupported({ createRule: backpropWithoutSign, unsupported })).resolves.toBeUndefined();
    await expect(checkUnsupported({ createRule: backpropWithoutSign, unsupported: { ...unsupported, match: /conv2d/ } })).rejects.toThrow(
      /does not match \/conv2d\//,
    );
    await expect(checkUnsupported({ createRule: plainErrorRule, unsupported })).rejects.toThrow(/threw Error: .*expected core's RuleSupportError/);
    await expect(checkUnsupported({ createRule: localBackprop, unsupported })).rejects.toThrow(/\[unsupported\] rule\.check\(network\) accepted/);
  });

  it('shape mismatch: a network whose output is wider than the targets is refused by core', async () => {
    await expect(checkShapeMismatch({ createRule: localBackprop })).resolves.toBeUndefined();
  });

  it('divergence: a network whose forward pass changes its weights fails "weights unchanged"', async () => {
    await expect(checkDivergence({ createRule: localBackprop, network: networkWithSideEffect })).rejects.toThrow(
      /\[divergence\] the diverging step changed the training state: "network\/dense_1\/bias"/,
    );
  });

  it('a rule that cannot bind to the test network fails every check with the reason', async () => {
    await expect(checkShapes({ createRule: backpropWithoutSign, network: () => signNetwork() })).rejects.toThrow(
      /\[shapes\] could not build a trainer .*RuleSupportError: layer 0 \(dense_1\): sign units/,
    );
  });
});
