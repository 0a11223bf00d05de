/** Shamir reconstruction (Lagrange interpolation at 0) with share validation. */
import { InvalidArgumentError, SecAggError } from '../errors.js';
import { assertInt } from '../crypto/bytes.js';
import { bigintToBytes, bytesToBigint, invModP, modP, SHAMIR_MAX_X, SHAMIR_PRIME, SHAMIR_SECRET_BYTES, SHAMIR_SHARE_BYTES } from './field.js';
import type { ShamirShare } from './split.js';

/**
 * Checks one share's shape: x an integer in [1, 65535], y a 33-byte big-endian value < p.
 * @param name - used in the error message (e.g. "shares[3]")
 * @throws SecAggError ERR_SHARE_INVALID
 */
export function validateShare(share: unknown, name = 'share'): asserts share is ShamirShare {
  if (share === null || typeof share !== 'object') throw new SecAggError('ERR_SHARE_INVALID', `${name} must be an object { x, y }`);
  const { x, y } = share as { x: unknown; y: unknown };
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > SHAMIR_MAX_X) {
    throw new SecAggError('ERR_SHARE_INVALID', `${name}.x must be an integer in [1, ${SHAMIR_MAX_X}], got ${String(x)}`);
  }
  if (!(y instanceof Uint8Array) || y.length !== SHAMIR_SHARE_BYTES) {
    throw new SecAggError('ERR_SHARE_INVALID', `${name}.y must be a ${SHAMIR_SHARE_BYTES}-byte Uint8Array`);
  }
  if (bytesToBigint(y) >= SHAMIR_PRIME) throw new SecAggError('ERR_SHARE_INVALID', `${name}.y is not a field element (>= p)`);
}

/** Per x-set data: the inverted Lagrange denominators and the basis values at 0. */
interface Basis {
  xs: bigint[];
  /** 1 / prod_{j != i} (x_i - x_j) mod p */
  invDen: bigint[];
  /** L_i(0) = prod_{j != i} x_j / (x_j - x_i) mod p */
  atZero: bigint[];
}

const basisCache = new Map<string, Basis>();
const BASIS_CACHE_LIMIT = 64;

/** prod_{j != i} v_j for every i, by prefix and suffix products (no division). */
function productsExceptSelf(v: readonly bigint[]): bigint[] {
  const n = v.length;
  const out = new Array<bigint>(n).fill(1n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    out[i] = acc;
    acc = (acc * v[i]!) % SHAMIR_PRIME;
  }
  acc = 1n;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = (out[i]! * acc) % SHAMIR_PRIME;
    acc = (acc * v[i]!) % SHAMIR_PRIME;
  }
  return out;
}

/** Inverts every (non-zero) element with one modular inversion (Montgomery's trick). */
function batchInvert(v: readonly bigint[]): bigint[] {
  const prefix: bigint[] = [];
  let acc = 1n;
  for (const x of v) {
    prefix.push(acc);
    acc = (acc * x) % SHAMIR_PRIME;
  }
  let inv = invModP(acc);
  const out = new Array<bigint>(v.length);
  for (let i = v.length - 1; i >= 0; i--) {
    out[i] = (inv * prefix[i]!) % SHAMIR_PRIME;
    inv = (inv * v[i]!) % SHAMIR_PRIME;
  }
  return out;
}

/** The Basis of distinct xs, cached because a server reconstructs many secrets from the same survivors. */
function basisFor(xsNum: readonly number[]): Basis {
  const key = xsNum.join(',');
  const hit = basisCache.get(key);
  if (hit) return hit;
  const xs = xsNum.map(BigInt);
  const den = xs.map((xi, i) => {
    let d = 1n;
    for (let j = 0; j < xs.length; j++) if (j !== i) d = (d * (xi - xs[j]!)) % SHAMIR_PRIME;
    return modP(d);
  });
  const invDen = batchInvert(den);
  const minusX = productsExceptSelf(xs.map((x) => modP(-x)));
  const basis: Basis = { xs, invDen, atZero: invDen.map((inv, i) => (inv * minusX[i]!) % SHAMIR_PRIME) };
  if (basisCache.size >= BASIS_CACHE_LIMIT) basisCache.delete(basisCache.keys().next().value!);
  basisCache.set(key, basis);
  return basis;
}

/** The interpolating polynomial through (basis.xs, ys) evaluated at x, in O(t). */
function interpolateAt(basis: Basis, ys: readonly bigint[], x: bigint): bigint {
  const others = productsExceptSelf(basis.xs.map((xi) => modP(x - xi)));
  let acc = 0n;
  for (let i = 0; i < ys.length; i++) acc += ((ys[i]! * basis.invDen[i]!) % SHAMIR_PRIME) * others[i]!;
  return modP(acc);
}

/**
 * The polynomial of degree < xs.length through (xs[i], ys[i]) as an evaluator, O(t) per
 * point (the basis of xs is cached). xs distinct, in [1, 65535]; ys field elements.
 */
export function lagrangeEvaluator(xs: readonly number[], ys: readonly bigint[]): (x: bigint) => bigint {
  const basis = basisFor(xs);
  return (x) => interpolateAt(basis, ys, x);
}

/**
 * Lagrange basis values at 0 for distinct xs: L_i = prod_{j != i} x_j / (x_j - x_i) mod p.
 */
export function lagrangeAtZero(xs: readonly number[]): bigint[] {
  return [...basisFor(xs).atZero];
}

/**
 * The checks every reconstruction starts with: an array of well-formed shares, distinct x,
 * at least `threshold` of them.
 * @throws SecAggError ERR_SHARE_INVALID / ERR_SHARE_DUPLICATE / ERR_TOO_FEW_SHARES;
 *   InvalidArgumentError for a bad threshold
 */
export function checkShareSet(shares: readonly ShamirShare[], threshold: number): void {
  if (!Array.isArray(shares)) throw new InvalidArgumentError('shares must be an array of { x, y }');
  assertInt(threshold, 'threshold', 1, SHAMIR_MAX_X);
  shares.forEach((s, i) => validateShare(s, `shares[${i}]`));
  const seen = new Set<number>();
  for (const [i, s] of shares.entries()) {
    if (seen.has(s.x)) throw new SecAggError('ERR_SHARE_DUPLICATE', `shares[${i}].x = ${s.x} repeats an earlier share's x`);
    seen.add(s.x);
  }
  if (shares.length < threshold) {
    throw new SecAggError('ERR_TOO_FEW_SHARES', `need ${threshold} shares to reconstruct, got ${shares.length}`);
  }
}

/**
 * Reconstructs the secret from at least `threshold` shares. With more than t shares the
 * first t interpolate and every further share must lie on the same polynomial.
 * @returns the 32-byte secret
 * @throws SecAggError ERR_SHARE_INVALID (malformed share), ERR_SHARE_DUPLICATE (repeated x),
 *   ERR_TOO_FEW_SHARES (fewer than t), ERR_SHARE_INCONSISTENT (extra shares off the
 *   polynomial, or a result >= 2^256, which no honest split produces); InvalidArgumentError
 *   for a bad threshold
 */
export function shamirCombine(shares: readonly ShamirShare[], threshold: number): Uint8Array {
  checkShareSet(shares, threshold);
  const first = shares.slice(0, threshold);
  const ys = first.map((s) => bytesToBigint(s.y));
  const basis = basisFor(first.map((s) => s.x));
  let secret = 0n;
  for (let i = 0; i < threshold; i++) secret += ys[i]! * basis.atZero[i]!;
  secret = modP(secret);
  for (const s of shares.slice(threshold)) {
    if (interpolateAt(basis, ys, BigInt(s.x)) !== bytesToBigint(s.y)) {
      throw new SecAggError('ERR_SHARE_INCONSISTENT', `share with x = ${s.x} does not lie on the polynomial of the first ${threshold} shares`);
    }
  }
  if (secret >= 1n << 256n) throw new SecAggError('ERR_SHARE_INCONSISTENT', 'shares reconstruct a value >= 2^256, not a 32-byte secret');
  return bigintToBytes(secret, SHAMIR_SECRET_BYTES);
}
