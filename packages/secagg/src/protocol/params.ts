/**
 * SecAgg+ parameter finder: the smallest even degree k of a random Harary graph H(n, k)
 * and a threshold t such that, with n clients of which at most a fraction gamma is
 * corrupt (colluding with the server) and at most a fraction delta drops out,
 *   - security: except with probability 2^-40, no client has >= t corrupt neighbours
 *     and the graph of honest survivors stays connected (each event bounded by 2^-41);
 *   - correctness: except with probability 2^-20, every client keeps >= t surviving
 *     neighbours, so every secret the server needs can be reconstructed.
 * The method is that of Bell et al. (CCS'20) as used by fcp/secagg's
 * graph_parameter_finder: hypergeometric neighbour counts with a union bound over the
 * n clients, and a union bound over pairs of k/2-gaps for disconnection. This module is
 * an independent implementation with exact hypergeometric tails (protocol-spec/06-secagg-plus.md).
 */
import { InvalidArgumentError } from '../errors.js';

export type AdversaryModel = 'semi-honest' | 'semi-malicious';

export interface GraphParameters {
  readonly n: number;
  /** Even graph degree k (number of neighbours). */
  readonly degree: number;
  /** Shamir threshold t. */
  readonly threshold: number;
}

export interface ParameterRequirements {
  /** Number of clients, 1..1_000_000. */
  readonly n: number;
  /** Fraction of clients that may drop out, in [0, 1). */
  readonly dropoutFraction: number;
  /** Fraction of clients that may be corrupt, in [0, 1). */
  readonly corruptFraction: number;
  /** 'semi-honest' (default): curious server; 'semi-malicious': server may lie about dropouts. */
  readonly adversary?: AdversaryModel;
  /** Statistical security parameter sigma (default 40). */
  readonly securityBits?: number;
  /** Correctness parameter eta (default 20). */
  readonly correctnessBits?: number;
}

// Guards floor/ceil of rate * n against rounding in the insecure direction.
const EPS = 1e-14;

const LOG_FACT_TABLE: number[] = [0];
/** ln(x!) exactly summed up to 4096, Stirling series above (relative error < 1e-16). */
export function logFactorial(x: number): number {
  if (x < 0 || !Number.isInteger(x)) throw new RangeError(`logFactorial: ${x} is not a non-negative integer`);
  if (x < 4096) {
    for (let i = LOG_FACT_TABLE.length; i <= x; i++) LOG_FACT_TABLE[i] = LOG_FACT_TABLE[i - 1]! + Math.log(i);
    return LOG_FACT_TABLE[x]!;
  }
  const n = x + 1;
  return (n - 0.5) * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * n) - 1 / (360 * n ** 3) + 1 / (1260 * n ** 5);
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * Hypergeometric pmf: P[X = x] drawing `draws` of `total` items of which `marked` are marked.
 */
export function hypergeometricPmf(total: number, marked: number, draws: number, x: number): number {
  if (x < Math.max(0, draws - (total - marked)) || x > Math.min(draws, marked)) return 0;
  return Math.exp(logChoose(marked, x) + logChoose(total - marked, draws - x) - logChoose(total, draws));
}

/** P[X >= x] (upper tail, summed exactly term by term). */
export function hypergeometricUpperTail(total: number, marked: number, draws: number, x: number): number {
  let p = 0;
  for (let i = Math.max(x, 0); i <= Math.min(draws, marked); i++) p += hypergeometricPmf(total, marked, draws, i);
  return p;
}

/** P[X <= x] (lower tail). */
export function hypergeometricLowerTail(total: number, marked: number, draws: number, x: number): number {
  let p = 0;
  for (let i = Math.max(0, draws - (total - marked)); i <= Math.min(x, draws, marked); i++) p += hypergeometricPmf(total, marked, draws, i);
  return p;
}

/**
 * ln of a union bound on the probability that H(n, k) with a uniformly random labelling
 * loses connectivity when `bad` clients are removed: disconnecting it needs two runs of
 * k/2 consecutive removed clients; there are n(n-k-1)/2 pairs of run positions, and
 * for one pair the chance that all k positions are bad is bad!(n-k)!/(n!(bad-k)!).
 */
export function logDisconnectionBound(n: number, k: number, bad: number): number {
  if (k > bad) return -Infinity;
  return Math.log(n) + Math.log(n - k - 1) - Math.log(2) + logFactorial(bad) + logFactorial(n - k) - logFactorial(n) - logFactorial(bad - k);
}

/** Why a degree fails, or the threshold it admits. */
export interface DegreeCheck {
  readonly degree: number;
  readonly threshold: number | null;
  /** ln P[disconnection] bound. */
  readonly logDisconnection: number;
  /** Smallest t with P[>= t corrupt neighbours] < 2^-(sigma+1) / n (semi-honest form). */
  readonly securityThreshold: number;
  /** Largest t with P[< t surviving neighbours] < 2^-eta / n. */
  readonly correctnessThreshold: number;
}

/** Evaluates one even degree k against the requirements. */
export function checkDegree(req: ParameterRequirements, k: number): DegreeCheck {
  const { n, dropoutFraction: delta, corruptFraction: gamma } = req;
  const sigma = req.securityBits ?? 40;
  const eta = req.correctnessBits ?? 20;
  const perEvent = sigma + 1; // the 2^-sigma budget split over two bad events
  const corrupt = Math.floor((gamma + EPS) * n);
  const dropped = Math.floor((delta + EPS) * n);
  const survivors = Math.ceil((1 - delta - EPS) * n);
  const logDisconnection = logDisconnectionBound(n, k, corrupt + dropped);
  const secTarget = 2 ** -perEvent / n;
  const corTarget = 2 ** -eta / n;
  // Security: t such that P[A >= t] < target, A = corrupt neighbours ~ Hyp(n, corrupt, k).
  let t1 = 0;
  while (t1 <= k && hypergeometricUpperTail(n, corrupt, k, t1) >= secTarget) t1++;
  let securityThreshold = t1;
  if (req.adversary === 'semi-malicious') {
    // The server may also show different survivor sets; require 2t - k beyond the corrupt
    // count, i.e. t >= ceil((t_sec - 1 + k - 1.25) / 2) + 1, as in Bell et al.
    securityThreshold = Math.ceil((t1 - 1 + k - 1.25) / 2) + 1;
  }
  // Correctness: largest t with P[S <= t - 1] < target, S = surviving neighbours ~ Hyp(n, survivors, k).
  let t2 = 0;
  while (t2 + 1 <= k && hypergeometricLowerTail(n, survivors, k, t2) < corTarget) t2++;
  const correctnessThreshold = t2;
  const ok = logDisconnection < -perEvent * Math.LN2 && Math.max(securityThreshold, 2) <= correctnessThreshold;
  return {
    degree: k,
    threshold: ok ? Math.max(securityThreshold, 2) : null,
    logDisconnection,
    securityThreshold,
    correctnessThreshold,
  };
}

/**
 * Finds the smallest even k (and its smallest admissible t) meeting the requirements.
 * @returns null when no k < n-1 works (use the complete graph, classic SecAgg)
 * @throws InvalidArgumentError for out-of-range inputs
 */
export function findGraphParameters(req: ParameterRequirements): GraphParameters | null {
  const { n, dropoutFraction: delta, corruptFraction: gamma } = req;
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new InvalidArgumentError('n: expected an integer in 1..1000000');
  if (!(delta >= 0 && delta < 1)) throw new InvalidArgumentError('dropoutFraction: expected a number in [0, 1)');
  if (!(gamma >= 0 && gamma < 1)) throw new InvalidArgumentError('corruptFraction: expected a number in [0, 1)');
  const adversary = req.adversary ?? 'semi-honest';
  if (adversary !== 'semi-honest' && adversary !== 'semi-malicious') throw new InvalidArgumentError("adversary: expected 'semi-honest' or 'semi-malicious'");
  if (adversary === 'semi-honest' && gamma + delta > 0.9) throw new InvalidArgumentError('corruptFraction + dropoutFraction must be <= 0.9');
  if (adversary === 'semi-malicious' && gamma + 2 * delta > 0.9) throw new InvalidArgumentError('corruptFraction + 2 * dropoutFraction must be <= 0.9');
  for (let k = 2; k < n - 1; k += 2) {
    const c = checkDegree(req, k);
    if (c.threshold !== null) return { n, degree: k, threshold: c.threshold };
  }
  return null;
}
