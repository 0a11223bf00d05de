/**
 * An independent LOWER bound for the remove-direction PLD of the Poisson-subsampled
 * Gaussian: "privacy buckets" rounding every loss DOWN to the grid (optimistic), with the
 * mass beyond the grid dropped. Its epsilon can only be below the true one. Used by tests
 * to sandwich the production (pessimistic, connect-the-dots) accountant.
 */
import { normalSf } from '../../src/math.js';
import type { DiscretePld } from '../../src/accountant/pld.js';

/** P_upper(L > eps) for the remove direction: upper = (1-q)N(0,s^2) + qN(1,s^2). */
function lossTail(sigma: number, q: number, eps: number): number {
  if (q < 1 && eps <= Math.log1p(-q)) return 1;
  const c = q === 1 ? Math.exp(eps) : Math.expm1(eps) + q;
  const x = sigma * sigma * Math.log(c / q) + 0.5;
  return (1 - q) * normalSf(x / sigma) + q * normalSf((x - 1) / sigma);
}

export function optimisticRemovePld(sigma: number, q: number, interval: number): DiscretePld {
  const lo = q < 1 ? Math.floor(Math.log1p(-q) / interval) - 1 : Math.floor((-10 / sigma - 1 / (2 * sigma * sigma)) / interval);
  let hi = lo + 1;
  while (lossTail(sigma, q, hi * interval) > 1e-30) hi = lo + (hi - lo) * 2;
  const probs = new Float64Array(hi - lo + 1);
  let prev = lossTail(sigma, q, lo * interval);
  probs[0] = 1 - prev; // everything at or below the first point, rounded down onto it
  for (let k = 1; k <= hi - lo; k++) {
    const next = lossTail(sigma, q, (lo + k) * interval);
    probs[k - 1]! += Math.max(0, prev - next); // losses in (k-1, k] rounded down to k-1
    prev = next;
  }
  return { interval, lower: lo, probs, infinityMass: 0 };
}
