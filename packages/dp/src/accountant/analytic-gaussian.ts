/**
 * Exact (epsilon, delta) of the Gaussian mechanism (Balle and Wang, ICML 2018, Thm. 8):
 *   delta(eps) = Phi(1/(2s) - eps s) - e^eps Phi(-1/(2s) - eps s)   (sensitivity 1, std s).
 * T compositions of the Gaussian with std s equal one Gaussian with std s / sqrt(T).
 */
import { checkNumber } from '../errors.js';
import { bisect } from '../math.js';
import { gaussianHockeyStick } from './pld.js';

/** delta(eps) of the Gaussian mechanism with noise multiplier sigma. */
export function analyticGaussianDelta(sigma: number, epsilon: number): number {
  return gaussianHockeyStick(sigma, 1, 'remove', epsilon);
}

/**
 * Smallest epsilon with delta(epsilon) <= delta for `steps` compositions of the Gaussian
 * mechanism with noise multiplier sigma (bisection to 1e-12 relative, rounded up).
 */
export function analyticGaussianEpsilon(p: { sigma: number; delta: number; steps?: number }): number {
  const steps = checkNumber('steps', p.steps ?? 1, { min: 1, integer: true });
  const s = checkNumber('sigma', p.sigma, { min: 0, minExclusive: true }) / Math.sqrt(steps);
  const delta = checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  if (analyticGaussianDelta(s, 0) <= delta) return 0;
  let hi = 1;
  while (analyticGaussianDelta(s, hi) > delta) hi *= 2;
  const eps = bisect((e) => analyticGaussianDelta(s, e) - delta, 0, hi, 1e-13);
  return eps * (1 + 1e-12);
}
