import { basename, isAbsolute, relative } from 'node:path';

/** A word for a POSIX shell: as it is when it is plain, otherwise single-quoted. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * How the user started `bioprop`, as a command prefix that runs where they are, for printed hints: `pnpm exec
 * bioprop` under pnpm (`npx -y pnpm@<version> exec bioprop` when pnpm itself came through npx), `npx bioprop` under
 * npm, `bioprop` from the PATH, else `node <the script>`.
 */
export function invocation(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv, cwd: string = process.cwd()): string {
  // package managers say who they are to the processes they start (scripts, exec, npx)
  const agent = env.npm_config_user_agent ?? '';
  const pnpm = /^pnpm\/(\S+)/.exec(agent);
  if (pnpm) {
    const viaNpx = env.npm_lifecycle_event === 'npx' || /[\\/]_npx[\\/]/.test(env.npm_execpath ?? '');
    return viaNpx ? `npx -y pnpm@${pnpm[1]} exec bioprop` : 'pnpm exec bioprop';
  }
  if (agent.startsWith('npm/')) return 'npx bioprop';
  if (agent.startsWith('yarn/')) return 'yarn bioprop';
  if (agent.startsWith('bun/')) return 'bunx bioprop';
  const script = argv[1];
  // an npm bin link (global or local) keeps its name
  if (!script || /^bioprop(\.(cmd|ps1))?$/i.test(basename(script))) return 'bioprop';
  const rel = relative(cwd, script);
  return `node ${shellQuote(rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script)}`;
}

/** A command line to print: the invocation, then each argument quoted for the shell. */
export function commandLine(bin: string, args: readonly string[]): string {
  return [bin, ...args.map(shellQuote)].join(' ');
}
