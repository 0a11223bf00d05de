/**
 * Noise planner: the smallest noise multiplier sigma whose computed epsilon meets a target
 * (epsilon, delta) for Poisson sampling rate q over T rounds, and the reverse.
 *
 * Conservative by construction: bisection keeps an upper end `hi` whose epsilon has been
 * computed and is <= target; the returned sigma is that `hi`, and its epsilon is computed
 * once more at the end (the value returned is that recomputation).
 */
import { checkNumber, PrivacyBudgetError, DpArgumentError, DpError } from './errors.js';
import { createDdgEncoder, type DdgConfig, type DdgParams } from './ddg.js';
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

/**
 * The smallest noise multiplier that still meets the budget, to within a factor 1 + tol:
 * from a passing `hi`, step down by `step` while `ok` holds (not below 1e-3), then bisect
 * geometrically between the last failing and the last passing value. Returns a passing value.
 */
function smallestWithin(ok: (x: number) => boolean, hi: number, step: number, tol: number): number {
  let lo = hi / step;
  while (lo > 1e-3 && ok(lo)) {
    hi = lo;
    lo /= step;
  }
  while (hi / lo > 1 + tol) {
    const mid = Math.sqrt(lo * hi);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
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
  hi = smallestWithin((x) => eps(x) <= target, hi, 2, tol);
  const achieved = eps(hi);
  if (!(achieved <= target)) throw new PrivacyBudgetError(`internal: verification failed for sigma ${hi} (${achieved} > ${target})`);
  return { sigma: hi, epsilon: achieved, accountant };
}

/**
 * Smallest DDG noise multiplier z (central std z * l2Clip) whose DDG accounting (the same
 * event the ledger charges) meets (epsilon, delta) over `steps` rounds at sampling rate q.
 * Bisection on z; the returned z is verified by a final recomputation.
 * @throws PrivacyBudgetError if even z = MAX_NOISE_MULTIPLIER misses the target (e.g. the
 *   rounding term of too few bits puts a floor under epsilon).
 */
export function planDdgNoiseMultiplier(p: Omit<DdgConfig, 'noiseMultiplier' | 'localNoiseStddev' | 'noiseStddevPerClient'> & { epsilon: number; delta: number; q: number; steps: number; tolerance?: number }): { noiseMultiplier: number; epsilon: number; params: DdgParams } {
  const target = checkNumber('epsilon', p.epsilon, { min: 0, minExclusive: true });
  checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  checkNumber('q', p.q, { min: 0, max: 1, minExclusive: true });
  checkNumber('steps', p.steps, { min: 1, integer: true });
  const tol = p.tolerance ?? 1e-4;
  const { epsilon: _e, delta: _d, q: _q, steps: _s, tolerance: _t, ...cfg } = p;
  const eps = (z: number): number => {
    try {
      return createDdgEncoder({ ...cfg, noiseMultiplier: z }).epsilon({ q: p.q, steps: p.steps, delta: p.delta });
    } catch (err) {
      if (err instanceof DpError && err.code === 'DP_WRAPAROUND_BOUND') return Infinity;
      throw err;
    }
  };
  if (!(eps(MAX_NOISE_MULTIPLIER) <= target)) {
    throw new PrivacyBudgetError(`epsilon ${target} at delta ${p.delta} is unreachable with the distributed discrete Gaussian (dim ${p.dim}, ${p.numClients} clients, ${p.bits ?? 16} bits, q=${p.q}, steps=${p.steps})`);
  }
  let hi = Math.max(1e-3, planNoiseMultiplier({ epsilon: target, delta: p.delta, q: p.q, steps: p.steps, accountant: 'rdp', tolerance: 1e-3 }).sigma);
  while (!(eps(hi) <= target)) hi = Math.min(MAX_NOISE_MULTIPLIER, hi * 1.5);
  hi = smallestWithin((x) => eps(x) <= target, hi, 1.5, tol);
  const achieved = eps(hi);
  if (!(achieved <= target)) throw new PrivacyBudgetError(`internal: verification failed for z ${hi}`);
  return { noiseMultiplier: hi, epsilon: achieved, params: createDdgEncoder({ ...cfg, noiseMultiplier: hi }).params };
}
