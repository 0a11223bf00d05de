/**
 * Typed errors of the dp package. Every error carries a stable `code` string
 * (append-only registry below) and names the offending argument in its message.
 */

/** Stable machine-readable codes. Append only; never renumber or reuse. */
export type DpErrorCode =
  | 'DP_INVALID_ARGUMENT' // an argument has the wrong type, range or length
  | 'DP_BUDGET_UNREACHABLE' // the planner cannot meet the target under its search bound
  | 'DP_BUDGET_EXCEEDED' // a ledger charge would exceed the configured budget (hard stop)
  | 'DP_LEDGER_CORRUPT' // a ledger file has a malformed record that is not the last line
  | 'DP_ROUNDING_FAILED' // conditional randomised rounding did not succeed within its retry cap
  | 'DP_WRAPAROUND_BOUND'; // no scale keeps the modular wraparound probability under the bound

/** Base class: all dp errors are `instanceof DpError` and carry a `code`. */
export class DpError extends Error {
  override readonly name: string = 'DpError';
  constructor(readonly code: DpErrorCode, message: string) {
    super(message);
  }
}

/** A bad argument (type, range, length); the message names the argument. */
export class DpArgumentError extends DpError {
  override readonly name = 'DpArgumentError';
  constructor(message: string) {
    super('DP_INVALID_ARGUMENT', message);
  }
}

/** The requested (epsilon, delta) cannot be met; e.g. no sigma under the search bound reaches it. */
export class PrivacyBudgetError extends DpError {
  override readonly name = 'PrivacyBudgetError';
  constructor(message: string) {
    super('DP_BUDGET_UNREACHABLE', message);
  }
}

/** Thrown by `ledger.charge` when the event would push epsilon over the budget; nothing is written. */
export class BudgetExceededError extends DpError {
  override readonly name = 'BudgetExceededError';
  constructor(message: string, readonly epsilonIfCharged: number, readonly budget: number) {
    super('DP_BUDGET_EXCEEDED', message);
  }
}

/** A ledger file that cannot be trusted (a malformed record before the last line). */
export class LedgerCorruptError extends DpError {
  override readonly name = 'LedgerCorruptError';
  constructor(message: string) {
    super('DP_LEDGER_CORRUPT', message);
  }
}

/** Throws DpArgumentError unless `value` is a finite number in [min, max] (open ends with the flags). */
export function checkNumber(
  name: string,
  value: unknown,
  opts: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean } = {},
): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DpArgumentError(`${name} must be a finite number, got ${String(value)}`);
  }
  if (opts.integer && !Number.isInteger(value)) throw new DpArgumentError(`${name} must be an integer, got ${value}`);
  const { min, max } = opts;
  if (min !== undefined && (opts.minExclusive ? value <= min : value < min)) {
    throw new DpArgumentError(`${name} must be ${opts.minExclusive ? '>' : '>='} ${min}, got ${value}`);
  }
  if (max !== undefined && (opts.maxExclusive ? value >= max : value > max)) {
    throw new DpArgumentError(`${name} must be ${opts.maxExclusive ? '<' : '<='} ${max}, got ${value}`);
  }
  return value;
}
