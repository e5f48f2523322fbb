/**
 * The command line under random input: whatever the arguments, bioprop exits 0, 1 or 2 with a message, never with
 * an unexpected error (a TypeError, a stack trace) or a signal. Seeded, so a failure reproduces.
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

describe('bioprop under random arguments', () => {
  it('exits 0, 1 or 2 with a message and never crashes (40 seeded command lines)', async () => {
    const rand = mulberry32(20261202);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const cwd = tempDir();
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
      // an error bioprop did not expect prints its kind (TypeError: …) or a stack
      expect(r.stderr, where).not.toMatch(/bioprop: error: (TypeError|RangeError|ReferenceError|SyntaxError|Error):|\n\s+at .+\(.+:\d+:\d+\)/);
      if (r.code !== 0) expect(r.stderr.trim().length, where).toBeGreaterThan(0);
    }
  }, 600_000);
});
