/**
 * RDP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar,
 * Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism").
 *
 * With mu0 = N(0, s^2), mu1 = N(1, s^2) and mu = (1-q) mu0 + q mu1, the order-a RDP is
 *   r_a = log A_a / (a - 1),  A_a = E_{z~mu0} [ (1 - q + q e^{(2z-1)/(2 s^2)})^a ]
 * (Sec. 3.3 of that paper shows this direction dominates the other one).
 *
 * - Integer a: the exact finite binomial expansion
 *     A_a = sum_i C(a,i) (1-q)^{a-i} q^i e^{(i^2-i)/(2 s^2)}, summed in log space
 *   (a 1e-13 relative margin covers the float rounding of that sum).
 * - Fractional a: exact numerical integration of the expectation above by the
 *   trapezoid rule, which converges geometrically for this analytic integrand
 *   (strip of analyticity |Im z| < pi s^2); step min(s, pi s^2)/16 puts the
 *   discretisation error far below 1e-30. We integrate A_a - 1 =
 *   E[expm1(a log1p(q expm1(u)))] so that tiny RDP values keep full relative
 *   accuracy, and add a relative margin of 1e-10 so rounding can never report
 *   less than the exact value. (The |binomial| bound used by some libraries is
 *   valid but loose by 7-200% at small orders; we do not use it.)
 * - q = 1: r_a = a / (2 s^2).
 */
import { checkNumber } from '../errors.js';
import { logAddExp, logBinomial } from '../math.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';
import { rdpToEpsilon, type EpsilonResult } from './convert.js';

const FRACTIONAL_MARGIN = 1e-10;
/** Covers float rounding of the log-sum (~1e-16 relative) so the result is never below the exact value. */
const INTEGER_MARGIN = 1e-13;

function logAIntegerOrder(q: number, sigma: number, a: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const s2 = 2 * sigma * sigma;
  let acc = -Infinity;
  for (let i = 0; i <= a; i++) {
    const term = logBinomial(a, i) + i * logQ + (a - i) * log1mQ + (i * i - i) / s2;
    acc = logAddExp(acc, term);
  }
  return acc;
}

/** log A_a by trapezoid integration (any real a > 1). Exported for cross-checks. */
export function logAByIntegration(q: number, sigma: number, a: number): number {
  const s2 = sigma * sigma;
  const h = Math.min(sigma, Math.PI * s2) / 16;
  const lo = -14 * sigma;
  const hi = a + 14 * sigma;
  const n = Math.ceil((hi - lo) / h);
  const logNorm = -Math.log(sigma * Math.sqrt(2 * Math.PI));
  const log1mQ = Math.log1p(-q);
  const logQ = Math.log(q);
  // First pass in log space: log A itself (robust for large A).
  let logSum = -Infinity;
  let maxTerm = -Infinity;
  for (let k = 0; k <= n; k++) {
    const z = lo + k * h;
    const u = (2 * z - 1) / (2 * s2);
    const logMix = logAddExp(log1mQ, logQ + u);
    const t = -(z * z) / (2 * s2) + logNorm + a * logMix;
    if (t > maxTerm) maxTerm = t;
    logSum = logAddExp(logSum, t);
  }
  const logA = logSum + Math.log(h);
  if (logA > 1e-3 || maxTerm > 600) return logA;
  // Small A - 1: integrate expm1(...) so the leading 1 cancels exactly.
  let sum = 0;
  for (let k = 0; k <= n; k++) {
    const z = lo + k * h;
    const u = (2 * z - 1) / (2 * s2);
    const w = a * Math.log1p(q * Math.expm1(u));
    const logPhi = -(z * z) / (2 * s2) + logNorm;
    sum += Math.exp(logPhi) * Math.expm1(w);
  }
  return Math.log1p(sum * h);
}

/**
 * RDP of one step of the Poisson-subsampled Gaussian at order `a`.
 * @param q sampling probability in [0, 1].
 * @param sigma noise multiplier (std / L2 sensitivity), > 0.
 * @param a order > 1.
 */
export function rdpSubsampledGaussian(q: number, sigma: number, a: number): number {
  if (q === 0) return 0;
  if (q === 1) return a / (2 * sigma * sigma);
  if (Number.isInteger(a)) return (Math.max(0, logAIntegerOrder(q, sigma, a)) * (1 + INTEGER_MARGIN)) / (a - 1);
  const logA = logAByIntegration(q, sigma, a);
  return Math.max(0, logA) * (1 + FRACTIONAL_MARGIN) / (a - 1);
}

/**
 * RDP curve of T steps of the Poisson-subsampled Gaussian.
 * @returns Float64Array of T * r_a for each order.
 * @throws DpArgumentError for q outside [0,1], sigma <= 0, steps < 0 or orders <= 1.
 */
export function computeRdp(q: number, sigma: number, steps: number, orders: readonly number[] = DEFAULT_RDP_ORDERS): Float64Array {
  checkNumber('q', q, { min: 0, max: 1 });
  checkNumber('sigma', sigma, { min: 0, minExclusive: true });
  checkNumber('steps', steps, { min: 0, integer: true });
  const out = new Float64Array(orders.length);
  for (let i = 0; i < orders.length; i++) {
    const a = checkNumber(`orders[${i}]`, orders[i], { min: 1, minExclusive: true });
    out[i] = steps === 0 ? 0 : steps * rdpSubsampledGaussian(q, sigma, a);
  }
  return out;
}

/**
 * (epsilon, optimal order) for T steps of the Poisson-subsampled Gaussian under RDP.
 * @example rdpEpsilon({ q: 0.01, sigma: 0.7, steps: 120, delta: 1e-5 }).epsilon // ~3.2392
 */
export function rdpEpsilon(p: { q: number; sigma: number; steps: number; delta: number; orders?: readonly number[] }): EpsilonResult {
  checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const orders = p.orders ?? DEFAULT_RDP_ORDERS;
  return rdpToEpsilon(orders, computeRdp(p.q, p.sigma, p.steps, orders), p.delta);
}
