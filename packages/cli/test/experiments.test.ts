import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';
import { loadRules, parseExperiment, parseInit, resolveRun } from '../src/index.js';

const EXPERIMENT = `# a small experiment: two rules, two seeds
name: tiny
data: { name: digits, limitTrain: 300, limitTest: 100, validation: 50 }
arch: 784-32-10
rules:
  - bp
  - { id: fa, options: { feedbackInit: glorot } }
epochs: 1
seeds: [1, 2]
backend: wasm
`;

const hashTree = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => {
        const p = join(d.parentPath, d.name);
        return [p.slice(dir.length + 1), createHash('sha256').update(readFileSync(p)).digest('hex')];
      }),
  );

describe('bioprop run <experiment file>', () => {
  it('runs a YAML file with --set overrides into a run folder holding config, versions, results, metrics and curves; a second run never touches the first', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'tiny.yaml'), EXPERIMENT);
    const r = await runCli(['run', 'tiny.yaml', '--set', 'rules.1.options.feedbackInit={"uniform":0.05}', '--set', 'metrics.alignment=true', '--set', 'metrics.everySteps=1'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const [name] = readdirSync(join(cwd, 'runs'));
    expect(name).toMatch(/^tiny-\d{8}T\d{6}Z$/);
    const folder = join(cwd, 'runs', name);
    const exp = JSON.parse(readFileSync(join(folder, 'experiment.json'), 'utf8'));
    // the resolved experiment: overrides applied, every default filled
    expect(exp.rules[1]).toEqual({ id: 'fa', options: { feedbackInit: { uniform: 0.05 } } });
    expect(exp).toMatchObject({ name: 'tiny', epochs: 1, seeds: [1, 2], sameOptimizer: false, loss: 'auto', maxSteps: null, metrics: { angles: true, alignment: true, everySteps: 1 } });
    const env = JSON.parse(readFileSync(join(folder, 'environment.json'), 'utf8'));
    expect(env.packages['@bioprop/core']).toMatch(/^\d+\.\d+\.\d+/);
    expect(env.packages['@bioprop/feedback-alignment']).toMatch(/^\d+\.\d+\.\d+/);
    expect(env.backend.name).toBe('wasm');
    expect(env.machine.cpus).toBeGreaterThan(0);
    expect(env).toHaveProperty('git');
    const res = JSON.parse(readFileSync(join(folder, 'results.json'), 'utf8'));
    expect(res.complete).toBe(true);
    expect(res.runs.map((x: { label: string; seed: number }) => `${x.label}/${x.seed}`)).toEqual(['bp/1', 'fa/1', 'bp/2', 'fa/2']);
    for (const x of res.runs) {
      expect(x.trainCount).toBe(250);
      expect(x.validationCount).toBe(50);
      expect(x.bestValidationError).toBeGreaterThanOrEqual(0);
      expect(x.history[0].validationError).toBe(x.bestValidationError);
    }
    // the rule options recorded are what the rule ran with, every default filled
    expect(res.runs[1].ruleOptions).toMatchObject({ feedbackInit: { uniform: 0.05 } });
    expect(res.summary.map((s: { label: string; testError: { n: number } }) => [s.label, s.testError.n])).toEqual([
      ['bp', 2],
      ['fa', 2],
    ]);
    const lines = readFileSync(join(folder, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const epochLines = lines.filter((l) => l.type === 'epoch');
    expect(epochLines.map((l) => l.run)).toEqual(['bp-seed1', 'fa-seed1', 'bp-seed2', 'fa-seed2']);
    // FA's feedback is B, a fixed random matrix: its angle to the output kernel is far from 0
    const fa = epochLines[1].alignment.weights[0];
    expect(fa.layer).toBe(1);
    expect(fa.angleDeg).toBeGreaterThan(45);
    expect(epochLines[0].alignment.weights).toEqual([]);
    // every step's loss (everySteps 1), numbered from 1 within each run
    const bpSteps = lines.filter((l) => l.type === 'step' && l.run === 'bp-seed1');
    expect(bpSteps.map((l) => l.step)).toEqual(Array.from({ length: bpSteps.length }, (_, i) => i + 1));
    expect(bpSteps.length).toBe(Math.ceil(250 / res.runs[0].batchSize));
    expect(bpSteps.every((l) => Number.isFinite(l.loss))).toBe(true);
    expect(readFileSync(join(folder, 'curves.svg'), 'utf8').startsWith('<svg')).toBe(true);
    expect(existsSync(join(folder, 'checkpoints', 'fa-seed2', 'manifest.json'))).toBe(true);
    expect(r.stdout).toMatch(/^bp\s+\d+\.\d\d ± \d+\.\d\d%\s+2\s/m);

    const before = hashTree(folder);
    const second = await runCli(['run', 'tiny.yaml'], cwd);
    expect(second.code, second.stderr).toBe(0);
    expect(readdirSync(join(cwd, 'runs'))).toHaveLength(2);
    expect(hashTree(folder)).toEqual(before);
  });

  it('--out - writes only the results JSON on stdout; --max-steps cuts each run short', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'tiny.yaml'), EXPERIMENT);
    const r = await runCli(['run', 'tiny.yaml', '--max-steps', '3', '--set', 'seeds=[7]', '--set', 'batchSize=20', '--out', '-'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.runs.map((x: { samples: number; stoppedBy: string }) => [x.samples, x.stoppedBy])).toEqual([
      [60, 'maxSteps'],
      [60, 'maxSteps'],
    ]);
    expect(r.stderr).toMatch(/^rule\s+test error/m);
    expect(existsSync(join(cwd, '-'))).toBe(false);
  });

  it('refuses an --out file that exists before training (exit 2, no run folder), and replaces it with --force', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'tiny.yaml'), EXPERIMENT);
    writeFileSync(join(cwd, 'r.json'), 'earlier results');
    const r = await runCli(['run', 'tiny.yaml', '--out', 'r.json'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out r\.json exists/);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
    expect(readFileSync(join(cwd, 'r.json'), 'utf8')).toBe('earlier results');
    const bad = await runCli(['run', 'tiny.yaml', '--out', 'r.json/x.json'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a folder/);
    const forced = await runCli(['run', 'tiny.yaml', '--max-steps', '1', '--out', 'r.json', '--force'], cwd);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8')).kind).toBe('bioprop-results');
  });

  it('names the key and the allowed values of a bad file (exit 2)', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'tiny.yaml'), EXPERIMENT);
    const cases: [string[], RegExp][] = [
      [['--set', 'data.nmae=mnist'], /tiny\.yaml\.data: unknown option "nmae" \(known: name, dir, limitTrain, limitTest, validation, normalize\)/],
      [['--set', 'loss=hinge'], /tiny\.yaml\.loss must be one of 'auto', 'softmaxCrossEntropy', 'mse', 'cauchy', got "hinge"/],
      [['--set', 'rules.1.options.feedbackInt=glorot'], /rules\[1\]\.options: unknown option "feedbackInt"/],
      [['--set', 'epochs=1.5'], /tiny\.yaml\.epochs must be an integer/],
      [['--set', '__proto__.x=1'], /not a settings path/],
      [['--set', 'rules.5.id=bp'], /rules has 2 items/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['run', 'tiny.yaml', ...args], cwd);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
  });

  it('bioprop schema prints the JSON Schema with every rule and its options', async () => {
    const r = await runCli(['schema'], tempDir());
    expect(r.code, r.stderr).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toContain('epochs');
    const rule = schema.properties.rule.anyOf;
    expect(rule[0].enum).toContain('fa');
    const fa = rule.find((s: { properties?: { id?: { const?: string } } }) => s.properties?.id?.const === 'fa');
    expect(Object.keys(fa.properties.options.properties)).toContain('feedbackInit');
  });
});

describe('compare --same-optimizer', () => {
  it('trains every rule with one optimizer, init and batch size, and says so', async () => {
    const cwd = tempDir();
    const r = await runCli(['compare', '--rules', 'bp,fa', '--same-optimizer', '--dataset', 'digits', '--limit-train', '200', '--limit-test', '100', '--arch', '784-16-10', '--epochs', '1', '--backend', 'wasm', '--out', 'r.json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8'));
    expect(json.mode).toBe('same');
    const setups = json.runs.map((x: { optimizer: unknown; batchSize: number; kernelInit: string; mode: string }) => [x.optimizer, x.batchSize, x.kernelInit, x.mode]);
    expect(setups).toEqual([
      [{ name: 'adam', lr: 0.001 }, 32, 'glorot', 'same'],
      [{ name: 'adam', lr: 0.001 }, 32, 'glorot', 'same'],
    ]);
    expect(r.stdout).toMatch(/one optimizer for every rule/);
  });
});

describe("a rule's own optimizer, batch size and init", () => {
  const doc = (rules: unknown[], extra: Record<string, unknown> = {}) => ({ name: 'own', data: { name: 'digits' }, arch: '784-16-10', rules, epochs: 1, ...extra });
  const shape = { sampleShape: [784], outputs: 10, task: 'classification' as const, count: 1000 };

  it('win over the experiment-wide settings for that rule only; the other rules keep theirs', async () => {
    const registry = await loadRules();
    const exp = parseExperiment(
      doc(['bp', { id: 'fa', optimizer: { name: 'adam', lr: 3e-4 }, batchSize: 64, init: 'uniform:0.05' }, { id: 'dfa', label: 'dfa-own', optimizer: { name: 'rmsprop', lr: 1e-4 } }], {
        lr: 0.01,
        batchSize: 16,
      }),
    );
    const [bp, fa, dfa] = exp.rules.map((rule) => resolveRun({ experiment: exp, rule, seed: 1 }, registry, shape).config);
    const bpTuned = registry.entry('bp').defaults.optimizer;
    // bp: the experiment's lr over its tuned optimizer and the experiment's batch size
    expect([bp.optimizer, bp.batchSize, bp.kernelInit]).toEqual([{ ...bpTuned, lr: 0.01 }, 16, registry.entry('bp').defaults.kernelInit]);
    // fa: exactly its own optimizer (the experiment's lr does not apply), batch and init
    expect([fa.optimizer, fa.batchSize, fa.kernelInit]).toEqual([{ name: 'adam', lr: 3e-4 }, 64, parseInit('uniform:0.05')]);
    expect(fa.defaultsSource).toMatch(/optimizer, batchSize, init as the experiment gives for fa$/);
    expect([dfa.label, dfa.optimizer, dfa.batchSize]).toEqual(['dfa-own', { name: 'rmsprop', lr: 1e-4 }, 16]);
    // with one optimizer for every rule, the rule's own still wins
    const one = parseExperiment(doc(['bp', { id: 'fa', optimizer: { name: 'sgd', lr: 0.1 } }], { optimizer: { name: 'adam', lr: 1e-3 } }));
    expect(one.rules.map((rule) => resolveRun({ experiment: one, rule, seed: 1 }, registry, shape).config.optimizer)).toEqual([
      { name: 'adam', lr: 1e-3 },
      { name: 'sgd', lr: 0.1 },
    ]);
  });

  it('are checked like the experiment-wide ones, and refused beside sameOptimizer', () => {
    expect(() => parseExperiment(doc([{ id: 'fa', optimizer: { name: 'adam', lr: -1 } }]))).toThrow(/experiment\.rules\[0\]\.optimizer\.lr must/);
    expect(() => parseExperiment(doc([{ id: 'fa', batchSize: 0 }]))).toThrow(/experiment\.rules\[0\]\.batchSize must be an integer ≥ 1/);
    expect(() => parseExperiment(doc([{ id: 'fa', init: 'gloriot' }]))).toThrow(/experiment\.rules\[0\]\.init/);
    expect(() => parseExperiment(doc([{ id: 'fa', batchsize: 32 }]))).toThrow(/unknown option "batchsize"/);
    expect(() => parseExperiment(doc([{ perLayer: ['fa', 'bp'], label: 'mix', optimizer: { name: 'adam', lr: 1e-3 } }]))).not.toThrow();
    expect(() => parseExperiment(doc(['bp', { id: 'fa', batchSize: 64, init: 'glorot' }], { sameOptimizer: true }))).toThrow(
      /experiment\.rules: "fa" sets its own batchSize, init, but sameOptimizer trains every rule with one optimizer, batch size and init/,
    );
  });

  it('run through bioprop run, the results and the published schema saying so', async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'own.json'),
      JSON.stringify(doc(['bp', { id: 'fa', optimizer: { name: 'sgd', lr: 0.05 }, batchSize: 50 }], { data: { name: 'digits', limitTrain: 200, limitTest: 100 }, backend: 'wasm', seeds: [1] })),
    );
    const r = await runCli(['run', 'own.json', '--out', 'r.json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const runs = JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8')).runs as { label: string; optimizer: unknown; batchSize: number }[];
    expect(runs.map((x) => [x.label, x.optimizer, x.batchSize])).toEqual([
      ['bp', expect.objectContaining({ name: 'momentum' }), 128],
      ['fa', { name: 'sgd', lr: 0.05 }, 50],
    ]);
    const schema = JSON.parse((await runCli(['schema'], cwd)).stdout);
    const fa = schema.properties.rules.items.anyOf.find((s: { properties?: { id?: { const?: string } } }) => s.properties?.id?.const === 'fa');
    expect(fa.properties.optimizer).toEqual({ $ref: '#/$defs/rule-optimizer' });
    expect(schema.$defs['rule-optimizer'].properties.name.enum).toContain('adam');
    expect(schema.$defs['rule-batchSize'].type).toBe('integer');
  }, 120_000);
});
