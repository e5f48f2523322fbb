/**
 * The command line under random input: whatever the arguments, bioprop exits 0, 1 or 2 with a message, never with
 * an unexpected error (a TypeError, a stack trace) or a signal, and a value known to be bad for its flag is a usage
 * error (exit 2) wherever it appears. Seeded, so a failure reproduces.
 */
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMANDS = ['train', 'compare', 'run', 'report', 'bench', 'rules', 'schema', 'reproduce'];
const FLAGS = [
  '--rule', '--rules', '--dataset', '--arch', '--activation', '--epochs', '--batch-size', '--optimizer', '--lr', '--init',
  '--loss', '--seed', '--seeds', '--limit-train', '--limit-test', '--validation', '--normalize', '--max-steps', '--backend',
  '--name', '--runs-dir', '--out', '--plot', '--resume', '--rule-options', '--set', '--max-memory', '--plugin', '--min-time',
  '--same-optimizer', '--alignment', '--no-angles', '--force', '--list', '--json', '--frobnicate',
];
const VALUES = [
  '0', '-1', '1.5', '1e400', 'NaN', '', ' ', '__proto__', 'constructor', '{}', '[]', '{"__proto__":{"x":1}}', '[1,2',
  'fa', 'bp,fa', 'all', 'zz', 'lenet5', '784-0-10', '784-3000000-10', '[{"kind":"dense"}]', 'glorot:-1', 'uniform:x',
  'mnist', 'cifar10', 'linear', '/proc/x.json', '/dev/zero', '-', 'data.name=linear', 'epochs=0', '__proto__.x=1',
  '9999999999999999999', '0x10', '1GB', 'wasm', 'tensorflow', 'relu', 'tanh', 'adam', 'x'.repeat(300),
];

/** Flags that take no value: every other flag consumes the next word, whatever it is (commander is greedy). */
const BOOLEAN = new Set(['--same-optimizer', '--alignment', '--no-angles', '--force', '--list', '--json', '--frobnicate']);
/** Values every command refuses for these flags while parsing its arguments: a usage error, exit 2, whatever else is given. */
const NOT_A_NUMBER = ['-1', 'NaN', '', ' ', '__proto__', 'constructor', '{}', '[]', '[1,2', 'fa', 'bp,fa', '0x10', '1GB', 'relu', 'glorot:-1', 'x'.repeat(300)];
const NOT_A_NAME = ['0', '-1', '', '__proto__', 'constructor', '{}', 'zz', 'x'.repeat(300)];
const KNOWN_BAD: Record<string, readonly string[]> = {
  '--epochs': [...NOT_A_NUMBER, '0', '1.5', '1e400'],
  '--batch-size': [...NOT_A_NUMBER, '0', '1.5', '1e400'],
  '--lr': [...NOT_A_NUMBER, '0', '1e400'],
  '--seed': [...NOT_A_NUMBER, '1.5', '1e400', '9999999999999999999'],
  '--validation': [...NOT_A_NUMBER, '1.5'],
  '--min-time': [...NOT_A_NUMBER, '0', '1e400'],
  '--dataset': NOT_A_NAME,
  '--loss': [...NOT_A_NAME, 'relu', 'adam'],
  '--optimizer': [...NOT_A_NAME, 'relu'],
  '--normalize': [...NOT_A_NAME, 'relu'],
  '--activation': [...NOT_A_NAME, 'adam'],
  '--init': ['glorot:-1', 'uniform:x', '__proto__', 'constructor', '0', ''],
};

/** The value commander gives each flag, as it parses: a value flag takes the next word, the last occurrence wins. */
function parsedFlags(args: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 1; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) continue;
    if (BOOLEAN.has(a) || i + 1 === args.length) out.set(a, true);
    else out.set(a, args[++i]);
  }
  return out;
}

describe('bioprop under random arguments', () => {
  it('exits 0, 1 or 2 with a message and never crashes (40 seeded command lines)', async () => {
    const rand = mulberry32(20261202);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const cwd = tempDir();
    let knownBad = 0;
    for (let i = 0; i < 40; i++) {
      const args = [pick(COMMANDS)];
      const n = Math.floor(rand() * 5);
      for (let j = 0; j < n; j++) {
        args.push(pick(FLAGS));
        if (rand() < 0.85) args.push(pick(VALUES));
      }
      // whatever trains stays tiny (later flags win)
      if (args[0] === 'train' || args[0] === 'compare') args.push('--limit-train', '20', '--limit-test', '10', '--max-steps', '1', '--epochs', '1', '--backend', 'cpu', '--rules', 'bp');
      if (args[0] === 'train') args.splice(args.length - 2, 2, '--rule', 'bp');
      const r = await runCli(args, cwd);
      const where = `bioprop ${args.join(' ')}\n${r.stderr.slice(-800)}`;
      expect(r.signal, where).toBeNull();
      expect([0, 1, 2], where).toContain(r.code);
      const bad = [...parsedFlags(args)].filter(([flag, value]) => typeof value === 'string' && KNOWN_BAD[flag]?.includes(value));
      if (bad.length) {
        knownBad++;
        expect(r.code, `${where}\n(${bad.map(([f, v]) => `${f} ${JSON.stringify(v)}`).join(', ')} is a usage error)`).toBe(2);
      }
      // an error bioprop did not expect prints its kind (TypeError: …) or a stack
      expect(r.stderr, where).not.toMatch(/bioprop: error: (TypeError|RangeError|ReferenceError|SyntaxError|Error):|\n\s+at .+\(.+:\d+:\d+\)/);
      if (r.code !== 0) expect(r.stderr.trim().length, where).toBeGreaterThan(0);
    }
    console.log(`[cli fuzz] 40 command lines, ${knownBad} with a value known to be bad for its flag: each exited 2`);
    // the seed draws enough known-bad values for the exit-2 assertion to bite
    expect(knownBad).toBeGreaterThanOrEqual(5);
  }, 600_000);
});
