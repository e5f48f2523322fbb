/** Value parsers of options: a bad value is a usage error (exit 2) naming the option. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { resolveActivation } from '@bioprop/core';
import { BACKEND_CHOICES, type BackendPreference } from '../backend.js';
import { parseArch, parseInit } from '../network.js';
import type { RuleOptions } from '../run.js';

export function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^[-+]?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer, got "${value}".`);
    const n = Number(value);
    if (n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      throw new InvalidArgumentError(`${name} must be ${range}, got ${n}.`);
    }
    return n;
  };
}

/** A decimal number as people write one (`0.05`, `1e-3`, `.5`): not hex, octal, binary, `Infinity` or blank. */
const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!DECIMAL.test(value.trim()) || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number written in decimal (e.g. 0.05 or 1e-3), got "${value}".`);
    return n;
  };
}

/** Checks a value with a parser that throws, keeping the text. */
function checked(parse: (value: string) => unknown) {
  return (value: string): string => {
    try {
      parse(value);
      return value;
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export const archArg = checked(parseArch);
export const initArg = checked(parseInit);
export const activationArg = checked(resolveActivation);

/** `bench --backend`: a comma-separated list of backends, or `all` (every one that loads). */
export type BenchBackend = BackendPreference | 'all';

export function backendList(value: string): BenchBackend[] {
  const names = value.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'all' && !(BACKEND_CHOICES as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`unknown backend "${n}" (choose from all, ${BACKEND_CHOICES.join(', ')}).`);
    }
  }
  return names as BenchBackend[];
}

/** `--seeds 1,2,3`. */
export function seedList(value: string): number[] {
  return value.split(',').map((s) => integer('--seeds', 0, 0xffffffff)(s));
}

/** A JSON object given inline (`'{"k": 1}'`) or as a `.json` file. */
export function jsonObject(name: string) {
  return (value: string): RuleOptions => {
    const t = value.trim();
    let parsed: unknown;
    try {
      parsed = JSON.parse(t.startsWith('{') || t.startsWith('[') ? t : readFileSync(t, 'utf8'));
    } catch (e) {
      throw new InvalidArgumentError(`${name} takes a JSON object, inline or a .json file: ${(e as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`${name} takes a JSON object, got ${t}`);
    return parsed as RuleOptions;
  };
}

/** Repeatable options collect their values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--max-memory 8GB`: bytes from a number with an optional unit (B, KB, MB, GB, TB; powers of 1000; KiB… powers of 1024). */
export function memorySize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`--max-memory takes a size such as 8GB, 512MB or 2GiB, got "${value}".`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const scale: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
  const bytes = Number(m[1]) * scale[unit];
  if (!Number.isFinite(bytes) || bytes <= 0) throw new InvalidArgumentError(`--max-memory must be positive, got "${value}".`);
  return bytes;
}
