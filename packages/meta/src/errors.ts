/**
 * Every error the meta-learning core (backends, models, algorithms, evaluation, export)
 * throws is a MetaError with a stable machine `code`, so a federation host can branch on
 * it without parsing messages. Codes are append-only: never rename or reuse one.
 */
export type MetaErrorCode =
  /** An argument has the wrong type, size or range; the message names it. */
  | 'META_INVALID_ARGUMENT'
  /** A hyperparameter is out of range (negative lr, zero steps...); the message names it. */
  | 'META_BAD_HYPERPARAMETER'
  /** A flat parameter vector does not have the length the model spec declares. */
  | 'META_PARAM_LENGTH'
  /** A dataset's example shape or class count does not match the model spec. */
  | 'META_DATA_MISMATCH'
  /** A requested TensorFlow.js backend could not be initialised. */
  | 'META_BACKEND_UNAVAILABLE'
  /** Training produced NaN or infinite values (usually a too-large learning rate). */
  | 'META_NON_FINITE'
  /** A synchronous call on a backend that can only read asynchronously (tfjs webgpu in Node). */
  | 'META_BACKEND_SYNC_READ';

/** Base class of every meta-layer error; `code` is stable, `message` is for humans. */
export class MetaError extends Error {
  override readonly name: string = 'MetaError';
  constructor(
    readonly code: MetaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A public function got an argument of the wrong type, size or range. */
export class MetaArgumentError extends MetaError {
  override readonly name = 'MetaArgumentError';
  constructor(message: string) {
    super('META_INVALID_ARGUMENT', message);
  }
}

/** A hyperparameter is invalid; `field` is its name (e.g. "innerLr"). */
export class HyperparameterError extends MetaError {
  override readonly name = 'HyperparameterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('META_BAD_HYPERPARAMETER', `${field}: ${message}`);
  }
}

/** Checks that `value` is a finite number > 0 (or >= 0 when `allowZero`). */
export function requirePositive(field: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new HyperparameterError(field, `must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(value)}`);
  }
  return value;
}

/** Checks that `value` is an integer >= `min`. */
export function requireInt(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new HyperparameterError(field, `must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
