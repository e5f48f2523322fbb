import type { Command } from 'commander';

/** Whether the user gave this option on the command line (not its default). */
export function given(cmd: Command, key: string): boolean {
  return cmd.getOptionValueSource(key) === 'cli';
}
