#!/usr/bin/env node
// `pnpm compare [options]`: build the CLI and what it depends on, then `bioprop compare [options]`. The build's output
// goes to stderr (turbo's banner and summary included), so stdout carries only the comparison's table.
import { spawn } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = join(root, 'node_modules', '.bin');

/** Run a command; resolves with its exit code (128 + n when a signal ended it). */
function run(command, args, stdio) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio, env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` } });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : 15)));
  });
}

// Ctrl-C reaches the whole foreground group: bioprop saves a checkpoint and says how to continue; wait for it
process.on('SIGINT', () => {});

const built = await run('turbo', ['run', 'build', '--filter=@bioprop/cli...', '--output-logs=errors-only'], ['ignore', process.stderr, process.stderr]);
if (built !== 0) {
  process.stderr.write(`compare: the build failed (exit ${built})\n`);
  process.exit(built);
}
process.exitCode = await run(process.execPath, [join(root, 'packages', 'cli', 'dist', 'bin.js'), 'compare', ...process.argv.slice(2)], 'inherit');
