/**
 * Privacy loss distribution (PLD) accountant for the Poisson-subsampled Gaussian.
 *
 * Discretisation: pessimistic "connect the dots" (Doroshenko, Ghazi, Kamath, Kumar,
 * Manurangsi 2022): on the grid eps_i = i * interval we evaluate the exact hockey-stick
 * divergence delta(eps_i) of one step and build the discrete PLD whose delta curve
 * interpolates those points linearly in e^eps. The true curve is convex in e^eps, so
 * the discrete one lies above it everywhere: never an under-count. Mass above the grid
 * goes to the infinity atom.
 *
 * Composition: T-fold self-composition is one FFT over a window chosen by Chernoff
 * bounds, coefficients raised to the T-th power, one inverse FFT; mass outside the
 * window (<= 1e-15) and the FFT rounding noise go to the infinity atom, the lost left
 * tail is moved up onto the lowest point (stochastic-dominance moves, so they only
 * ever increase delta). Two different PLDs compose by FFT convolution with the same
 * tail handling. When a grid would exceed MAX_POINTS, it is coarsened by 2 with losses
 * rounded UP (pessimistic again), or for the Gaussian the single step is re-discretised
 * by connect-the-dots on the coarser grid; the interval used is reported in the result.
 *
 * Add/remove adjacency: both directions are computed and the larger epsilon is
 * reported (as dp_accounting does). REMOVE: upper = (1-q)N(0,s^2)+qN(1,s^2), lower = N(0,s^2);
 * ADD: the reverse. For q = 1 both coincide, and T steps equal one step with s/sqrt(T).
 */
import { checkNumber } from '../errors.js';
import { logAddExp, logNormalSf, normalCdf } from '../math.js';
import { convolve, fft, nextPow2 } from './fft.js';

/** A discrete PLD: probs[k] is the mass at loss (lower + k) * interval, plus an atom at +infinity. */
export interface DiscretePld {
  interval: number;
  lower: number;
  probs: Float64Array;
  infinityMass: number;
}

export type Adjacency = 'remove' | 'add';

const TAIL_Z = 10; // noise tails beyond 10 std (mass < 1e-23) are pessimistically in the infinity atom
const MAX_POINTS = 1 << 21;
const TAIL_TRUNCATION = 1e-15;

/**
 * Exact hockey-stick divergence delta(eps) of one step (continuous mechanism).
 * The remove direction is evaluated in log space: e^eps overflows beyond eps ~ 709, where
 * delta is a difference of two tiny normal tails times a huge factor.
 */
export function gaussianHockeyStick(sigma: number, q: number, adjacency: Adjacency, eps: number): number {
  if (adjacency === 'remove' || q === 1) {
    if (q < 1 && eps <= Math.log1p(-q)) return -Math.expm1(eps);
    // logC = log(e^eps - 1 + q)
    const logC = eps > 30 ? eps + Math.log1p(-(1 - q) * Math.exp(-eps)) : Math.log(Math.expm1(eps) + q);
    const x = sigma * sigma * (logC - Math.log(q)) + 0.5;
    const logT1 = Math.log(q) + logNormalSf((x - 1) / sigma);
    const logT2 = logC + logNormalSf(x / sigma);
    if (!(logT2 < logT1)) return 0;
    return Math.exp(logT1) * -Math.expm1(logT2 - logT1);
  }
  if (eps >= -Math.log1p(-q)) return 0;
  const c = Math.expm1(-eps) + q; // e^-eps - 1 + q (may be +Infinity for eps < -709: then the CDFs are 1)
  const x = sigma * sigma * Math.log(c / q) + 0.5;
  const e = Math.exp(eps);
  const d = (1 - e * (1 - q)) * normalCdf(x / sigma) - q * e * normalCdf((x - 1) / sigma);
  return d > 0 ? d : 0;
}

function privacyLoss(sigma: number, q: number, adjacency: Adjacency, x: number): number {
  const u = (2 * x - 1) / (2 * sigma * sigma);
  // log(1 - q + q e^u), without overflow for large u
  const l = q === 1 ? u : logAddExp(Math.log1p(-q), Math.log(q) + u);
  return adjacency === 'remove' ? l : -l;
}

/**
 * One step's discrete PLD by pessimistic connect-the-dots.
 * @param interval requested grid interval; enlarged (and reported) if the grid would exceed MAX_POINTS.
 */
export function gaussianPld(sigma: number, q: number, adjacency: Adjacency, interval: number): DiscretePld {
  const upperMeanX = adjacency === 'remove' ? 1 : 0;
  const lossHi = adjacency === 'remove' ? privacyLoss(sigma, q, 'remove', upperMeanX + TAIL_Z * sigma) : privacyLoss(sigma, q, 'add', -TAIL_Z * sigma);
  const lossLo = adjacency === 'remove' ? privacyLoss(sigma, q, 'remove', -TAIL_Z * sigma) : privacyLoss(sigma, q, 'add', TAIL_Z * sigma);
  while ((lossHi - lossLo) / interval > MAX_POINTS) interval *= 2;
  const iLo = Math.floor(lossLo / interval);
  const iHi = Math.ceil(lossHi / interval);
  const n = iHi - iLo; // grid points 0..n
  const deltas = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) deltas[k] = gaussianHockeyStick(sigma, q, adjacency, (iLo + k) * interval);
  const em1 = Math.expm1(interval);
  const e = em1 + 1;
  const probs = new Float64Array(n + 1);
  let sumAbove = 0;
  for (let k = n; k >= 1; k--) {
    const left = e * (deltas[k - 1]! - deltas[k]!);
    const right = k < n ? deltas[k]! - deltas[k + 1]! : 0;
    const p = (left - right) / em1;
    probs[k] = p > 0 ? p : 0;
    sumAbove += probs[k]!;
  }
  const infinityMass = deltas[n]!;
  probs[0] = Math.max(0, 1 - infinityMass - sumAbove);
  return { interval, lower: iLo, probs, infinityMass };
}

/** Coarsens by a power-of-two factor (repeated halving of the resolution, losses rounded up). */
function coarsenBy(p: DiscretePld, factor: number): DiscretePld {
  for (let f = 1; f < factor; f *= 2) p = coarsen(p);
  return p;
}

/** Coarsens a PLD to twice its interval, rounding every loss up (pessimistic). */
export function coarsen(p: DiscretePld): DiscretePld {
  const lower = Math.ceil(p.lower / 2);
  const upper = Math.ceil((p.lower + p.probs.length - 1) / 2);
  const probs = new Float64Array(upper - lower + 1);
  for (let k = 0; k < p.probs.length; k++) probs[Math.ceil((p.lower + k) / 2) - lower]! += p.probs[k]!;
  return { interval: p.interval * 2, lower, probs, infinityMass: p.infinityMass };
}

function truncateTails(lower: number, probs: Float64Array, infinityMass: number): DiscretePld & { interval: 0 } {
  const half = TAIL_TRUNCATION / 2;
  let left = 0;
  let leftMass = 0;
  while (left < probs.length - 1 && leftMass + probs[left]! <= half) leftMass += probs[left++]!;
  let right = probs.length - 1;
  let rightMass = 0;
  while (right > left && rightMass + probs[right]! <= half) rightMass += probs[right--]!;
  const kept = probs.slice(left, right + 1);
  kept[0]! += leftMass; // moved up: pessimistic
  return { interval: 0, lower: lower + left, probs: kept, infinityMass: infinityMass + rightMass };
}

/** Composition of two PLDs on the same interval (coarsening the finer one if needed). */
export function composePld(a: DiscretePld, b: DiscretePld): DiscretePld {
  while (a.interval < b.interval) a = coarsen(a);
  while (b.interval < a.interval) b = coarsen(b);
  while (a.probs.length + b.probs.length > MAX_POINTS) {
    a = coarsen(a);
    b = coarsen(b);
  }
  const { out, errorMass } = convolve(a.probs, b.probs);
  const inf = a.infinityMass + b.infinityMass - a.infinityMass * b.infinityMass + errorMass;
  const t = truncateTails(a.lower + b.lower, out, inf);
  return { interval: a.interval, lower: t.lower, probs: t.probs, infinityMass: Math.min(1, t.infinityMass) };
}

/**
 * log sum_k p_k e^{lambda * loss_k} over the finite part of a PLD. The powers of
 * e^{-|lambda| interval} are built by multiplication from the dominant end (no overflow;
 * the accumulated relative rounding, ~1e-11, is irrelevant for a window bound).
 */
function logMgf(p: DiscretePld, lambda: number): number {
  const n = p.probs.length;
  const r = Math.exp(-Math.abs(lambda) * p.interval);
  let s = 0;
  let w = 1;
  if (lambda >= 0) {
    for (let k = n - 1; k >= 0; k--) {
      s += p.probs[k]! * w;
      w *= r;
    }
    return lambda * (p.lower + n - 1) * p.interval + Math.log(s);
  }
  for (let k = 0; k < n; k++) {
    s += p.probs[k]! * w;
    w *= r;
  }
  return lambda * p.lower * p.interval + Math.log(s);
}

const CHERNOFF_LAMBDAS: number[] = [];
for (let e = -3; e <= 3.0001; e += 0.125) CHERNOFF_LAMBDAS.push(10 ** e);

/**
 * Loss window [lo, hi] outside which the T-fold composition has at most `tail`/2 mass on
 * each side, by Chernoff bounds P(S >= u) <= e^{-lambda u} M(lambda)^T over a lambda grid.
 */
function chernoffWindow(p: DiscretePld, times: number, tail: number): { lo: number; hi: number } {
  const logTail = Math.log(tail / 2);
  const minLoss = p.lower * p.interval * times;
  const maxLoss = (p.lower + p.probs.length - 1) * p.interval * times;
  let hi = maxLoss;
  let lo = minLoss;
  for (const lambda of CHERNOFF_LAMBDAS) {
    hi = Math.min(hi, (times * logMgf(p, lambda) - logTail) / lambda);
    lo = Math.max(lo, (logTail - times * logMgf(p, -lambda)) / lambda);
  }
  return { lo: Math.min(lo, hi), hi };
}

/** (re, im) <- (re + i im)^times element-wise, by binary exponentiation (multiplications only). */
function powerInPlace(re: Float64Array, im: Float64Array, times: number): void {
  for (let k = 0; k < re.length; k++) {
    let br = re[k]!;
    let bi = im[k]!;
    let rr = 1;
    let ri = 0;
    let t = times;
    for (;;) {
      if (t & 1) {
        const x = rr * br - ri * bi;
        ri = rr * bi + ri * br;
        rr = x;
      }
      t >>>= 1;
      if (t === 0) break;
      const y = br * br - bi * bi;
      bi = 2 * br * bi;
      br = y;
    }
    re[k] = rr;
    im[k] = ri;
  }
}

/**
 * T-fold self-composition: one FFT of the window size found by Chernoff bounds, the
 * coefficients raised to the T-th power, one inverse FFT (as dp_accounting does). The
 * mass outside the window (<= 1e-15 in total) is added to the infinity atom, twice over
 * to also cover what wraps around; the lost left-tail mass is put on the lowest point.
 */
export function selfComposePld(p: DiscretePld, times: number, rebuild?: (interval: number) => DiscretePld): DiscretePld {
  checkNumber('times', times, { min: 1, integer: true });
  if (times === 1) return p;
  for (;;) {
    const { lo, hi } = chernoffWindow(p, times, TAIL_TRUNCATION);
    const L = Math.floor(lo / p.interval);
    const U = Math.ceil(hi / p.interval);
    const len = U - L + 1;
    if (len > MAX_POINTS) {
      // Too fine for the window: prefer re-discretising the single step on a coarser grid
      // (connect-the-dots keeps its error second order) over rounding losses up.
      const factor = 2 ** Math.ceil(Math.log2(len / MAX_POINTS));
      p = rebuild ? rebuild(p.interval * factor) : coarsenBy(p, factor);
      continue;
    }
    const n = nextPow2(len);
    const mask = n - 1;
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    // Absolute index i lands in bin i mod n (circular convolution; see the window argument above).
    for (let k = 0, bin = ((p.lower % n) + n) & mask; k < p.probs.length; k++, bin = (bin + 1) & mask) re[bin]! += p.probs[k]!;
    fft(re, im, false);
    powerInPlace(re, im, times);
    fft(re, im, true);
    const probs = new Float64Array(len);
    let worstNegative = 0;
    let kept = 0;
    for (let s = 0, bin = ((L % n) + n) & mask; s < len; s++, bin = (bin + 1) & mask) {
      const v = re[bin]! / n;
      if (v < 0) worstNegative = Math.max(worstNegative, -v);
      else {
        probs[s] = v;
        kept += v;
      }
    }
    const finite = Math.pow(1 - p.infinityMass, times);
    probs[0]! += Math.max(0, finite - kept);
    const infinityMass = Math.min(1, 1 - finite + TAIL_TRUNCATION + worstNegative * len);
    return { interval: p.interval, lower: L, probs, infinityMass };
  }
}

/** Hockey-stick divergence of a discrete PLD at eps. */
export function pldDeltaForEpsilon(p: DiscretePld, eps: number): number {
  let d = p.infinityMass;
  for (let k = p.probs.length - 1; k >= 0; k--) {
    const loss = (p.lower + k) * p.interval;
    if (loss <= eps) break;
    d += -Math.expm1(eps - loss) * p.probs[k]!;
  }
  return d;
}

/**
 * Smallest eps >= 0 with delta(eps) <= delta, exactly for the discrete PLD (Infinity if impossible).
 * Scans losses from the top; the lower-distribution mass sum_k p_k e^{-loss_k} is kept in
 * log space so that epsilons beyond ~700 do not underflow.
 */
export function pldEpsilonForDelta(p: DiscretePld, delta: number): number {
  if (p.infinityMass > delta) return Infinity;
  let massUpper = p.infinityMass;
  let logMassLower = -Infinity;
  for (let k = p.probs.length - 1; k >= 0; k--) {
    const loss = (p.lower + k) * p.interval;
    const prob = p.probs[k]!;
    if (massUpper > delta && logMassLower > -Infinity && Math.log(massUpper - delta) - logMassLower >= loss) break;
    if (prob <= 0) continue;
    massUpper += prob;
    logMassLower = logAddExp(logMassLower, Math.log(prob) - loss);
  }
  if (massUpper <= delta) return 0;
  const eps = Math.log(massUpper - delta) - logMassLower;
  return eps > 0 ? eps : 0;
}

export interface PldEpsilonResult {
  epsilon: number;
  /** The grid interval actually used (larger than requested only when the grid had to be coarsened). */
  interval: number;
}

/**
 * Epsilon of T steps of the Poisson-subsampled Gaussian by the PLD accountant.
 * @param p.interval discretisation interval of the loss grid (default 1e-4).
 * @throws DpArgumentError on invalid arguments.
 */
export function pldEpsilon(p: { q: number; sigma: number; steps: number; delta: number; interval?: number }): PldEpsilonResult {
  const q = checkNumber('q', p.q, { min: 0, max: 1 });
  const sigma = checkNumber('sigma', p.sigma, { min: 0, minExclusive: true });
  const steps = checkNumber('steps', p.steps, { min: 0, integer: true });
  const delta = checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const interval = checkNumber('interval', p.interval ?? 1e-4, { min: 0, minExclusive: true, max: 1 });
  if (q === 0 || steps === 0) return { epsilon: 0, interval };
  if (q === 1) {
    // T Gaussian steps compose exactly into one with sigma / sqrt(T): a single discretisation.
    const pld = gaussianPld(sigma / Math.sqrt(steps), 1, 'remove', interval);
    return { epsilon: pldEpsilonForDelta(pld, delta), interval: pld.interval };
  }
  let eps = 0;
  let used = interval;
  for (const adjacency of ['remove', 'add'] as const) {
    const composed = selfComposePld(gaussianPld(sigma, q, adjacency, interval), steps, (iv) => gaussianPld(sigma, q, adjacency, iv));
    eps = Math.max(eps, pldEpsilonForDelta(composed, delta));
    used = Math.max(used, composed.interval);
  }
  return { epsilon: eps, interval: used };
}
