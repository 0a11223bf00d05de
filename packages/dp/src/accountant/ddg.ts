/**
 * Accounting for the distributed discrete Gaussian (Kairouz, Liu, Steinke, ICML 2021).
 *
 * The sum of n independent discrete Gaussians N_Z(0, s^2) is NOT a discrete Gaussian;
 * Theorem 1 / Proposition 14 of the paper bound its RDP (integer units, dimension d,
 * L2 sensitivity D of the rounded, scaled update) by
 *   r_a <= min{ a D^2 / (2 n s^2) + tau d,  (a/2) (D / (sqrt(n) s) + sqrt(d) tau)^2 },
 *   tau  = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 s^2 k / (k+1)).
 * (The L1 term of the paper's first bound is dropped in favour of tau*d, as in the
 * authors' own accounting; this is the weaker, always-valid form.)
 *
 * Client sampling with probability q < 1 uses the general Poisson-subsampling RDP bound
 * of Zhu and Wang (ICML 2019, Thm. 9), valid for integer orders:
 *   A <= (1-q)^{a-1}(a q - q + 1) + C(a,2) q^2 (1-q)^{a-2} e^{r_2}
 *        + 3 sum_{l=3}^{a} C(a,l) (1-q)^{a-l} q^l e^{(l-1) r_l},
 * taking the smaller of log(A)/(a-1) and the unsampled r_a. Fractional orders are
 * evaluated at ceil(a), which is valid because RDP is non-decreasing in the order.
 */
import { checkNumber } from '../errors.js';
import { logAddExp, logBinomial } from '../math.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';
import { rdpToEpsilon, type EpsilonResult } from './convert.js';

/** Parameters of one DDG release, all in the integer (scaled) domain. */
export interface DdgMechanismParams {
  /** L2 sensitivity of one client's rounded, scaled update (integer units). */
  l2Sensitivity: number;
  /** Standard-deviation parameter s of each client's discrete Gaussian N_Z(0, s^2) (integer units). */
  localSigma: number;
  /** Number of clients whose noise is in the sum (use the minimum that can survive). */
  numClients: number;
  /** Dimension of the (padded) vector. */
  dim: number;
}

/** The paper's tau for n clients with local parameter s. */
export function ddgTau(localSigma: number, numClients: number): number {
  let tau = 0;
  const s2 = localSigma * localSigma;
  for (let k = 1; k < numClients; k++) tau += Math.exp((-2 * Math.PI * Math.PI * s2 * k) / (k + 1));
  return 10 * tau;
}

function checkParams(p: DdgMechanismParams): void {
  checkNumber('l2Sensitivity', p.l2Sensitivity, { min: 0 });
  checkNumber('localSigma', p.localSigma, { min: 0.5 });
  checkNumber('numClients', p.numClients, { min: 1, integer: true });
  checkNumber('dim', p.dim, { min: 1, integer: true });
}

/** Unsampled RDP at order a (a >= 1) of one DDG release. */
export function ddgRdpUnsampled(p: DdgMechanismParams, a: number, tau = ddgTau(p.localSigma, p.numClients)): number {
  const scale = p.l2Sensitivity / (Math.sqrt(p.numClients) * p.localSigma);
  const first = (a * scale * scale) / 2 + tau * p.dim;
  const second = (a / 2) * (scale + Math.sqrt(p.dim) * tau) ** 2;
  return Math.min(first, second);
}

/** RDP at integer order a >= 2 of one DDG release with client sampling probability q. */
export function ddgRdp(p: DdgMechanismParams, q: number, a: number): number {
  checkParams(p);
  checkNumber('q', q, { min: 0, max: 1 });
  const order = Math.ceil(a);
  if (order < 2) return ddgRdp(p, q, 2);
  if (q === 0) return 0;
  const tau = ddgTau(p.localSigma, p.numClients);
  const plain = ddgRdpUnsampled(p, order, tau);
  if (q === 1) return plain;
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  let acc = (order - 1) * l1q + Math.log(order * q - q + 1);
  acc = logAddExp(acc, logBinomial(order, 2) + 2 * lq + (order - 2) * l1q + ddgRdpUnsampled(p, 2, tau));
  for (let l = 3; l <= order; l++) {
    acc = logAddExp(acc, Math.log(3) + logBinomial(order, l) + (order - l) * l1q + l * lq + (l - 1) * ddgRdpUnsampled(p, l, tau));
  }
  return Math.min(plain, acc / (order - 1));
}

/** RDP curve of `steps` DDG releases on the given orders. */
export function computeDdgRdp(p: DdgMechanismParams, q: number, steps: number, orders: readonly number[] = DEFAULT_RDP_ORDERS): Float64Array {
  checkNumber('steps', steps, { min: 0, integer: true });
  const out = new Float64Array(orders.length);
  for (let i = 0; i < orders.length; i++) out[i] = steps * ddgRdp(p, q, orders[i]!);
  return out;
}

/** Epsilon at delta after `steps` DDG releases (RDP accounting). */
export function ddgEpsilon(p: DdgMechanismParams & { q: number; steps: number; delta: number; orders?: readonly number[] }): EpsilonResult {
  const orders = p.orders ?? DEFAULT_RDP_ORDERS;
  return rdpToEpsilon(orders, computeDdgRdp(p, p.q, p.steps, orders), p.delta);
}
