/**
 * RDP -> (epsilon, delta) conversion.
 *
 * Uses the tight bound of Canonne, Kamath, Steinke (2020, Prop. 12) / Balle et al. (2020, Thm. 21):
 *   eps = min_a [ r_a + log1p(-1/a) - log(delta * a) / (a - 1) ].
 * When delta >= sqrt(1 - exp(-r_a)) the mechanism is already (0, delta)-DP
 * (total variation is bounded via KL <= r_a and Pinsker/Bretagnolle-Huber), so eps = 0.
 */
import { DpArgumentError } from '../errors.js';

export interface EpsilonResult {
  /** Smallest epsilon over the orders (>= 0, Infinity when nothing works). */
  epsilon: number;
  /** The order that achieved it (NaN when epsilon is Infinity). */
  order: number;
}

/**
 * Converts an RDP curve to the smallest epsilon at the given delta.
 * @param orders RDP orders (each > 1).
 * @param rdp RDP values at those orders (total, already composed), each >= 0.
 * @param delta target delta in (0, 1).
 * @throws DpArgumentError on length mismatch or invalid values.
 */
export function rdpToEpsilon(orders: readonly number[], rdp: ArrayLike<number>, delta: number): EpsilonResult {
  if (orders.length !== rdp.length) throw new DpArgumentError(`orders and rdp must have the same length (${orders.length} vs ${rdp.length})`);
  if (!(delta > 0 && delta < 1)) throw new DpArgumentError(`delta must be in (0, 1), got ${delta}`);
  let best: EpsilonResult = { epsilon: Infinity, order: NaN };
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    const r = rdp[i]!;
    if (!(a > 1)) throw new DpArgumentError(`orders[${i}] must be > 1, got ${a}`);
    if (!(r >= 0)) throw new DpArgumentError(`rdp[${i}] must be >= 0, got ${r}`);
    let eps: number;
    if (delta * delta + Math.expm1(-r) >= 0) eps = 0;
    else if (a > 1.01) eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else eps = Infinity; // the bound is numerically unstable as a -> 1
    eps = Math.max(0, eps);
    if (eps < best.epsilon) best = { epsilon: eps, order: a };
  }
  return best;
}
