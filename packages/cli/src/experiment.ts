/**
 * Experiment files: one JSON or YAML document describes a run completely (data, network, rules with their options,
 * optimizer, loss, budget, seeds, backend, metrics, and for reproductions the published figures and every deviation
 * from the paper). `train` and `compare` flags build the same object, so every run goes through one path.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  OptionError,
  anyOf,
  bool,
  custom,
  list,
  num,
  oneOf,
  optimizerConfigSchema,
  options,
  str,
  type JsonSchema,
  type JsonValue,
  type OptimizerConfig,
  type Schema,
} from '@bioprop/core';
import { BACKEND_CHOICES, type BackendPreference } from './backend.js';
import { DATASETS, type DatasetName } from './data.js';
import { UsageError } from './errors.js';
import { parseArch, parseInit } from './network.js';
import type { RuleRegistry } from './rules.js';

/** Options of a rule, as its schema (`entry.options`) reads them. */
export type RuleOptions = { [key: string]: JsonValue };

/** One rule of an experiment: its id and options, or a per-layer composition of rules; `label` names it in tables. */
export type RuleRef =
  | ({ id: string; options?: RuleOptions; label?: string } & RuleTraining)
  | ({ perLayer: LeafRule[] | { default: LeafRule; layers: Record<string, LeafRule> }; label: string } & RuleTraining);
/**
 * How one rule of an experiment trains, over the experiment's settings: papers that tune every rule by its own search
 * (Bartunov et al.) give each its own optimizer, batch size and init.
 */
export interface RuleTraining {
  /** This rule's optimizer, exactly as given (over the experiment's `optimizer` and `lr`). */
  optimizer?: OptimizerConfig;
  batchSize?: number;
  init?: string;
}
/** The keys of `RuleTraining`. */
export const RULE_TRAINING_KEYS = ['optimizer', 'batchSize', 'init'] as const;
export type LeafRule = { id: string; options?: RuleOptions };

export type LossChoice = 'auto' | 'softmaxCrossEntropy' | 'mse' | 'cauchy';
export type Normalize = 'auto' | 'none' | 'standardize';

/** The figures a reproduction is held against. */
export interface Published {
  title?: string;
  /** Paper, table, and what the figure is. */
  source: string;
  /**
   * Which of our numbers is compared: the last epoch's test error, the best validation error (biotorch), or the mean
   * angle (°) of the hidden layers' teaching signals to backprop's at the end (Akrout).
   */
  metric: 'testError' | 'testLoss' | 'bestValidationError' | 'hiddenAngle';
  /** Published value (%) by rule label. */
  values: Record<string, number>;
  /** How close counts as reproduced (percentage points), by rule label; absent: no target, reported only. */
  tolerance?: Record<string, number>;
  note?: string;
}

/** A resolved experiment: every key present (null where a rule's or preset's default applies). */
export interface Experiment {
  name: string;
  description: string | null;
  data: {
    name: DatasetName;
    dir: string | null;
    limitTrain: number | null;
    limitTest: number | null;
    /** Hold out the last n training samples (after `limitTrain`) as a validation set, measured every epoch. */
    validation: number;
    /** `auto`: a preset's own choice (standardize for lenet5 and the conv presets), none for MLPs. */
    normalize: Normalize;
  };
  /** Widths (`784-256-10`), a preset name, or a layer list (null: the dataset's default MLP). */
  arch: string | JsonValue[] | null;
  activation: string | null;
  rules: RuleRef[];
  /** Packages whose `rules` export adds rules (installed where bioprop runs, or paths). */
  plugins: string[];
  /** One optimizer for every rule (exactly as given), or null: each rule's tuned optimizer. */
  optimizer: OptimizerConfig | null;
  /** With `optimizer` null: this learning rate over each rule's tuned optimizer. */
  lr: number | null;
  /** Like for like: every rule with the same optimizer, schedule, init and batch size (see `sameOptimizerDefaults`). */
  sameOptimizer: boolean;
  init: string | null;
  loss: LossChoice;
  epochs: number;
  batchSize: number | null;
  seeds: number[];
  backend: BackendPreference;
  /** Stop every run after this many steps (smoke runs of long configs). */
  maxSteps: number | null;
  /**
   * Stop a run as diverged when its running loss exceeds this many times the loss at the initial weights (null: never; a
   * non-finite loss always stops it).
   */
  divergenceFactor: number | null;
  metrics: {
    /** Per-layer angle between each rule's teaching signal and backprop's, every epoch. */
    angles: boolean;
    /** Feedback–forward weight alignment (B vs Wᵀ: angle, norm ratio), eᵀWBe and the angle to pseudobackprop, every epoch. */
    alignment: boolean;
    /** Write the training loss to metrics.jsonl every this many steps. */
    everySteps: number;
  };
  published: Published | null;
  /** Where this setup differs from the paper's, one line each. */
  deviations: string[];
  /** Compute estimate on the reference machine, in words. */
  compute: string | null;
}

/** What `sameOptimizer: true` gives every rule when the experiment names no optimizer, batch size or init. */
export const SAME_OPTIMIZER_DEFAULTS = {
  optimizer: { name: 'adam', lr: 1e-3 } as OptimizerConfig,
  batchSize: 32,
  /** MLPs; presets keep their own init. */
  init: 'glorot',
} as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const ruleOptionsSchema = custom<RuleOptions>(
  'an object of the rule\'s options (see bioprop rules --json)',
  (v) => (isObject(v) ? (v as RuleOptions) : undefined),
  { type: 'object' },
);
const ruleId = custom<string>('a rule id (lowercase letters, digits and -)', (v) => (typeof v === 'string' && /^[a-z][a-z0-9-]*$/.test(v) ? v : undefined), {
  type: 'string',
  pattern: '^[a-z][a-z0-9-]*$',
});
const initSchema = custom<string>(
  'glorot, glorot:gain, heNormal, zero, fanInUniform, uniform:ω or normal:σ',
  (v) => {
    if (typeof v !== 'string') return undefined;
    try {
      parseInit(v);
      return v;
    } catch {
      return undefined;
    }
  },
  { type: 'string' },
);

const positiveInt = num({ min: 1, integer: true });
const leafRule = options({ id: ruleId, options: ruleOptionsSchema.optional() });
const leafOrId = custom<LeafRule>(
  'a rule id or { id, options }',
  (v, path) => (typeof v === 'string' ? { id: ruleId.parse(v, path) } : leafRule.parse(v, path)),
  { anyOf: [ruleId.toJSONSchema(), leafRule.toJSONSchema()] },
);
/** A rule's own optimizer, batch size and init (over the experiment's). */
const ruleTraining = {
  optimizer: optimizerConfigSchema.optional().describe("this rule's optimizer, exactly as given (over the experiment's optimizer and lr)"),
  batchSize: positiveInt.optional().describe("this rule's batch size"),
  init: initSchema.optional().describe("this rule's kernel init"),
};
const ruleTrainingJson = Object.fromEntries(Object.entries(ruleTraining).map(([k, v]) => [k, v.toJSONSchema()]));
const ruleRefSchema: Schema<RuleRef> = custom<RuleRef>(
  'a rule id, { id, options, label }, or { perLayer, label }',
  (v, path) => {
    if (typeof v === 'string') return { id: ruleId.parse(v, path) };
    if (isObject(v) && 'perLayer' in v) {
      return options({
        perLayer: anyOf(
          list(leafOrId, { minItems: 1 }),
          options({ default: leafOrId, layers: custom<Record<string, LeafRule>>('layer indexes to rules', (m, p) => layerMap(m, p), { type: 'object' }) }),
        ),
        label: ruleId.describe('how the composition is named in tables and folders'),
        ...ruleTraining,
      }).parse(v, path) as RuleRef;
    }
    return options({ id: ruleId, options: ruleOptionsSchema.optional(), label: ruleId.optional(), ...ruleTraining }).parse(v, path) as RuleRef;
  },
  {
    anyOf: [
      ruleId.toJSONSchema(),
      {
        type: 'object',
        properties: { id: ruleId.toJSONSchema(), options: { type: 'object' }, label: ruleId.toJSONSchema(), ...ruleTrainingJson },
        required: ['id'],
        additionalProperties: false,
      },
      { type: 'object', properties: { perLayer: {}, label: ruleId.toJSONSchema(), ...ruleTrainingJson }, required: ['perLayer', 'label'], additionalProperties: false },
    ],
  },
);

function layerMap(m: unknown, path: string): Record<string, LeafRule> | undefined {
  if (!isObject(m)) return undefined;
  const out: Record<string, LeafRule> = {};
  for (const [k, v] of Object.entries(m)) {
    if (!/^\d+$/.test(k)) throw new OptionError(`${path}: "${k}" is not a layer index (0, 1, …)`);
    out[k] = leafOrId.parse(v, `${path}.${k}`);
  }
  return out;
}

const archSchema = custom<string | JsonValue[]>(
  'layer widths joined by - (input first), a preset name, or a layer list',
  (v, path) => {
    if (typeof v === 'string') {
      try {
        parseArch(v);
      } catch (e) {
        throw new OptionError(`${path}: ${(e as Error).message.replace(/^--arch /, '')}`);
      }
      return v;
    }
    if (Array.isArray(v)) {
      try {
        parseArch(JSON.stringify(v));
      } catch (e) {
        throw new OptionError(`${path}: ${(e as Error).message.replace(/^--arch layer list: /, '')}`);
      }
      return v as JsonValue[];
    }
    return undefined;
  },
  { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] },
);

const seed = num({ min: 0, max: 0xffffffff, integer: true });

/** The schema of an experiment file (rules' own options are checked against each rule's schema afterwards). */
function experimentShape(rule: Schema<RuleRef>) {
  return {
    $schema: str().optional().describe('the JSON Schema this file follows (editor completion)'),
    name: custom<string>('a name of letters, digits, ., _ and - (it names the run folder)', (v) => (typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$/.test(v) ? v : undefined), {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$',
    }),
    description: str().nullable().default(null),
    data: options({
      name: oneOf(...DATASETS).describe('dataset'),
      dir: str().nullable().default(null).describe('read the files from this directory only'),
      limitTrain: positiveInt.nullable().default(null).describe('use the first n training samples'),
      limitTest: positiveInt.nullable().default(null).describe('use the first n test samples'),
      validation: num({ min: 0, integer: true }).default(0).describe('hold out the last n training samples for validation'),
      normalize: oneOf('auto', 'none', 'standardize').default('auto').describe("inputs: a preset's own choice (auto), as stored, or standardized by the training set"),
    }),
    arch: archSchema.nullable().default(null),
    activation: str().nullable().default(null).describe("hidden activation of an MLP (null: the rule's)"),
    rule: rule.optional().describe('the rule (or use rules)'),
    rules: list(rule, { minItems: 1 }).optional().describe('several rules, trained one after another on the same data and seeds'),
    plugins: list(str()).default([]).describe('packages whose rules export adds rules'),
    optimizer: optimizerConfigSchema.nullable().default(null).describe("one optimizer for every rule (null: each rule's tuned one)"),
    lr: num({ exclusiveMin: 0 }).nullable().default(null).describe("learning rate over each rule's tuned optimizer"),
    sameOptimizer: bool().default(false).describe('every rule with one optimizer, schedule, init and batch size'),
    init: initSchema.nullable().default(null),
    loss: oneOf('auto', 'softmaxCrossEntropy', 'mse', 'cauchy').default('auto'),
    epochs: positiveInt,
    batchSize: positiveInt.nullable().default(null),
    seeds: list(seed, { minItems: 1 }).default([0]),
    backend: oneOf(...BACKEND_CHOICES).default('auto'),
    maxSteps: positiveInt.nullable().default(null).describe('stop each run after this many steps (smoke runs)'),
    divergenceFactor: num({ min: 1 }).nullable().default(100).describe("stop a run whose running loss exceeds this many times the loss at the initial weights, or whose first loss is over 10,000 times an all-zero output's (null: never)"),
    metrics: options({
      angles: bool().default(true),
      alignment: bool().default(false),
      everySteps: positiveInt.default(10),
    }).default({ angles: true, alignment: false, everySteps: 10 }),
    published: options({
      source: str(),
      metric: oneOf('testError', 'testLoss', 'bestValidationError', 'hiddenAngle').default('testError'),
      title: str().optional().describe('a heading for the report'),
      values: custom<Record<string, number>>('an object of published figures (error in %, angle in °) by rule label', (v) => numberMap(v), { type: 'object', additionalProperties: { type: 'number' } }),
      tolerance: custom<Record<string, number>>('an object of tolerances (points) by rule label', (v) => numberMap(v), { type: 'object', additionalProperties: { type: 'number' } }).optional(),
      note: str().optional(),
    })
      .nullable()
      .default(null),
    deviations: list(str()).default([]),
    compute: str().nullable().default(null),
  };
}

function numberMap(v: unknown): Record<string, number> | undefined {
  if (!isObject(v)) return undefined;
  for (const x of Object.values(v)) if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
  return v as Record<string, number>;
}

const fileSchema = options(experimentShape(ruleRefSchema));

/** Validate a parsed experiment document (unknown keys are errors naming the allowed ones) and fill the defaults. */
export function parseExperiment(doc: unknown, where = 'experiment'): Experiment {
  let parsed;
  try {
    parsed = fileSchema.parse(doc, where) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof OptionError) throw new UsageError(e.message);
    throw e;
  }
  const { rule, rules, $schema: _schema, ...rest } = parsed;
  if (rule !== undefined && rules !== undefined) throw new UsageError(`${where}: give rule or rules, not both`);
  if (rule === undefined && rules === undefined) throw new UsageError(`${where}: rule (or rules) is required`);
  const all = (rules as RuleRef[] | undefined) ?? [rule as RuleRef];
  const labels = new Set<string>();
  for (const r of all) {
    const l = ruleLabel(r);
    if (labels.has(l)) throw new UsageError(`${where}.rules: "${l}" appears twice (give one of them a label)`);
    labels.add(l);
  }
  const exp = { ...rest, rules: all } as unknown as Experiment;
  if (exp.sameOptimizer) {
    for (const r of all) {
      const own = RULE_TRAINING_KEYS.filter((k) => r[k] !== undefined);
      if (own.length) {
        throw new UsageError(`${where}.rules: "${ruleLabel(r)}" sets its own ${own.join(', ')}, but sameOptimizer trains every rule with one optimizer, batch size and init`);
      }
    }
  }
  if (exp.data.name === 'linear' && exp.data.limitTrain !== null && exp.data.validation >= exp.data.limitTrain) {
    throw new UsageError(`${where}.data.validation (${exp.data.validation}) must leave training samples`);
  }
  return exp;
}

/** How a rule is named in tables, folders and results. */
export function ruleLabel(r: RuleRef): string {
  return r.label ?? ('id' in r ? r.id : 'per-layer');
}

/** The rule ids an experiment needs (per-layer compositions included). */
export function ruleIds(r: RuleRef): string[] {
  if ('id' in r) return [r.id];
  const p = r.perLayer;
  return Array.isArray(p) ? p.map((l) => l.id) : [p.default.id, ...Object.values(p.layers).map((l) => l.id)];
}

/** Check each rule's options against its schema (after plugins are loaded): errors name the key and what is allowed. */
export function checkRuleOptions(exp: Experiment, registry: RuleRegistry): void {
  exp.rules.forEach((r, i) => {
    const leaves: [LeafRule, string][] =
      'id' in r
        ? [[r, `rules[${i}]`]]
        : Array.isArray(r.perLayer)
          ? r.perLayer.map((l, j) => [l, `rules[${i}].perLayer[${j}]`] as [LeafRule, string])
          : [[r.perLayer.default, `rules[${i}].perLayer.default`], ...Object.entries(r.perLayer.layers).map(([k, l]) => [l, `rules[${i}].perLayer.layers.${k}`] as [LeafRule, string])];
    for (const [leaf, path] of leaves) {
      const entry = registry.entry(leaf.id);
      try {
        entry.options.parse(leaf.options ?? {}, `${path}.options`);
      } catch (e) {
        if (e instanceof OptionError) throw new UsageError(e.message);
        throw e;
      }
    }
  });
}

/** The largest experiment file read (a config is small; anything bigger is a mistake or an attack). */
const MAX_FILE_BYTES = 1 << 20;

/** Read an experiment file (JSON, or YAML by extension `.yaml`/`.yml`); its name defaults to the file's. */
export function readExperimentDocument(file: string): Record<string, unknown> {
  let size: number;
  try {
    const s = statSync(file);
    if (!s.isFile()) throw new UsageError(`${file}: not a regular file`);
    size = s.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: cannot read the experiment file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size > MAX_FILE_BYTES) throw new UsageError(`${file}: ${size} bytes is too large for an experiment file (limit ${MAX_FILE_BYTES})`);
  const text = readFileSync(file, 'utf8');
  const ext = extname(file).toLowerCase();
  let doc: unknown;
  try {
    doc = ext === '.yaml' || ext === '.yml' ? parseYaml(text, { maxAliasCount: 100 }) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file}: not valid ${ext === '.json' ? 'JSON' : 'YAML'} (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObject(doc)) throw new UsageError(`${file}: an experiment file holds one object (mapping) of settings`);
  if (doc.name === undefined) doc.name = basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  return doc;
}

/** A `--set path=value` override: the value is JSON when it parses as JSON, a string otherwise. */
export function applySet(doc: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new UsageError(`--set takes path=value (e.g. rule.options.feedbackInit=glorot), got "${assignment}"`);
  const path = assignment.slice(0, eq).trim();
  const raw = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const keys = path.split('.');
  if (keys.some((k) => k === '' || FORBIDDEN_KEYS.has(k))) throw new UsageError(`--set ${path}: not a settings path`);
  let node: unknown = doc;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    const container = node as Record<string, unknown> | unknown[];
    let next: unknown = Array.isArray(container) ? container[Number(k)] : Object.hasOwn(container, k) ? container[k] : undefined;
    if (Array.isArray(container) && !/^\d+$/.test(k)) throw new UsageError(`--set ${path}: ${keys.slice(0, i).join('.')} is a list; "${k}" is not an index`);
    if (Array.isArray(container) && Number(k) >= container.length) throw new UsageError(`--set ${path}: ${keys.slice(0, i).join('.')} has ${container.length} items`);
    if (next === undefined || next === null) {
      next = {};
      (container as Record<string, unknown>)[k] = next;
    } else if (typeof next === 'string' && keys[i + 1] !== undefined && keys.slice(0, i + 1).join('.').match(/^(rule|rules\.\d+)$/)) {
      // `rule: fa` grows into `{ id: fa }` when an option is set on it
      next = { id: next };
      (container as Record<string, unknown>)[k] = next;
    } else if (typeof next !== 'object') {
      throw new UsageError(`--set ${path}: ${keys.slice(0, i + 1).join('.')} is ${JSON.stringify(next)}, not an object`);
    }
    node = next;
  }
  const last = keys[keys.length - 1];
  if (Array.isArray(node)) {
    if (!/^\d+$/.test(last) || Number(last) > node.length) throw new UsageError(`--set ${path}: not an index of a ${node.length}-item list`);
    node[Number(last)] = value;
  } else {
    (node as Record<string, unknown>)[last] = value;
  }
}

/** Read, override and validate an experiment file. */
export function loadExperiment(file: string, sets: readonly string[] = []): Experiment {
  const doc = readExperimentDocument(file);
  for (const s of sets) applySet(doc, s);
  return parseExperiment(doc, basename(file));
}

/**
 * The JSON Schema of experiment files, with each installed rule's options spelled out (editors complete rule ids
 * and their options).
 */
export function experimentJsonSchema(registry: RuleRegistry): JsonSchema {
  const ids = registry.ids();
  // a rule's own optimizer, batch size and init: defined once, referenced by every rule's entry
  const trainingRefs = Object.fromEntries(RULE_TRAINING_KEYS.map((k) => [k, { $ref: `#/$defs/rule-${k}` }]));
  const $defs = Object.fromEntries(RULE_TRAINING_KEYS.map((k) => [`rule-${k}`, ruleTrainingJson[k]]));
  const withOptions = (label: boolean): JsonSchema[] =>
    ids.map((id) => {
      const entry = registry.entry(id);
      const properties: JsonSchema = { id: { const: id }, options: entry.options.toJSONSchema() };
      if (label) Object.assign(properties, { label: ruleId.toJSONSchema(), ...trainingRefs });
      return { type: 'object', description: entry.name, properties, required: ['id'], additionalProperties: false };
    });
  const leaf: JsonSchema = { anyOf: [{ enum: ids }, ...withOptions(false)] };
  const rule: JsonSchema = {
    anyOf: [
      { enum: ids },
      ...withOptions(true),
      {
        type: 'object',
        properties: {
          perLayer: {
            anyOf: [
              { type: 'array', items: leaf, minItems: 1 },
              { type: 'object', properties: { default: leaf, layers: { type: 'object', additionalProperties: leaf } }, required: ['default'], additionalProperties: false },
            ],
          },
          label: ruleId.toJSONSchema(),
          ...trainingRefs,
        },
        required: ['perLayer', 'label'],
        additionalProperties: false,
      },
    ],
  };
  const schema = options(experimentShape(custom<RuleRef>('a rule', () => undefined, rule))).toJSONSchema();
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'bioprop experiment', ...schema, $defs };
}

/** One line saying what an experiment runs. */
export function describeExperiment(exp: Experiment): string {
  const rules = exp.rules.map(ruleLabel).join(', ');
  const seeds = exp.seeds.length === 1 ? `seed ${exp.seeds[0]}` : `seeds ${exp.seeds.join(', ')}`;
  const arch = exp.arch === null ? 'default MLP' : typeof exp.arch === 'string' ? exp.arch : 'layer list';
  return `${exp.name}: ${rules} on ${exp.data.name} (${arch}), ${exp.epochs} epoch(s), ${seeds}${exp.sameOptimizer ? ', one optimizer for every rule' : ''}`;
}

/** Whether a file path names YAML. */
export const isYaml = (file: string) => /\.ya?ml$/i.test(file);

export type { BackendPreference };
