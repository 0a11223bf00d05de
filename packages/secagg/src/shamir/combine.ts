/** Shamir reconstruction (Lagrange interpolation at 0) with share validation. */
import { InvalidArgumentError, SecAggError } from '../errors.js';
import { assertInt } from '../crypto/bytes.js';
import { bigintToBytes, bytesToBigint, invModP, modP, SHAMIR_MAX_X, SHAMIR_PRIME, SHAMIR_SECRET_BYTES, SHAMIR_SHARE_BYTES } from './field.js';
import { evaluatePolynomial, type ShamirShare } from './split.js';

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

const lagrangeCache = new Map<string, bigint[]>();
const LAGRANGE_CACHE_LIMIT = 64;

/**
 * Lagrange basis values at 0 for distinct xs: L_i = prod_{j != i} x_j / (x_j - x_i) mod p.
 * Cached per x-set, because a server reconstructs many secrets from the same survivors.
 */
export function lagrangeAtZero(xs: readonly number[]): bigint[] {
  const key = xs.join(',');
  const hit = lagrangeCache.get(key);
  if (hit) return hit;
  const coeffs = xs.map((xi, i) => {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (j === i) continue;
      num = (num * BigInt(xs[j]!)) % SHAMIR_PRIME;
      den = (den * BigInt(xs[j]! - xi)) % SHAMIR_PRIME;
    }
    return modP(num * invModP(den));
  });
  if (lagrangeCache.size >= LAGRANGE_CACHE_LIMIT) lagrangeCache.delete(lagrangeCache.keys().next().value!);
  lagrangeCache.set(key, coeffs);
  return coeffs;
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
  const basis = shares.slice(0, threshold);
  const ys = basis.map((s) => bytesToBigint(s.y));
  const lambdas = lagrangeAtZero(basis.map((s) => s.x));
  let secret = 0n;
  for (let i = 0; i < threshold; i++) secret += ys[i]! * lambdas[i]!;
  secret = modP(secret);
  if (shares.length > threshold) checkExtraShares(basis, ys, shares.slice(threshold));
  if (secret >= 1n << 256n) throw new SecAggError('ERR_SHARE_INCONSISTENT', 'shares reconstruct a value >= 2^256, not a 32-byte secret');
  return bigintToBytes(secret, SHAMIR_SECRET_BYTES);
}

/** Interpolates the full polynomial through `basis` (O(t^2)) and checks `extra` against it. */
function checkExtraShares(basis: readonly ShamirShare[], ys: readonly bigint[], extra: readonly ShamirShare[]): void {
  const t = basis.length;
  const xs = basis.map((s) => BigInt(s.x));
  // Newton divided differences give the coefficients in the Newton basis.
  const dd = [...ys];
  for (let level = 1; level < t; level++) {
    for (let i = t - 1; i >= level; i--) {
      dd[i] = modP((dd[i]! - dd[i - 1]!) * invModP(xs[i]! - xs[i - level]!));
    }
  }
  for (const s of extra) {
    const x = BigInt(s.x);
    let acc = dd[t - 1]!;
    for (let i = t - 2; i >= 0; i--) acc = modP(acc * (x - xs[i]!) + dd[i]!);
    if (acc !== bytesToBigint(s.y)) {
      throw new SecAggError('ERR_SHARE_INCONSISTENT', `share with x = ${s.x} does not lie on the polynomial of the first ${t} shares`);
    }
  }
}

