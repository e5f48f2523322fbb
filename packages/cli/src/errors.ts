import { BiopropError } from '@bioprop/core';

/** A bad command line: unknown option, bad value, unknown rule. The CLI prints usage and exits with code 2. */
export class UsageError extends BiopropError {
  override readonly name = 'UsageError';
}

/** A rule package whose `rules` export breaks the contract, or two packages that bring the same rule id. */
export class RulePackageError extends BiopropError {
  override readonly name = 'RulePackageError';
}

/** A results file (`report --from`) that cannot be read or holds no results. */
export class ResultsFileError extends BiopropError {
  override readonly name = 'ResultsFileError';
}

/** A Redis that cannot be reached, or a queue that cannot be used (`sweep --queue`, `worker`): exit 1. */
export class QueueError extends BiopropError {
  override readonly name = 'QueueError';
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
