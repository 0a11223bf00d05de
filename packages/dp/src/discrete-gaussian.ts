/**
 * Exact discrete Gaussian sampler of Canonne, Kamath and Steinke (NeurIPS 2020,
 * "The Discrete Gaussian for Differential Privacy", Algorithms 1-3).
 *
 * - Bernoulli(exp(-x/y)) for integers x, y (Alg. 1, von Neumann's trick): exact integer
 *   arithmetic; Bernoulli(x/(yK)) is `uniformInt(y*K) < x`.
 * - Discrete Laplace with integer scale t (Alg. 2): exact.
 * - Discrete Gaussian N_Z(0, s^2) (Alg. 3): propose Y ~ DLap(t), t = floor(s)+1, accept
 *   with probability exp(-(|Y| - s^2/t)^2 / (2 s^2)). This last acceptance test is the one
 *   documented float step: gamma is computed in float64 and each von Neumann
 *   Bernoulli(gamma/K) compares a 53-bit uniform with gamma/K, so the accept probability
 *   is off by at most ~2^-52 per comparison (total variation per sample < 1e-15). The
 *   integer part of gamma is handled exactly (repeated Bernoulli(exp(-1))).
 * All randomness comes from a RandomSource (CSPRNG); never Math.random.
 */
import { DpArgumentError } from './errors.js';
import type { RandomSource } from './rng.js';

/** Bernoulli(exp(-x/y)) exactly, integers x >= 0, y >= 1 with y * (small K) < 2^53. */
export function bernoulliExpRational(x: number, y: number, rng: RandomSource): boolean {
  while (x > y) {
    // exp(-x/y) = exp(-1) * exp(-(x-y)/y)
    if (!bernoulliExpRational(1, 1, rng)) return false;
    x -= y;
  }
  let k = 1;
  for (;;) {
    if (rng.uniformInt(y * k) >= x) break;
    k++;
  }
  return k % 2 === 1;
}

/** Bernoulli(exp(-gamma)) for a float gamma >= 0 (float step documented above). */
export function bernoulliExpFloat(gamma: number, rng: RandomSource): boolean {
  while (gamma > 1) {
    if (!bernoulliExpRational(1, 1, rng)) return false;
    gamma -= 1;
  }
  let k = 1;
  for (;;) {
    if (!(rng.uniform53() * k < gamma)) break;
    k++;
  }
  return k % 2 === 1;
}

/** Discrete Laplace with P(x) proportional to exp(-|x|/t), integer t >= 1 (CKS Alg. 2). */
export function sampleDiscreteLaplace(t: number, rng: RandomSource): number {
  for (;;) {
    const u = rng.uniformInt(t);
    if (!bernoulliExpRational(u, t, rng)) continue;
    let v = 0;
    while (bernoulliExpRational(1, 1, rng)) v++;
    const x = u + t * v;
    const negative = (rng.uint32() & 1) === 1;
    if (negative && x === 0) continue;
    return negative ? -x : x;
  }
}

/**
 * One sample of N_Z(0, sigma^2): P(x) proportional to exp(-x^2 / (2 sigma^2)) on the integers.
 * @param sigma the scale parameter (> 0; for sigma >= 1 it is very close to the std).
 */
export function sampleDiscreteGaussian(sigma: number, rng: RandomSource): number {
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new DpArgumentError(`sigma must be a finite number > 0, got ${sigma}`);
  const s2 = sigma * sigma;
  const t = Math.floor(sigma) + 1;
  for (;;) {
    const y = sampleDiscreteLaplace(t, rng);
    const d = Math.abs(y) - s2 / t;
    if (bernoulliExpFloat((d * d) / (2 * s2), rng)) return y;
  }
}

/** Fills `out` with independent N_Z(0, sigma^2) samples. */
export function fillDiscreteGaussian(out: Int32Array | Float64Array, sigma: number, rng: RandomSource): void {
  for (let i = 0; i < out.length; i++) out[i] = sampleDiscreteGaussian(sigma, rng);
}

/** The pmf of N_Z(0, sigma^2) at x (normalised by a truncated sum, for tests). */
export function discreteGaussianPmf(sigma: number, x: number): number {
  const s2 = sigma * sigma;
  const bound = Math.ceil(sigma * 40) + 10;
  let z = 0;
  for (let k = -bound; k <= bound; k++) z += Math.exp((-k * k) / (2 * s2));
  return Math.exp((-x * x) / (2 * s2)) / z;
}
