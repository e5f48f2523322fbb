import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { addPluginOption, rulesFor } from '../options/plugins.js';
import type { RuleRegistry } from '../rules.js';
import { formatTable } from '../table.js';
import type { CommandContext } from './context.js';

const NETWORKS = { any: 'any graph', chain: 'chains of blocks' } as const;

/** `bioprop rules`: the installed rules (a table, or JSON with each rule's options schema and package). */
export function rulesCommand(root: Command, ctx: CommandContext): void {
  addPluginOption(
    root
      .command('rules')
      .description('list the installed rules')
      .option('--json', "print the entries as JSON: tuned defaults, the options' JSON Schema, the package"),
  ).action(async (flags: { json?: boolean; plugin?: string[] }) => ctx.setCode(listRules(await rulesFor(flags), flags, ctx)));
}

function listRules(registry: RuleRegistry, flags: { json?: boolean }, ctx: CommandContext): number {
  const installed = [...registry.rules.values()];
  if (flags.json) {
    const rows = installed.map(({ entry: e, package: pkg }) => ({
      id: e.id,
      name: e.name,
      summary: e.summary,
      supports: e.supports,
      graphs: e.graphs,
      package: pkg,
      defaults: e.defaults,
      options: e.options.toJSONSchema(),
    }));
    ctx.out(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT.ok;
  }
  const body = installed.map(({ entry: e }) => [e.id, e.name, NETWORKS[e.graphs] ?? e.graphs, e.summary]);
  ctx.out(`${formatTable(['id', 'name', 'networks', 'summary'], body)}\n`);
  if (registry.missing.length) process.stderr.write(`not installed: ${registry.missing.join(', ')}\n`);
  return EXIT.ok;
}
