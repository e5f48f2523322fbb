/**
 * A sweep's grid: the product of its axes, or the union of several such products (stages). An axis is
 * - `path: [v1, v2, …]`: the setting at `path` takes each value;
 * - `name: { variants: { label: { path: value, … }, … } }`: each labelled variant sets several paths at once (a
 *   trial records `name: label`), so one axis can hold configurations that are not a product (bp vs fa with its own
 *   options) or name a value that is awkward to read (a list of terms);
 * - `name: { multiply: path | [paths], by: [f1, f2, …] }`: after every value is set, the numbers at the paths (`*`
 *   matches every item of a list) are multiplied by each factor (a trial records `name: factor`): one shared scale
 *   over coefficients that another axis chose.
 */
import { OptionError, custom, type JsonValue } from '@bioprop/core';
import { UsageError } from './errors.js';
import { applySet } from './experiment.js';

export type GridAxis = JsonValue[] | { variants: Record<string, Record<string, JsonValue>> } | { multiply: string[]; by: number[] };
export type Grid = Record<string, GridAxis>;
/** One grid, or a list of grids whose points are taken one grid after another. */
export type GridSpec = Grid | Grid[];

/** One point of a grid: what a trial records (`overrides`) and how its experiment document is changed. */
export interface GridPoint {
  overrides: Record<string, JsonValue>;
  sets: [path: string, value: JsonValue][];
  multiplies: { paths: string[]; factor: number }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const PATH_RE = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;
const MULTIPLY_PATH_RE = /^[A-Za-z0-9_$*-]+(\.[A-Za-z0-9_$*-]+)*$/;
// a leading letter: labels that look like integers would be reordered as object keys
const LABEL_RE = /^[A-Za-z][A-Za-z0-9._+-]{0,79}$/;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

const checkPath = (k: string, where: string, re = PATH_RE) => {
  if (!re.test(k) || k.split('.').some((p) => FORBIDDEN.has(p))) throw new OptionError(`${where}: "${k}" is not a settings path (keys joined by ., e.g. rule.options.lr)`);
};

function parseAxis(v: unknown, where: string): GridAxis {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new OptionError(`${where} must be a non-empty array of values, got []`);
    return v as JsonValue[];
  }
  if (isObject(v) && Object.keys(v).length === 1 && 'variants' in v) {
    const variants = v.variants;
    if (!isObject(variants) || Object.keys(variants).length === 0) throw new OptionError(`${where}.variants must be a non-empty object of labelled settings ({ label: { path: value } }), got ${JSON.stringify(variants)}`);
    const out: Record<string, Record<string, JsonValue>> = {};
    for (const [label, sets] of Object.entries(variants)) {
      if (!LABEL_RE.test(label)) throw new OptionError(`${where}.variants: "${label}" is not a label (a letter, then letters, digits, ., _, + or -)`);
      if (!isObject(sets)) throw new OptionError(`${where}.variants.${label} must be an object of settings by path, got ${JSON.stringify(sets)}`);
      for (const k of Object.keys(sets)) checkPath(k, `${where}.variants.${label}`);
      out[label] = sets as Record<string, JsonValue>;
    }
    return { variants: out };
  }
  if (isObject(v) && 'multiply' in v) {
    for (const k of Object.keys(v)) if (k !== 'multiply' && k !== 'by') throw new OptionError(`${where}: unknown option "${k}" (known: multiply, by)`);
    const paths = typeof v.multiply === 'string' ? [v.multiply] : v.multiply;
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string')) throw new OptionError(`${where}.multiply must be a settings path or a list of them, got ${JSON.stringify(v.multiply)}`);
    for (const p of paths as string[]) checkPath(p, `${where}.multiply`, MULTIPLY_PATH_RE);
    const by = v.by;
    if (!Array.isArray(by) || by.length === 0 || !by.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new OptionError(`${where}.by must be a non-empty array of numbers, got ${JSON.stringify(by)}`);
    return { multiply: paths as string[], by: by as number[] };
  }
  throw new OptionError(`${where} must be a list of values, { variants: { label: { path: value } } } or { multiply: path, by: [factors] }, got ${JSON.stringify(v)}`);
}

function parseGrid(v: unknown, where: string): Grid {
  if (!isObject(v)) throw new OptionError(`${where} must be an object of axes by settings path or name, got ${JSON.stringify(v)}`);
  const out: Grid = {};
  for (const [k, axis] of Object.entries(v)) {
    checkPath(k, where);
    out[k] = parseAxis(axis, `${where}.${k}`);
  }
  return out;
}

/** The sweep file's `grid`: one grid, or a non-empty list of grids (their union). */
export const gridSchema = custom<GridSpec>(
  'an object of axes (path: [values], name: { variants }, name: { multiply, by }) or a list of such objects',
  (v, where) => {
    if (Array.isArray(v)) {
      if (v.length === 0) throw new OptionError(`${where} must list at least one grid`);
      return v.map((g, i) => parseGrid(g, `${where}[${i}]`));
    }
    return isObject(v) ? parseGrid(v, where) : undefined;
  },
  { anyOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' }, minItems: 1 }] },
);

/** Every point of a grid spec, in order: each grid's product (first axis outermost), one grid after another. */
export function gridPoints(spec: GridSpec): GridPoint[] {
  const grids = Array.isArray(spec) ? spec : [spec];
  return grids.flatMap((grid) => {
    let points: GridPoint[] = [{ overrides: {}, sets: [], multiplies: [] }];
    for (const [name, axis] of Object.entries(grid)) {
      points = points.flatMap((p) => {
        if (Array.isArray(axis)) return axis.map((v) => ({ overrides: { ...p.overrides, [name]: v }, sets: [...p.sets, [name, v] as [string, JsonValue]], multiplies: p.multiplies }));
        if ('variants' in axis) {
          return Object.entries(axis.variants).map(([label, sets]) => ({ overrides: { ...p.overrides, [name]: label }, sets: [...p.sets, ...Object.entries(sets)], multiplies: p.multiplies }));
        }
        return axis.by.map((factor) => ({ overrides: { ...p.overrides, [name]: factor }, sets: p.sets, multiplies: [...p.multiplies, { paths: axis.multiply, factor }] }));
      });
    }
    return points;
  });
}

/** Twelve significant digits: 2e-3 × 0.3 is 6e-4 in a trial's file, not 0.0006000000000000001. */
const tidy = (x: number) => Number(x.toPrecision(12));

/** Multiply every number at `path` (`*`: each item of a list or each value of an object) by `factor`. */
function multiplyAt(doc: Record<string, unknown>, path: string, factor: number): void {
  const keys = path.split('.');
  const visit = (node: unknown, i: number, at: string) => {
    const k = keys[i];
    const container = node as Record<string, unknown> | unknown[];
    const targets: string[] = k === '*' ? Object.keys(container) : [k];
    for (const t of targets) {
      const here = at ? `${at}.${t}` : t;
      const next = Array.isArray(container) ? (/^\d+$/.test(t) ? container[Number(t)] : undefined) : Object.hasOwn(container, t) ? container[t] : undefined;
      if (next === undefined) throw new UsageError(`multiply ${path}: ${here} is not set`);
      if (i === keys.length - 1) {
        if (typeof next !== 'number') throw new UsageError(`multiply ${path}: ${here} is ${JSON.stringify(next)}, not a number`);
        (container as Record<string, unknown>)[t] = tidy(next * factor);
      } else {
        if (typeof next !== 'object' || next === null) throw new UsageError(`multiply ${path}: ${here} is ${JSON.stringify(next)}, not an object or list`);
        visit(next, i + 1, here);
      }
    }
  };
  visit(doc, 0, '');
}

/** Apply a point to an experiment document: its settings in order, then its factors. */
export function applyPoint(doc: Record<string, unknown>, point: Pick<GridPoint, 'sets' | 'multiplies'>): void {
  for (const [path, v] of point.sets) applySet(doc, `${path}=${JSON.stringify(v)}`);
  for (const m of point.multiplies) for (const p of m.paths) multiplyAt(doc, p, m.factor);
}
