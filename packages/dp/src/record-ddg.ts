/**
 * Record-level DP-SGD under SecAgg ('distributed' mode): one DP-SGD step per round, whose
 * noise is split into discrete Gaussian shares in SecAgg's integer ring.
 *
 * A site's contribution to the step is the SUM g = sum_i clip_C(grad_i) over its
 * Poisson-sampled records (rate q). Adding or removing one record changes g by a vector of
 * L2 norm <= C. The site
 *   1. scales g by 1/gamma (gamma = C / 2^scaleBits: the real width of one integer step),
 *   2. rounds every coordinate randomly and unbiasedly to floor or ceil (independent
 *      CSPRNG uniforms),
 *   3. adds N_Z(0, s^2) per coordinate (exact discrete Gaussian, CSPRNG), s = sigma C / (sqrt(t) gamma),
 *   4. reduces mod 2^bits.
 * The coordinator decodes the secure sum: centre into [-2^(bits-1), 2^(bits-1)) and times gamma.
 *
 * Sensitivity of the rounded vector (integer units), deterministically: couple the rounding
 * of two neighbouring datasets through the same uniforms u (round(x)_j = floor(x_j + u_j));
 * then |round(x)_j - round(y)_j - (x_j - y_j)| < 1 for every j, so
 *   ||round(x) - round(y)||_2 <= ||x - y||_2 + sqrt(d) <= C / gamma + sqrt(d)  =: Delta,
 * i.e. C + gamma sqrt(d) in real units. Rényi divergence is jointly quasi-convex, so the
 * coupled pairs' worst case bounds the mechanism. The noise in a released sum is the sum of
 * at least t sites' shares (more shares are independent extra noise: post-processing), and
 * the sum of t discrete Gaussians is accounted exactly as the client-level DDG (Kairouz,
 * Liu, Steinke 2021, Thm. 1 with its tau term) with Poisson sampling of records at rate q
 * (the general subsampling bound of Zhu and Wang 2019, as accountant/ddg.ts): the ledger
 * event is { mechanism: 'ddg', q, l2Sensitivity: Delta, localSigma: s, numClients: t, dim: d }.
 * No rotation is needed: no conditional rounding is used, the bound above is deterministic.
 * Wraparound only costs accuracy (the modular reduction is post-processing of each site's
 * noisy vector); the scale leaves 2^(bits-1-scaleBits) x C of headroom per coordinate.
 */
import { checkNumber, DpArgumentError, PrivacyBudgetError } from './errors.js';
import { sampleDiscreteGaussian } from './discrete-gaussian.js';
import { cryptoRandom, type RandomSource } from './rng.js';
import { epsilonOfEvents, ownShareOnlyEvent, type DdgEvent, type GaussianEvent } from './ledger.js';
import { epsilonFor, MAX_NOISE_MULTIPLIER, planNoiseMultiplier, type AccountantName } from './planner.js';
import type { RecordNoiseMode } from './utility.js';

export interface RecordDdgConfig {
  /** Length of the gradient (the model's parameter count). */
  dim: number;
  /** C: L2 clip of one record's gradient. */
  l2Clip: number;
  /** sigma: the noise in a released sum of t shares has std sigma * C per coordinate. */
  noiseMultiplier: number;
  /** t: the fewest sites whose shares are in every released sum. */
  threshold: number;
  /** Ring bits (default 32). */
  bits?: number;
  /** gamma = C / 2^scaleBits (default 16; at most bits - 2). */
  scaleBits?: number;
}

export interface RecordDdgParams {
  dim: number;
  l2Clip: number;
  noiseMultiplier: number;
  threshold: number;
  bits: number;
  scaleBits: number;
  gamma: number;
  /** s: each share's discrete Gaussian parameter (integer units). */
  localSigma: number;
  /** Delta = C / gamma + sqrt(dim) (integer units). */
  l2Sensitivity: number;
}

export interface RecordDdgEncoder {
  readonly params: RecordDdgParams;
  /** Site: the clipped-gradient sum (length dim) -> residues mod 2^bits with this site's noise share. */
  encode(sum: ArrayLike<number>, rng?: RandomSource): Uint32Array;
  /** Coordinator: the modular sum of the sites' encodings -> the noisy gradient sum (real units). */
  decode(sum: Uint32Array): Float32Array;
  /** The ledger event of one step at record sampling rate q. */
  privacyEvent(q: number): DdgEvent;
}

export function recordDdgParams(cfg: RecordDdgConfig): RecordDdgParams {
  if (cfg === null || typeof cfg !== 'object') throw new DpArgumentError('config must be an object');
  const dim = checkNumber('dim', cfg.dim, { min: 1, integer: true, max: 2 ** 28 });
  const l2Clip = checkNumber('l2Clip', cfg.l2Clip, { min: 0, minExclusive: true });
  const noiseMultiplier = checkNumber('noiseMultiplier', cfg.noiseMultiplier, { min: 0, minExclusive: true });
  const threshold = checkNumber('threshold', cfg.threshold, { min: 1, integer: true });
  const bits = checkNumber('bits', cfg.bits ?? 32, { min: 8, max: 32, integer: true });
  const scaleBits = checkNumber('scaleBits', cfg.scaleBits ?? Math.min(16, bits - 2), { min: 1, max: bits - 2, integer: true });
  const gamma = l2Clip / 2 ** scaleBits;
  const localSigma = (noiseMultiplier * l2Clip) / (Math.sqrt(threshold) * gamma);
  if (!(localSigma >= 0.5)) throw new DpArgumentError(`the share's discrete Gaussian parameter ${localSigma} is below 0.5: raise scaleBits or noiseMultiplier`);
  return { dim, l2Clip, noiseMultiplier, threshold, bits, scaleBits, gamma, localSigma, l2Sensitivity: 2 ** scaleBits + Math.sqrt(dim) };
}

export function createRecordDdgEncoder(cfg: RecordDdgConfig): RecordDdgEncoder {
  const params = recordDdgParams(cfg);
  const { dim, bits, gamma, localSigma } = params;
  const modulus = 2 ** bits;
  const half = 2 ** (bits - 1);
  return {
    params,
    encode(sum, rng = cryptoRandom()) {
      if (sum.length !== dim) throw new DpArgumentError(`sum has ${sum.length} entries, dim is ${dim}`);
      const out = new Uint32Array(dim);
      for (let j = 0; j < dim; j++) {
        const v = Number(sum[j]);
        if (!Number.isFinite(v)) throw new DpArgumentError(`sum[${j}] is not finite`);
        const x = v / gamma;
        const lo = Math.floor(x);
        const r = lo + (rng.uniform53() < x - lo ? 1 : 0) + sampleDiscreteGaussian(localSigma, rng);
        out[j] = ((r % modulus) + modulus) % modulus;
      }
      return out;
    },
    decode(sum) {
      if (sum.length !== dim) throw new DpArgumentError(`sum has ${sum.length} entries, dim is ${dim}`);
      const out = new Float32Array(dim);
      for (let j = 0; j < dim; j++) {
        const v = sum[j]! % modulus;
        out[j] = (v >= half ? v - modulus : v) * gamma;
      }
      return out;
    },
    privacyEvent(q) {
      checkNumber('q', q, { min: 0, max: 1 });
      return { mechanism: 'ddg', q, l2Sensitivity: params.l2Sensitivity, localSigma, numClients: params.threshold, dim };
    },
  };
}

/** What a federation announces for record-level DP (every field public). */
export interface RecordLevelSettingsQuery {
  mode: RecordNoiseMode;
  /** Target epsilon of every site's records over the whole run. */
  epsilon: number;
  delta: number;
  /** C. */
  l2Clip: number;
  /** q: every site samples each of its records with this probability per step. */
  sampleRate: number;
  rounds: number;
  /** DP-SGD steps per round (local mode; distributed mode: 1). */
  localSteps?: number;
  /** Distributed: t, the fewest shares in every released sum. */
  threshold?: number;
  /** Distributed: the model's parameter count. */
  dim?: number;
  bits?: number;
  scaleBits?: number;
  accountant?: AccountantName;
}

export interface RecordLevelSettingsPlan {
  mode: RecordNoiseMode;
  sigma: number;
  /** Epsilon of all rounds at sigma (<= target), by the event the sites' ledgers charge. */
  epsilon: number;
  /** The event a site charges each round (local: `steps` Gaussian steps; distributed: one DDG step). */
  roundEvent: GaussianEvent | DdgEvent;
  /** Distributed: epsilon if only the site's own share protected its records. */
  epsilonOwnShareOnly?: number;
}

/** The event one round charges at noise multiplier `sigma`. */
export function recordLevelRoundEvent(p: RecordLevelSettingsQuery, sigma: number): GaussianEvent | DdgEvent {
  const localSteps = p.localSteps ?? 1;
  if (p.mode === 'local') return localSteps === 1 ? { mechanism: 'gaussian', q: p.sampleRate, sigma } : { mechanism: 'gaussian', q: p.sampleRate, sigma, steps: localSteps };
  return createRecordDdgEncoder({ dim: p.dim!, l2Clip: p.l2Clip, noiseMultiplier: sigma, threshold: p.threshold!, ...(p.bits !== undefined ? { bits: p.bits } : {}), ...(p.scaleBits !== undefined ? { scaleBits: p.scaleBits } : {}) }).privacyEvent(p.sampleRate);
}

/** Epsilon after `rounds` rounds of the announced setting at sigma (the ledgers' accounting). */
export function recordLevelEpsilon(p: RecordLevelSettingsQuery, sigma: number, rounds = p.rounds): number {
  const ev = recordLevelRoundEvent(p, sigma);
  if (ev.mechanism === 'gaussian') return epsilonFor({ q: ev.q, sigma, steps: (ev.steps ?? 1) * rounds, delta: p.delta, accountant: p.accountant ?? 'rdp' });
  return epsilonOfEvents(Array.from({ length: rounds }, () => ev), p.delta, 'rdp');
}

/**
 * Plans the DP-SGD noise multiplier of a federation's record-level setting: the smallest
 * sigma whose epsilon (by the same event every site's ledger charges) over all rounds is
 * within the target. Epsilon depends on q, sigma, the steps and (distributed) t and the
 * encoding, never on a site's record count N: the coordinator needs no N.
 * @throws DpArgumentError for invalid settings (distributed with localSteps > 1, no threshold or dim)
 * @throws PrivacyBudgetError when no sigma up to MAX_NOISE_MULTIPLIER meets the target
 */
export function planRecordLevelSettings(p: RecordLevelSettingsQuery): RecordLevelSettingsPlan {
  checkRecordSettings(p);
  const target = p.epsilon;
  if (p.mode === 'local') {
    const plan = planNoiseMultiplier({ epsilon: target, delta: p.delta, q: p.sampleRate, steps: (p.localSteps ?? 1) * p.rounds, accountant: p.accountant ?? 'rdp' });
    return { mode: 'local', sigma: plan.sigma, epsilon: plan.epsilon, roundEvent: recordLevelRoundEvent(p, plan.sigma) };
  }
  const eps = (s: number): number => recordLevelEpsilon(p, s);
  if (!(eps(MAX_NOISE_MULTIPLIER) <= target)) throw new PrivacyBudgetError(`record-level epsilon ${target} is unreachable with distributed noise (q ${p.sampleRate}, ${p.rounds} rounds, t ${p.threshold})`);
  let lo = planNoiseMultiplier({ epsilon: target, delta: p.delta, q: p.sampleRate, steps: p.rounds, accountant: 'rdp', tolerance: 1e-3 }).sigma / 2;
  let hi = lo * 2;
  while (!(eps(hi) <= target)) {
    lo = hi;
    hi = Math.min(MAX_NOISE_MULTIPLIER, hi * 1.5);
  }
  while (hi / lo > 1 + 1e-4) {
    const mid = Math.sqrt(lo * hi);
    if (eps(mid) <= target) hi = mid;
    else lo = mid;
  }
  const epsilon = eps(hi);
  const roundEvent = recordLevelRoundEvent(p, hi);
  const ownEvent = ownShareOnlyEvent(roundEvent, p.threshold!);
  const own = epsilonOfEvents(Array.from({ length: p.rounds }, () => ownEvent), p.delta, 'rdp');
  return { mode: 'distributed', sigma: hi, epsilon, roundEvent, epsilonOwnShareOnly: own };
}

export function checkRecordSettings(p: RecordLevelSettingsQuery): void {
  if (p === null || typeof p !== 'object') throw new DpArgumentError('settings must be an object');
  if (p.mode !== 'local' && p.mode !== 'distributed') throw new DpArgumentError(`mode must be 'local' or 'distributed', got ${String(p.mode)}`);
  checkNumber('epsilon', p.epsilon, { min: 0, minExclusive: true });
  checkNumber('delta', p.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  checkNumber('l2Clip', p.l2Clip, { min: 0, minExclusive: true });
  checkNumber('sampleRate', p.sampleRate, { min: 0, max: 1, minExclusive: true });
  checkNumber('rounds', p.rounds, { min: 1, integer: true });
  const steps = checkNumber('localSteps', p.localSteps ?? 1, { min: 1, integer: true });
  if (p.mode === 'distributed') {
    if (steps !== 1) throw new DpArgumentError(`localSteps must be 1 with distributed noise (got ${steps}): every noisy step must be released through the secure sum`);
    checkNumber('threshold', p.threshold, { min: 1, integer: true });
    checkNumber('dim', p.dim, { min: 1, integer: true });
  }
}
