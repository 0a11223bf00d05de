/**
 * Numerics shared by the accountants: a relatively accurate erfc (series below 3,
 * Lentz continued fraction above), log-space helpers and the normal tails.
 * Relative accuracy of erfc is ~1e-15 for x >= 3 and ~1e-16 absolute below; the
 * accountants only need absolute accuracy near the bulk and relative in the tails.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const LOG_SQRT_PI = Math.log(SQRT_PI);

/** erf(x) for |x| < ~3 by the all-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1}/(2n+1)!!. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / SQRT_PI) * Math.exp(-x2) * sum;
}

/** Continued fraction K with erfc(x) = e^{-x^2}/sqrt(pi) * K(x), for x >= 2 (modified Lentz). */
function erfcContinuedFraction(x: number): number {
  // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / f;
}

/** Complementary error function, accurate in the upper tail (no cancellation for large x). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  // Below 3 the series is cheaper than the continued fraction and 1 - erf loses at most
  // ~1e-16 absolute (relative 5e-12 at x = 3), which the accountants tolerate.
  if (x < 3) return 1 - erfSeries(x);
  if (x > 27.3) return 0;
  return (Math.exp(-x * x) / SQRT_PI) * erfcContinuedFraction(x);
}

/** log(erfc(x)) without underflow for large x. */
export function logErfc(x: number): number {
  if (x < 3) return Math.log(erfc(x));
  return -x * x - LOG_SQRT_PI + Math.log(erfcContinuedFraction(x));
}

/** Standard normal upper tail P(Z > z). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Standard normal CDF P(Z <= z). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** log P(Z > z), accurate for large z. */
export function logNormalSf(z: number): number {
  return Math.log(0.5) + logErfc(z / Math.SQRT2);
}

/** log(e^a + e^b) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log(e^a - e^b) for a >= b; -Infinity when equal. */
export function logSubExp(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (b > a) throw new RangeError(`logSubExp: b (${b}) > a (${a})`);
  if (a === b) return -Infinity;
  return a + Math.log(-Math.expm1(b - a));
}

const logFactorialTable: number[] = [0];
/** log(n!) for a non-negative integer n, exact summation of logs (n up to a few thousand). */
export function logFactorial(n: number): number {
  for (let k = logFactorialTable.length; k <= n; k++) logFactorialTable.push(logFactorialTable[k - 1]! + Math.log(k));
  return logFactorialTable[n]!;
}

/** log C(n, k) for integers 0 <= k <= n. */
export function logBinomial(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/** Finds a root of a monotone function on [lo, hi] by bisection; f(lo) and f(hi) must differ in sign. */
export function bisect(f: (x: number) => number, lo: number, hi: number, tol = 1e-12, maxIter = 200): number {
  let flo = f(lo);
  for (let i = 0; i < maxIter && hi - lo > tol * Math.max(1, Math.abs(lo)); i++) {
    const mid = 0.5 * (lo + hi);
    const fm = f(mid);
    if (fm === 0) return mid;
    if (fm < 0 === flo < 0) {
      lo = mid;
      flo = fm;
    } else hi = mid;
  }
  return 0.5 * (lo + hi);
}
