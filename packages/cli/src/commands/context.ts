/** What every command gets from `main`. */
export interface CommandContext {
  /** Standard output: results only (notes and progress go to stderr). */
  out(text: string): void;
  /** How the user runs bioprop where they are (`pnpm exec bioprop`, `npx bioprop`…), for printed commands. */
  bin: string;
  /** The arguments of this run. */
  argv: readonly string[];
  /** The exit code of the command that ran. */
  setCode(code: number): void;
}
