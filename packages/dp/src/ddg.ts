/**
 * Distributed discrete Gaussian (DDG) encoder/decoder for SecAgg (Kairouz, Liu, Steinke,
 * ICML 2021, Alg. 1-2). Client: clip -> pad to 2^k -> randomised Walsh-Hadamard rotation
 * (per-round shared seed) -> scale by 1/gamma -> conditional randomised rounding (retry
 * until the rounded norm is within the bound that holds w.p. >= 1 - beta) -> add
 * N_Z(0, s^2) per coordinate -> reduce mod 2^bits (two's complement in a Uint32Array).
 * Server: the SecAgg sum mod 2^bits -> centre into [-2^(bits-1), 2^(bits-1)) -> times gamma
 * -> inverse rotation -> drop the padding.
 *
 * Scale chooser (protocol-spec/08-dp.md): with n_c clients, padded dimension n and local
 * noise std s (real units), each coordinate of the integer sum is
 *   signal (sub-Gaussian over the random signs, variance proxy n_c^2 c^2 / (n gamma^2))
 *   + noise (sum of n_c discrete Gaussians, proxy n_c s^2 / gamma^2)
 *   + rounding error (|.| <= n_c deterministically).
 * So P(any coordinate wraps) <= 2 n exp(-(2^(bits-1) - n_c)^2 gamma^2 / (2 V)), V = n_c^2 c^2 / n + n_c s^2,
 * and the chooser takes the finest gamma meeting the target:
 *   gamma = sqrt(2 V ln(2 n / p_wrap)) / (2^(bits-1) - n_c).
 */
import { DpArgumentError, DpError, checkNumber } from './errors.js';
import { clipL2 } from './clip.js';
import { rotate, rotationSigns, unrotate } from './hadamard.js';
import { sampleDiscreteGaussian } from './discrete-gaussian.js';
import { cryptoRandom, type RandomSource } from './rng.js';
import { ddgEpsilon, ddgTau } from './accountant/ddg.js';
import type { DdgEvent } from './ledger.js';

export interface DdgConfig {
  /** Length of the model update. */
  dim: number;
  /** Clients whose noise shares enter every sum (use the minimum number that can survive). */
  numClients: number;
  /** L2 clipping norm of one client's update (real units). */
  l2Clip: number;
  /** Central noise multiplier z: the summed noise has std ~ z * l2Clip. Give this or localNoiseStddev. */
  noiseMultiplier?: number;
  /** Per-client noise std in real units (alternative to noiseMultiplier). */
  localNoiseStddev?: number;
  /** Alias of localNoiseStddev. */
  noiseStddevPerClient?: number;
  /** Bits of the SecAgg modulus 2^bits (2..32, default 16). */
  bits?: number;
  /** Conditional rounding failure probability beta (default e^-0.5). */
  beta?: number;
  /** Bound on the probability that any coordinate of the sum wraps around (default 1e-9). */
  wrapProbability?: number;
  /** Cap on rounding retries before DP_ROUNDING_FAILED (default 1000). */
  maxRoundingAttempts?: number;
}

export interface DdgParams {
  dim: number;
  paddedDim: number;
  bits: number;
  numClients: number;
  l2Clip: number;
  beta: number;
  /** Real-valued width of one integer step (1 / scale). */
  gamma: number;
  /** Per-client discrete Gaussian parameter in integer units (localNoiseStddev / gamma). */
  localSigma: number;
  /** L2 norm bound of the rounded scaled update (integer units) = the DDG L2 sensitivity. */
  l2Sensitivity: number;
  /** The wraparound bound achieved by gamma. */
  wrapProbability: number;
  /** The paper's tau (sum-of-discrete-Gaussians correction). */
  tau: number;
  /** Upper bound on the per-coordinate std of the decoded sum's error (real units). */
  sumErrorStddev: number;
}

export interface DdgEncoder {
  readonly params: DdgParams;
  /** Client side: the update (length dim) -> Uint32Array (length paddedDim) of residues mod 2^bits. */
  encode(update: ArrayLike<number>, roundSeed: Uint8Array, rng?: RandomSource): Uint32Array;
  /** Server side: the modular sum of encodings (length paddedDim) -> Float32Array (length dim). */
  decode(sum: Uint32Array, roundSeed: Uint8Array): Float32Array;
  /** The ledger event of one round with client sampling probability q. */
  privacyEvent(q: number): DdgEvent;
  /** Epsilon after `steps` rounds at sampling rate q (RDP, Kairouz et al. Thm. 1 + Zhu-Wang sampling). */
  epsilon(p: { q: number; steps: number; delta: number }): number;
}

/** Smallest power of two >= n. */
export function paddedLength(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Chooses gamma and derived parameters (see the module comment for the formula). */
export function chooseDdgParams(cfg: DdgConfig): DdgParams {
  const dim = checkNumber('dim', cfg.dim, { min: 1, integer: true, max: 2 ** 28 });
  const numClients = checkNumber('numClients', cfg.numClients, { min: 1, integer: true });
  const l2Clip = checkNumber('l2Clip', cfg.l2Clip, { min: 0, minExclusive: true });
  const bits = checkNumber('bits', cfg.bits ?? 16, { min: 2, max: 32, integer: true });
  const beta = checkNumber('beta', cfg.beta ?? Math.exp(-0.5), { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const pWrap = checkNumber('wrapProbability', cfg.wrapProbability ?? 1e-9, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  let localStd: number;
  if (cfg.localNoiseStddev !== undefined && cfg.noiseStddevPerClient !== undefined && cfg.localNoiseStddev !== cfg.noiseStddevPerClient) {
    throw new DpArgumentError('localNoiseStddev and noiseStddevPerClient disagree; give one');
  }
  const perClient = cfg.localNoiseStddev ?? cfg.noiseStddevPerClient;
  if (perClient !== undefined) localStd = checkNumber('localNoiseStddev', perClient, { min: 0, minExclusive: true });
  else if (cfg.noiseMultiplier !== undefined) localStd = (checkNumber('noiseMultiplier', cfg.noiseMultiplier, { min: 0, minExclusive: true }) * l2Clip) / Math.sqrt(numClients);
  else throw new DpArgumentError('one of noiseMultiplier or localNoiseStddev (noiseStddevPerClient) is required');
  const n = paddedLength(dim);
  const half = 2 ** (bits - 1);
  if (half <= numClients) {
    throw new DpError('DP_WRAPAROUND_BOUND', `bits=${bits} is too small for ${numClients} clients: 2^(bits-1) must exceed numClients`);
  }
  const V = (numClients * numClients * l2Clip * l2Clip) / n + numClients * localStd * localStd;
  const gamma = Math.sqrt(2 * V * Math.log((2 * n) / pWrap)) / (half - numClients);
  const localSigma = localStd / gamma;
  if (localSigma < 0.5) {
    throw new DpError('DP_WRAPAROUND_BOUND', `bits=${bits} leaves a local noise parameter ${localSigma.toPrecision(3)} < 0.5 integer steps; use more bits or more noise`);
  }
  const c = l2Clip / gamma;
  const deterministic = (c + Math.sqrt(n)) ** 2;
  const probabilistic = c * c + n / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (c + Math.sqrt(n) / 2);
  const l2Sensitivity = Math.sqrt(Math.min(deterministic, probabilistic));
  return {
    dim, paddedDim: n, bits, numClients, l2Clip, beta, gamma, localSigma, l2Sensitivity,
    wrapProbability: pWrap,
    tau: ddgTau(localSigma, numClients),
    sumErrorStddev: gamma * Math.sqrt(numClients * (localSigma * localSigma + 0.25)),
  };
}

/**
 * Creates a DDG encoder/decoder pair for one federation configuration.
 * @example
 *   const ddg = createDdgEncoder({ dim: 1000, numClients: 10, l2Clip: 1, noiseMultiplier: 1 });
 *   const enc = ddg.encode(update, roundSeed);           // each client; sum mod 2^bits via SecAgg
 *   const mean = ddg.decode(sum, roundSeed);             // server; divide by the count yourself
 */
export function createDdgEncoder(cfg: DdgConfig): DdgEncoder {
  const params = chooseDdgParams(cfg);
  const maxAttempts = checkNumber('maxRoundingAttempts', cfg.maxRoundingAttempts ?? 1000, { min: 1, integer: true });
  const { dim, paddedDim: n, bits, gamma, localSigma, l2Sensitivity } = params;
  const modulus = 2 ** bits;
  const boundSq = l2Sensitivity * l2Sensitivity;

  function checkSeed(roundSeed: Uint8Array): void {
    if (!(roundSeed instanceof Uint8Array) || roundSeed.length < 16) throw new DpArgumentError('roundSeed must be a Uint8Array of at least 16 bytes');
  }

  return {
    params,
    encode(update, roundSeed, rng = cryptoRandom()) {
      checkSeed(roundSeed);
      if (!update || update.length !== dim) throw new DpArgumentError(`update must have length ${dim}, got ${update?.length}`);
      const { clipped } = clipL2(update, params.l2Clip);
      const x = new Float64Array(n);
      x.set(clipped);
      rotate(x, rotationSigns(roundSeed, n));
      const inv = 1 / gamma;
      for (let i = 0; i < n; i++) x[i] = x[i]! * inv;
      const rounded = new Float64Array(n);
      let ok = false;
      for (let attempt = 0; attempt < maxAttempts && !ok; attempt++) {
        let ss = 0;
        for (let i = 0; i < n; i++) {
          const f = Math.floor(x[i]!);
          const r = rng.uniform53() < x[i]! - f ? f + 1 : f;
          rounded[i] = r;
          ss += r * r;
        }
        ok = ss <= boundSq;
      }
      if (!ok) throw new DpError('DP_ROUNDING_FAILED', `conditional rounding failed ${maxAttempts} times (bound ${l2Sensitivity})`);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const v = rounded[i]! + sampleDiscreteGaussian(localSigma, rng);
        out[i] = ((v % modulus) + modulus) % modulus;
      }
      return out;
    },
    decode(sum, roundSeed) {
      checkSeed(roundSeed);
      if (!(sum instanceof Uint32Array) || sum.length !== n) throw new DpArgumentError(`sum must be a Uint32Array of length ${n}`);
      const half = modulus / 2;
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = sum[i]! % modulus;
        y[i] = (v >= half ? v - modulus : v) * gamma;
      }
      unrotate(y, rotationSigns(roundSeed, n));
      return Float32Array.from(y.subarray(0, dim));
    },
    privacyEvent(q) {
      checkNumber('q', q, { min: 0, max: 1 });
      return { mechanism: 'ddg', q, l2Sensitivity, localSigma, numClients: params.numClients, dim: n };
    },
    epsilon({ q, steps, delta }) {
      return ddgEpsilon({ q, steps, delta, l2Sensitivity, localSigma, numClients: params.numClients, dim: n }).epsilon;
    },
  };
}

/** Adds encodings mod 2^bits (what SecAgg computes); for tests and plaintext simulation. */
export function addModular(a: Uint32Array, b: Uint32Array, bits: number): Uint32Array {
  if (a.length !== b.length) throw new DpArgumentError(`lengths differ: ${a.length} vs ${b.length}`);
  const m = 2 ** bits;
  const out = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i]! + b[i]!) % m;
  return out;
}

/**
 * Bit-width chooser: the smallest `bits` (2..32) for which the scale chooser succeeds and
 * the rounding inflates the L2 sensitivity by at most `maxSensitivityInflation`
 * (D * gamma / c - 1, default 5%): fewer bits mean coarser gamma and more rounding noise.
 * @throws DpError DP_WRAPAROUND_BOUND if even 32 bits do not meet it.
 */
export function chooseDdgBits(cfg: Omit<DdgConfig, 'bits'>, maxSensitivityInflation = 0.05): DdgParams {
  checkNumber('maxSensitivityInflation', maxSensitivityInflation, { min: 0, minExclusive: true });
  let last: unknown;
  for (let bits = 2; bits <= 32; bits++) {
    try {
      const p = chooseDdgParams({ ...cfg, bits });
      if ((p.l2Sensitivity * p.gamma) / p.l2Clip - 1 <= maxSensitivityInflation) return p;
    } catch (err) {
      if (!(err instanceof DpError && err.code === 'DP_WRAPAROUND_BOUND')) throw err;
      last = err;
    }
  }
  throw new DpError('DP_WRAPAROUND_BOUND', `no bit width up to 32 keeps the sensitivity inflation within ${maxSensitivityInflation}${last ? ` (${(last as Error).message})` : ''}`);
}
