/** `--resume`: the run's options come back from the checkpoint; only a few may change. */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

/** Options that `--resume` may change (everything else comes back from the checkpoint). */
const RESUMABLE = new Set(['epochs', 'backend', 'out', 'plot', 'checkpoint', 'resume', 'angles', 'plugin']);

/** Whether the user gave this option on the command line (not its default). */
export function given(cmd: Command, key: string): boolean {
  return cmd.getOptionValueSource(key) === 'cli';
}

const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A usage error naming the options given with `--resume` that cannot change. */
export function checkResumeFlags(cmd: Command): void {
  const changed = Object.keys(cmd.opts()).filter((k) => given(cmd, k) && !RESUMABLE.has(k));
  if (changed.length) {
    throw new UsageError(
      `--resume takes the run's options from the checkpoint; ${changed.map(flag).join(', ')} cannot change (only --epochs, --backend, --out, --plot, --checkpoint, --no-angles, --plugin can)`,
    );
  }
}

/** The saved options of a resumed run with what may change applied (`--epochs` to train longer, `--no-angles`). */
export function resumedOptions<T extends { epochs: number; angles: boolean }>(cmd: Command, flags: { epochs: number; angles: boolean }, saved: T): T {
  return {
    ...saved,
    epochs: given(cmd, 'epochs') ? flags.epochs : saved.epochs,
    angles: given(cmd, 'angles') ? flags.angles : saved.angles,
  };
}
