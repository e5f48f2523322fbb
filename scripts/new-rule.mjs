#!/usr/bin/env node
// `pnpm new-rule <id>`: a new rule package, packages/<id>, in the package shape (CONTRIBUTING.md). Plain Node, no
// dependencies. It writes only inside packages/<id>; `npx -y pnpm@10.34.9 install` then links it.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = join(ROOT, 'packages');

const USAGE = `usage: pnpm new-rule <id> [--name "<human name>"] [--summary "<one line>"]

  <id>       the package directory and rule id: lowercase letters and digits, words joined by "-"
             (e.g. sign-symmetry); the package is @bioprop/<id>, the factory its camelCase name
  --name     the rule's human name (default: the id's words)
  --summary  one line for \`bioprop rules\` (default: a TODO)`;

// words a factory may not be named (its camelCase name becomes a function declaration)
const RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for function if ' +
    'implements import in instanceof interface let new null package private protected public return static super switch this ' +
    'throw true try typeof var void while with yield await arguments eval')
    .split(' '),
);

// names the generated files import or declare beside the factory: an id whose factory would shadow one is refused
const TEMPLATE_NAMES = new Set(
  ('tf num options defineRule layerwise deltaFromSignal kernelOf conv2d dense flatten maxPool2d randomSource randomStream ' +
    'resolveBackend resolveLoss sequential stepContext preset adam createTrainer backprop runConformance mlp convNet steps ' +
    'rules bench describe it expect beforeAll network trainer stream batches next')
    .split(' '),
);

export class UsageError extends Error {}

/** Parse `<id> [--name x] [--summary y]`. */
export function parseArgs(argv) {
  const out = { id: undefined, name: undefined, summary: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return { help: true };
    if (a === '--name' || a === '--summary') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      out[a.slice(2)] = v;
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option ${a}`);
    } else if (out.id === undefined) {
      out.id = a;
    } else {
      throw new UsageError(`one id only (got "${out.id}" and "${a}")`);
    }
  }
  if (out.id === undefined) throw new UsageError('give the new package an id');
  return out;
}

const camel = (id) => id.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (id) => camel(id).replace(/^./, (c) => c.toUpperCase());

/** Every workspace package name, to refuse an id whose package exists under another directory. */
function workspaceNames() {
  const names = new Map();
  for (const dir of readdirSync(PACKAGES, { withFileTypes: true })) {
    const file = join(PACKAGES, dir.name, 'package.json');
    if (!dir.isDirectory() || !existsSync(file)) continue;
    try {
      names.set(JSON.parse(readFileSync(file, 'utf8')).name, dir.name);
    } catch {
      // a broken package.json is someone else's problem; the directory check still covers its id
    }
  }
  return names;
}

/** Throw a `UsageError` unless `id` can name a new rule package. */
export function validateId(id) {
  if (typeof id !== 'string' || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(id)) {
    throw new UsageError(`id "${id}" must be lowercase letters and digits, starting with a letter, words joined by single "-" (e.g. sign-symmetry)`);
  }
  if (id.length > 50) throw new UsageError(`id "${id}" is longer than 50 characters`);
  if (RESERVED.has(camel(id))) throw new UsageError(`id "${id}" would name its factory "${camel(id)}", a reserved word in JavaScript`);
  if (TEMPLATE_NAMES.has(camel(id))) throw new UsageError(`id "${id}" would name its factory "${camel(id)}", a name the generated files already use`);
  if (existsSync(join(PACKAGES, id))) throw new UsageError(`packages/${id} exists already: pick another id`);
  const owner = workspaceNames().get(`@bioprop/${id}`);
  if (owner) throw new UsageError(`@bioprop/${id} exists already (packages/${owner}): pick another id`);
}

/** The files of a new package, path → content. */
export function packageFiles({ id, name = id.replace(/-/g, ' '), summary }) {
  const c = camel(id);
  const P = pascal(id);
  const line = summary ?? `TODO: one line on ${name}: what stands in for the kernel on the way down.`;
  const pkg = {
    name: `@bioprop/${id}`,
    version: '0.1.0',
    description: `${name.charAt(0).toUpperCase()}${name.slice(1)} for bioprop: ${line}`,
    license: 'MIT',
    type: 'module',
    sideEffects: false,
    exports: {
      '.': {
        '@bioprop/source': './src/index.ts',
        import: { types: './dist/index.d.ts', default: './dist/index.js' },
      },
      './package.json': './package.json',
    },
    main: './dist/index.js',
    types: './dist/index.d.ts',
    files: ['dist', 'src', '!src/**/*.test.ts'],
    scripts: {
      build: 'tsup',
      typecheck: 'tsc --noEmit',
      test: 'vitest run',
      bench: 'vitest bench --run',
      lint: 'publint --strict --pack npm',
    },
    peerDependencies: { '@bioprop/core': 'workspace:^', '@tensorflow/tfjs-core': '^4.22.0' },
    devDependencies: {
      '@bioprop/backprop': 'workspace:^',
      '@bioprop/core': 'workspace:^',
      '@bioprop/testing': 'workspace:^',
      '@tensorflow/tfjs-backend-cpu': 'catalog:',
      '@tensorflow/tfjs-backend-wasm': 'catalog:',
      '@tensorflow/tfjs-core': 'catalog:',
    },
  };

  const files = {};
  files['package.json'] = `${JSON.stringify(pkg, null, 2)}\n`;
  files['tsup.config.ts'] = "export { default } from '../../config/tsup.config.ts';\n";
  files['vitest.config.ts'] = "export { default } from '../../config/vitest.config.ts';\n";
  files['tsconfig.json'] = '{ "extends": "../../tsconfig.base.json", "include": ["src", "bench", "*.config.ts"] }\n';

  files['src/options.ts'] = `import { num, options, type Infer, type RuleDefaults } from '@bioprop/core';

/**
 * ${name}'s options. The tuned values ARE the defaults (measured: README, "How the defaults were chosen"); there is
 * no second source of truth. Build it with core's combinators: \`num\`, \`bool\`, \`oneOf\`, \`anyOf\`, \`list\`, \`options\`.
 */
export const ${c}Options = options({
  // an example option, to show the pattern: replace it with the method's own
  signalScale: num({ exclusiveMin: 0 })
    .default(1)
    .describe('factor on the signal each layer sends down (1: the transport as it is)'),
});

/** Every option, filled (what the rule runs with). */
export type ${P}Config = Infer<typeof ${c}Options>;
/** What a user passes: any subset of the options. */
export type ${P}Options = Partial<${P}Config>;

/**
 * The training ${name} is tuned with: what an application uses for every field a user leaves out.
 * TODO: measure (CONTRIBUTING.md, "Defaults are measured") and say how in \`source\`.
 */
export const ${c}Defaults: RuleDefaults = {
  optimizer: { name: 'adam', lr: 1e-3 },
  kernelInit: 'glorot',
  batchSize: 128,
  activation: 'tanh',
  source: 'TODO: not measured yet (the data, budget, seeds and command that chose these)',
};
`;

  files[`src/${id}.ts`] = `import * as tf from '@tensorflow/tfjs-core';
import { RuleSupportError, deltaFromSignal, type Layer, type LayerRule, type Tensor } from '@bioprop/core';
import type { ${P}Config } from './options.js';

function kernelOf(layer: Layer, index: number): Tensor {
  const kernel = layer.params[layer.kernelName];
  if (!kernel) throw new RuleSupportError(\`${name}: layer \${index} (\${layer.name}, \${layer.kind}) has no kernel "\${layer.kernelName}"\`);
  return kernel;
}

/**
 * ${name} at one layer: \`δ_l\` from the signal at the block output (the block's exact VJP), the kernel's gradients
 * from \`δ_l\`, and a signal sent to the kernel input through what stands in for the kernel. As generated it is
 * backprop (the kernel itself stands in); the method goes where the comment says.
 */
export function ${c}Rule(o: ${P}Config): LayerRule {
  return {
    id: '${id}',
    name: '${name}',
    options: o,
    usesSignal: true,
    // 'any': an error rule crosses residual adds; a rule whose signals are targets says 'chain'
    graphs: 'any',
    check({ layer, index }) {
      kernelOf(layer, index);
    },
    // State the rule keeps goes in what \`init\` returns; core makes variables of it, saves and restores it:
    // init({ layer, random, needBelow }) { return { tensors: { B: … }, learned: [], meta: null }; },
    step(ctx) {
      const { layer, layerTrace } = ctx;
      const delta = deltaFromSignal(ctx);
      const grads = layer.paramGrads(layerTrace.input, delta);
      if (!ctx.needBelow) return { delta, grads };
      // ── the method's transport goes here: what stands in for the kernel on the way down, in the kernel's layout.
      //    Backprop sends backwardInput(δ, kernel); feedback alignment backwardInput(δ, B) with a fixed random B kept in
      //    ctx.state.tensors; sign symmetry backwardInput(δ, sign(kernel)). Keep feedbackWeights below in step with it.
      const sent = layer.backwardInput(delta, kernelOf(layer, ctx.index));
      // a multiply by exactly 1 is skipped, so the generated rule is backprop bit for bit
      return { delta, grads, below: { gradOutput: o.signalScale === 1 ? sent : tf.mul(sent, o.signalScale) } };
    },
    // capability: what stands in for the kernel in the signal sent down (diagnostics compare it with the kernel)
    feedbackWeights: ({ layer, index }) => kernelOf(layer, index),
  };
}
`;

  files['src/rules.ts'] = `import { defineRule, layerwise, type RuleEntry } from '@bioprop/core';
import { ${c}Rule } from './${id}.js';
import { ${c}Defaults, ${c}Options } from './options.js';

/** ${name} as applications list it (\`bioprop rules\`): its options schema and tuned training defaults. */
export const ${c}Entry = defineRule({
  id: '${id}',
  name: '${name}',
  summary: ${JSON.stringify(line)},
  supports: ['dense', 'conv2d', 'locallyConnected2d'],
  graphs: 'any',
  options: ${c}Options,
  defaults: ${c}Defaults,
  build: (o) => layerwise(${c}Rule(o)),
});

/** Every rule of this package (what the CLI and \`--plugin\` read). */
export const rules = [${c}Entry] as const satisfies readonly RuleEntry[];
`;

  files['src/index.ts'] = `import type { Rule } from '@bioprop/core';
import type { ${P}Options } from './options.js';
import { ${c}Entry } from './rules.js';

/**
 * ${name}. TODO: the method and its paper in a line or two, the equation of what is sent down. Supports dense,
 * conv2d and locally connected kernels on any graph. Options left out take their tuned defaults.
 */
export function ${c}(options: ${P}Options = {}): Rule {
  return ${c}Entry.create(options);
}

export { ${c}Entry, rules } from './rules.js';
export { ${c}Rule } from './${id}.js';
export { ${c}Defaults, ${c}Options } from './options.js';
export type { ${P}Config, ${P}Options } from './options.js';
`;

  files[`src/${id}.test.ts`] = `// ${name}'s properties. As generated, the transport is the kernel itself, so one step must equal backprop's bit for
// bit: replace these with the method's own properties (an equality it reduces to, a fixed point, what its state does).
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OptionError,
  conv2d,
  dense,
  flatten,
  maxPool2d,
  randomSource,
  resolveBackend,
  resolveLoss,
  sequential,
  stepContext,
  type Network,
  type Rule,
  type StepResult,
  type Tensor,
} from '@bioprop/core';
import { backprop } from '@bioprop/backprop';
import { ${c}, ${c}Entry, rules } from './index.js';

beforeAll(async () => {
  await resolveBackend('wasm');
});

const mlp = (seed: number): Network =>
  sequential({ inputShape: [12], layers: [dense({ units: 10, activation: 'tanh' }), dense({ units: 8, activation: 'tanh' }), dense({ units: 4 })], seed });
const convNet = (seed: number): Network =>
  sequential({
    inputShape: [8, 8, 1],
    layers: [conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }), maxPool2d(2), flatten(), dense({ units: 6, activation: 'tanh' }), dense({ units: 4 })],
    seed,
  });

/** One step of each rule on the same trace, every value it returned as float arrays. */
function steps(net: Network, rulesToStep: Rule[]): Float32Array[][] {
  const s = randomSource(5).stream('data');
  const x = tf.tensor(s.normalArray(6 * net.inputShape.reduce((a, b) => a * b, 1)), [6, ...net.inputShape]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), 4), 'float32'));
  const bound = rulesToStep.map((r) => r.bind(net, randomSource(1)));
  const flat = (r: StepResult) => [...r.signals, ...r.grads.flatMap((g) => Object.keys(g).sort().map((k) => g[k]))].map((t: Tensor) => t.dataSync() as Float32Array);
  try {
    return tf.tidy(() => {
      const trace = net.forward(x);
      const ctx = stepContext({ network: net, trace, target: y, loss: resolveLoss('softmaxCrossEntropy'), step: 0, epoch: 0, random: randomSource(0) });
      return bound.map((b) => flat(b.step(ctx)));
    });
  } finally {
    bound.forEach((b) => b.dispose());
    tf.dispose([x, y]);
  }
}

describe('${name}', () => {
  it('lists itself for any graph and every kernel kind', () => {
    expect(rules).toEqual([${c}Entry]);
    expect(${c}Entry.id).toBe('${id}');
    expect(${c}Entry.graphs).toBe('any');
    expect(${c}().layerRule?.graphs).toBe('any');
  });

  it('rejects unknown options and bad values with an OptionError naming them', () => {
    expect(() => ${c}({ signalScal: 2 } as never)).toThrow(/unknown option "signalScal"/);
    expect(() => ${c}({ signalScale: 0 })).toThrow(OptionError);
    expect(() => ${c}({ signalScale: Number.NaN })).toThrow(OptionError);
  });

  for (const [what, network] of [['an MLP', mlp], ['a conv net with pooling', convNet]] as const) {
    it(\`with the kernel as its transport, one step on \${what} is backprop's, bit for bit\`, () => {
      const net = network(3);
      const [mine, reference] = steps(net, [${c}(), backprop()]);
      expect(mine.length).toBe(reference.length);
      mine.forEach((v, i) => expect(Array.from(v), \`value \${i}\`).toEqual(Array.from(reference[i])));
      net.dispose();
    });
  }

  it('signalScale s multiplies what each layer sends down: δ at depth k from the top is sᵏ times backprop’s', () => {
    const net = mlp(4);
    // s = 2 is exact in floating point, so the comparison is bit for bit
    const [scaled, reference] = steps(net, [${c}({ signalScale: 2 }), backprop()]);
    const L = net.layers.length;
    for (let l = 0; l < L; l++) {
      const factor = 2 ** (L - 1 - l);
      expect(Array.from(scaled[l]), \`δ_\${l}\`).toEqual(Array.from(reference[l], (v) => v * factor));
    }
    net.dispose();
  });
});
`;

  files['src/conformance.test.ts'] = `// The conformance suite of @bioprop/testing: shapes, no leaks, determinism, bit-for-bit resume, the loss falling,
// clear refusals, divergence. Add a network for every kind the rule claims (conv, locally connected, residual).
import { preset, sequential } from '@bioprop/core';
import { runConformance } from '@bioprop/testing';
import { ${c} } from './index.js';

runConformance({ name: '${name}, dense', createRule: () => ${c}() });

runConformance({
  name: '${name}, resnet20-tiny (8×8×3, batch norm, residual blocks)',
  createRule: () => ${c}(),
  network: (seed) => sequential({ ...preset('resnet20-tiny').build({ inputShape: [8, 8, 3], classes: 5 }), seed }),
});
`;

  files['bench/step.bench.ts'] = `// One training step of ${name}, 784-256-256-10 tanh, batch 128, on wasm. Step-time ratios to backprop belong in
// the private integration package (no published package depends on its siblings for its benches).
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { adam, createTrainer, dense, randomStream, resolveBackend, sequential } from '@bioprop/core';
import { ${c} } from '../src/index.js';

await resolveBackend('wasm');

const BATCH = 128;
const network = sequential({
  inputShape: [784],
  layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })],
  seed: 1,
});
const trainer = createTrainer({ network, rule: ${c}(), loss: 'softmaxCrossEntropy', optimizer: adam({ lr: 1e-3 }), seed: 1 });
// 8 seeded batches in turn: one batch repeated is memorized, and its vanishing errors turn into slow denormals
const stream = randomStream(1);
const batches = Array.from({ length: 8 }, (_, b) => [
  tf.tensor(stream.uniformArray(BATCH * 784), [BATCH, 784]),
  tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => (i * 7 + b) % 10), 'int32'), 10),
] as const);
let next = 0;

describe(\`${name}: one training step, 784-256-256-10 tanh, batch \${BATCH}, wasm\`, () => {
  bench('${id}', () => void trainer.step(...batches[next++ % batches.length]), { time: 2000, warmupIterations: 5 });
});
`;

  files['README.md'] = `# @bioprop/${id}

TODO: the method(s), the paper, and the idea in one or two equations. In our convention (rows are samples, a dense
kernel is \`[n_in, n_out]\`, feedback weights in the kernel's layout):

\`\`\`
δ_l = blockVjp(signal at h_l)                     (exact through activation, pooling, batch norm…)
sent down = backwardInput(δ_l, ·)                 TODO: what stands in for the kernel
∇kernel_l = h_{l−1}ᵀ δ_l                           (as backprop, from this δ)
\`\`\`

\`\`\`sh
pnpm add @bioprop/${id} @bioprop/core @bioprop/datasets @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm
\`\`\`

## Use

\`\`\`ts
import { createTrainer, dense, resolveBackend, resolveOptimizer, sequential } from '@bioprop/core';
import { loadDigits } from '@bioprop/datasets';
import { ${c}, ${c}Defaults } from '@bioprop/${id}';

await resolveBackend('wasm', { loaders: { wasm: () => import('@tensorflow/tfjs-backend-wasm') } });
const data = await loadDigits({ limitTrain: 6000, limitTest: 1000 });
const network = sequential({ inputShape: [784], layers: [dense({ units: 256, activation: 'tanh' }), dense({ units: 10 })], seed: 1 });
const trainer = createTrainer({ network, rule: ${c}(), loss: 'softmaxCrossEntropy', optimizer: resolveOptimizer(${c}Defaults.optimizer), seed: 1 });
await trainer.fit(data.train, { epochs: 3, batchSize: ${c}Defaults.batchSize });
console.log(trainer.evaluate(data.test));
\`\`\`

It is written per layer (\`${c}Rule\`), so \`perLayer({ default: ${c}(), layers: { 2: backprop() } })\` composes it.
From the command line: \`bioprop train --rule ${id}\` once the CLI lists the package, or
\`bioprop train --plugin @bioprop/${id} --rule ${id}\`.

## Rules

| id | name | networks | kernels |
|---|---|---|---|
| \`${id}\` | ${name} | any graph | dense, conv2d, locally connected |

## Options

| option | default | meaning |
|---|---|---|
| \`signalScale\` | 1 | factor on the signal each layer sends down (1: the transport as it is) |

Bad values throw an \`OptionError\` at construction (unknown keys included).

## How the defaults were chosen

TODO: the data, budget, seeds and command behind the schema's defaults and \`${c}Defaults\`, with the figures.

## What the tests show

- As generated: with the kernel as its transport, one step equals backprop's bit for bit (an MLP, a conv net with
  pooling); \`signalScale\` s scales δ at depth k from the top by exactly sᵏ. TODO: the method's own properties.
- The conformance suite of \`@bioprop/testing\` on a dense net and on ResNet-20 at width 4 (8×8 inputs).

## Speed

TODO: \`pnpm bench\` (\`bench/step.bench.ts\`) times one training step on wasm; give the step-time ratio to backprop and
how it was measured (the integration package times both in one run).
`;
  return files;
}

/** Write packages/<id>; returns the paths written, relative to the repository root. */
export function generate(args) {
  validateId(args.id);
  // the name is written into string literals and template strings of the generated code
  if (args.name !== undefined && !/^[^'"`\\$\n]+$/.test(args.name)) throw new UsageError('--name may not contain quotes, backticks, backslashes, "$" or newlines');
  const dir = join(PACKAGES, args.id);
  const files = packageFiles(args);
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content, { flag: 'wx' });
    }
  } catch (e) {
    // nothing half-made is left behind
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return Object.keys(files).map((p) => relative(ROOT, join(dir, p)));
}

// run as a script (it is also imported, for its functions)
if (process.argv[1] && existsSync(process.argv[1]) && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const args = parseArgs(process.argv.slice(2));
    if (args.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const written = generate(args);
    console.log(`created packages/${args.id} (@bioprop/${args.id}):\n${written.map((p) => `  ${p}`).join('\n')}
next:
  npx -y pnpm@10.34.9 install                  link it (only pnpm-lock.yaml changes outside packages/${args.id})
  cd packages/${args.id} && npx vitest run     the generated tests pass: the rule is backprop until you change its transport
then write the method in src/${args.id}.ts, its properties in src/${args.id}.test.ts, measure the defaults, fill the README's
TODOs, and add a changeset (npx -y pnpm@10.34.9 changeset). CONTRIBUTING.md has the rest.`);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`new-rule: ${e.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw e;
  }
}
