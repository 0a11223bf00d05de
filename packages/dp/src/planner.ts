/**
 * Noise planner: the smallest noise multiplier sigma whose computed epsilon meets a target
 * (epsilon, delta) for Poisson sampling rate q over T rounds, and the reverse.
 *
 * Conservative by construction: bisection keeps an upper end `hi` whose epsilon has been
 * computed and is <= target; the returned sigma is that `hi`, and its epsilon is computed
 * once more at the end (the value returned is that recomputation).
 */
import { checkNumber, PrivacyBudgetError, DpArgumentError } from './errors.js';
import { rdpEpsilon } from './accountant/rdp.js';
import { pldEpsilon } from './accountant/pld.js';

export type AccountantName = 'rdp' | 'pld';

/** Upper end of the sigma search; targets not reachable below it are reported as impossible. */
export const MAX_NOISE_MULTIPLIER = 1e4;

export interface EpsilonQuery {
  q: number;
  sigma: number;
  steps: number;
  delta: number;
  accountant?: AccountantName;
  /** PLD discretisation interval (default 1e-4). */
  interval?: number;
}

/** Epsilon of `steps` rounds of the Poisson-subsampled Gaussian with the chosen accountant (default rdp). */
export function epsilonFor(p: EpsilonQuery): number {
  const accountant = p.accountant ?? 'rdp';
  if (accountant === 'rdp') return rdpEpsilon(p).epsilon;
  if (accountant === 'pld') return pldEpsilon(p).epsilon;
  throw new DpArgumentError(`accountant must be 'rdp' or 'pld', got ${String(accountant)}`);
}

export interface PlanQuery {
  epsilon: number;
  delta: number;
  q: number;
  steps: number;
  accountant?: AccountantName;
  interval?: number;
  /** Relative width at which bisection stops (default 1e-4 for rdp, 5e-4 for pld). */
  tolerance?: number;
}

export interface Plan {
  sigma: number;
  /** Epsilon of the returned sigma, recomputed after the search; always <= the target. */
  epsilon: number;
  accountant: AccountantName;
}

/**
 * Smallest sigma (within `tolerance`) with epsilon(sigma) <= target.
 * @throws DpArgumentError for invalid arguments (epsilon <= 0, delta outside (0,1), ...).
 * @throws PrivacyBudgetError (code DP_BUDGET_UNREACHABLE) if even sigma = MAX_NOISE_MULTIPLIER misses the target.
 */
export function planNoiseMultiplier(p: PlanQuery): Plan {
  const target = checkNumber('epsilon', p.epsilon, { min: 0, minExclusive: true });
  checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  checkNumber('q', p.q, { min: 0, max: 1, minExclusive: true });
  checkNumber('steps', p.steps, { min: 1, integer: true });
  const accountant = p.accountant ?? 'rdp';
  const tol = p.tolerance ?? (accountant === 'pld' ? 5e-4 : 1e-4);
  const eps = (sigma: number): number => epsilonFor({ ...p, sigma, accountant });
  if (eps(MAX_NOISE_MULTIPLIER) > target) {
    throw new PrivacyBudgetError(
      `epsilon ${target} at delta ${p.delta} is unreachable: even noise multiplier ${MAX_NOISE_MULTIPLIER} gives more (q=${p.q}, steps=${p.steps}, accountant=${accountant})`,
    );
  }
  // Bracket: for pld start from the (looser) rdp answer, which is almost always feasible.
  let hi = MAX_NOISE_MULTIPLIER;
  if (accountant === 'pld') {
    const guess = planNoiseMultiplier({ ...p, accountant: 'rdp', tolerance: 1e-3 }).sigma;
    if (eps(guess) <= target) hi = guess;
  }
  let lo = hi / 2;
  while (lo > 1e-3 && eps(lo) <= target) {
    hi = lo;
    lo /= 2;
  }
  while (hi / lo > 1 + tol) {
    const mid = Math.sqrt(lo * hi);
    if (eps(mid) <= target) hi = mid;
    else lo = mid;
  }
  const achieved = eps(hi);
  if (!(achieved <= target)) throw new PrivacyBudgetError(`internal: verification failed for sigma ${hi} (${achieved} > ${target})`);
  return { sigma: hi, epsilon: achieved, accountant };
}
