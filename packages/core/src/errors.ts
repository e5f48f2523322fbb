/** Errors with names a user can catch and messages that say what is wrong and where. */

/**
 * The base of every error bioprop throws on purpose (bad input, a rule that cannot train a network, divergence…):
 * `err instanceof BiopropError` tells them from bugs. Plugins throw core's errors, or subclasses of this one.
 */
export class BiopropError extends Error {
  override readonly name: string = 'BiopropError';
}

/** A tensor or option has the wrong shape for where it is used. */
export class ShapeError extends BiopropError {
  override readonly name = 'ShapeError';
}

/** An option has a bad value (unknown name, out of range, wrong type). */
export class OptionError extends BiopropError {
  override readonly name = 'OptionError';
}

/** A rule cannot train this network (a layer kind it does not support, a shape it cannot handle). */
export class RuleSupportError extends BiopropError {
  override readonly name = 'RuleSupportError';
}

/** Training produced a non-finite loss or update; says the step and the first layer where it appeared. */
export class DivergenceError extends BiopropError {
  override readonly name = 'DivergenceError';
  constructor(
    message: string,
    readonly step: number,
    readonly epoch: number,
    readonly layer: number | null,
  ) {
    super(message);
  }
}

/** A checkpoint is missing, truncated, corrupt or does not match the network it is loaded into. */
export class CheckpointError extends BiopropError {
  override readonly name = 'CheckpointError';
}

/** No backend could be loaded, or the named one is not installed. */
export class BackendError extends BiopropError {
  override readonly name = 'BackendError';
}

/** Throw an OptionError unless `value` is a finite number in [min, max]. */
export function checkNumber(
  where: string,
  value: unknown,
  { min = -Infinity, max = Infinity, integer = false }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OptionError(`${where} must be a finite number, got ${JSON.stringify(value)}`);
  }
  if (integer && !Number.isInteger(value)) throw new OptionError(`${where} must be an integer, got ${value}`);
  if (value < min || value > max) throw new OptionError(`${where} must be in [${min}, ${max}], got ${value}`);
  return value;
}
