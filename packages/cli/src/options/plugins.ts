import type { Command } from 'commander';
import { loadRules, type RuleRegistry } from '../rules.js';
import { collect } from './values.js';

export function addPluginOption(cmd: Command): Command {
  return cmd.option('--plugin <package>', 'also use the rules of this package (installed where you run bioprop, or a path); repeatable', collect);
}

/** The rules a command can use: the bundled packages', then the plugins' (resolved from the working directory). */
export function rulesFor(flags: { plugin?: string[] }): Promise<RuleRegistry> {
  return loadRules({ plugins: flags.plugin ?? [], cwd: process.cwd() });
}

/** `--plugin` flags to repeat in a printed command. */
export function pluginArgs(flags: { plugin?: string[] }): string[] {
  return (flags.plugin ?? []).flatMap((p) => ['--plugin', p]);
}
