import { Command, CommanderError } from 'commander';
import { BiopropError, OptionError } from '@bioprop/core';
import { DatasetError, DatasetNotFoundError, IdxFormatError } from '@bioprop/datasets';
import { benchCommand } from './commands/bench.js';
import { compareCommand } from './commands/compare.js';
import type { CommandContext } from './commands/context.js';
import { reportCommand } from './commands/report.js';
import { reproduceCommand } from './commands/reproduce.js';
import { rulesCommand } from './commands/rules.js';
import { sweepCommand } from './commands/sweep.js';
import { runCommand, schemaCommand } from './commands/run.js';
import { trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';
import { EXIT, UsageError } from './errors.js';
import { invocation } from './options/invocation.js';

/** The commander program with every command; `ctx.setCode` records the exit code of the command that ran. */
function program(ctx: CommandContext): Command {
  const root = new Command('bioprop')
    .description('Train, compare and benchmark biologically plausible learning rules against backprop.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError(`(run ${ctx.bin} --help for usage)`)
    .configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => void process.stderr.write(s) });
  for (const add of [trainCommand, compareCommand, runCommand, rulesCommand, schemaCommand, benchCommand, reportCommand, reproduceCommand, sweepCommand, workerCommand]) add(root, ctx);
  return root;
}

/** Say what went wrong on stderr; the exit code: usage errors 2, every other failure 1. */
function report(err: unknown, bin: string): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; every parse error is a usage error (commander has printed it)
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const e = err as Error;
  if (err instanceof UsageError || err instanceof OptionError) {
    process.stderr.write(`bioprop: usage error: ${e.message}\n(run ${bin} --help for usage)\n`);
    return EXIT.usage;
  }
  // bioprop's own errors (and the data loaders') say what and where; anything else is a bug: show its kind
  const expected = err instanceof BiopropError || err instanceof DatasetError || err instanceof IdxFormatError;
  const kind = !expected && e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  process.stderr.write(`bioprop: error: ${kind}${e?.message ?? String(err)}\n`);
  // the loaders speak to library users ({ dir }); say it the command line's way
  if (err instanceof DatasetNotFoundError) process.stderr.write('(with bioprop: --data-dir DIR reads the files from DIR)\n');
  if (process.env.BIOPROP_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT.failure;
}

/** Run the CLI on `argv` (without node and script); resolves with the exit code. */
export async function main(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let code: number = EXIT.ok;
  const ctx: CommandContext = { out, bin: invocation(), argv, setCode: (c) => (code = c) };
  try {
    await program(ctx).parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return report(err, ctx.bin);
  }
}
