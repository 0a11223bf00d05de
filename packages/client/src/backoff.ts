/**
 * Exponential backoff with full jitter (delay uniform in [0, min(max, base * 2^attempt)]):
 * spreads the reconnects of many clients after a server restart instead of having them
 * all hit the new process at the same instant.
 */
export interface BackoffPolicy {
  /** Consecutive failed attempts before giving up; 0 = never give up (the default). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * A client is built to run for weeks: by default it keeps retrying a lost coordinator
 * (every 10 s at most, jittered) until it returns; only refusals no retry can fix end it.
 */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ maxAttempts: 0, baseDelayMs: 250, maxDelayMs: 10_000 });

/**
 * The delay before attempt `attempt` (0-based) given a uniform random `u` in [0, 1).
 * @throws RangeError for a negative attempt or u outside [0, 1)
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, u: number): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
  if (!(u >= 0 && u < 1)) throw new RangeError(`u must be in [0, 1), got ${u}`);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(u * ceiling);
}

/**
 * Merges and validates a partial policy.
 * @throws RangeError naming the field
 */
export function resolveBackoff(partial: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const p = { ...DEFAULT_BACKOFF, ...partial };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 0) throw new RangeError(`reconnect.maxAttempts must be an integer >= 0 (0 = never give up), got ${p.maxAttempts}`);
  if (!(p.baseDelayMs >= 0)) throw new RangeError(`reconnect.baseDelayMs must be >= 0, got ${p.baseDelayMs}`);
  if (!(p.maxDelayMs >= p.baseDelayMs)) throw new RangeError(`reconnect.maxDelayMs must be >= baseDelayMs, got ${p.maxDelayMs}`);
  return p;
}
