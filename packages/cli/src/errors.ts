/** A bad command line: unknown option, bad value, unknown rule. The CLI prints usage and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes of `bioprop`. */
export const EXIT = {
  ok: 0,
  /** Runtime failure: unreadable data, missing backend, divergence. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
  /** Stopped by Ctrl-C after saving a checkpoint (128 + SIGINT, the shell's convention). */
  interrupted: 130,
} as const;
