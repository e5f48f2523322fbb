/** The checks of the conformance suite, by the name a `ConformanceError` carries. */
export type ConformanceCheck = 'shapes' | 'leak' | 'determinism' | 'resume' | 'lossFalls' | 'unsupported' | 'shapeMismatch' | 'divergence';

/** A rule failed a conformance check; the message says which check, what was expected and what was seen. */
export class ConformanceError extends Error {
  override readonly name = 'ConformanceError';
  constructor(
    readonly check: ConformanceCheck,
    message: string,
  ) {
    super(`[${check}] ${message}`);
  }
}
