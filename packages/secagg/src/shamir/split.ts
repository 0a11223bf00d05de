/** Shamir splitting of a 32-byte secret over GF(2^256 + 297). */
import { InvalidArgumentError, SecAggError } from '../errors.js';
import type { Rng } from '../rng.js';
import { assertBytes, assertInt } from '../crypto/bytes.js';
import { bigintToBytes, bytesToBigint, modP, randomFieldElement, SHAMIR_MAX_X, SHAMIR_SECRET_BYTES, SHAMIR_SHARE_BYTES } from './field.js';

/** One share: the point (x, f(x)) with y as 33 big-endian bytes. */
export interface ShamirShare {
  x: number;
  y: Uint8Array;
}

/**
 * The polynomial coefficients [secret, a_1, ..., a_{t-1}] that shamirSplit would use:
 * a_1..a_{t-1} drawn in that order with randomFieldElement (exposed for test vectors).
 */
export function shamirPolynomial(secret: Uint8Array, threshold: number, rng: Rng): bigint[] {
  assertBytes(secret, 'secret', SHAMIR_SECRET_BYTES);
  assertInt(threshold, 'threshold', 1, SHAMIR_MAX_X);
  const coeffs = [bytesToBigint(secret)];
  for (let i = 1; i < threshold; i++) coeffs.push(randomFieldElement(rng));
  return coeffs;
}

/** f(x) mod p by Horner's rule. */
export function evaluatePolynomial(coeffs: readonly bigint[], x: number): bigint {
  const bx = BigInt(x);
  let acc = 0n;
  for (let i = coeffs.length - 1; i >= 0; i--) acc = modP(acc * bx + coeffs[i]!);
  return acc;
}

/**
 * Splits a 32-byte secret into one share per x-coordinate; any `threshold` shares
 * reconstruct it and any threshold - 1 reveal nothing about it.
 * @param secret - 32 bytes, read as a big-endian integer
 * @param threshold - t, 1 <= t <= xs.length (t = 1 gives no secrecy: every share is the secret)
 * @param xs - distinct integer x-coordinates in [1, 65535]
 * @param rng - randomness for the t - 1 random coefficients
 * @returns shares in the order of xs
 * @throws InvalidArgumentError for a bad secret, threshold or xs; SecAggError
 *   ERR_SHARE_DUPLICATE for repeated x-coordinates
 */
export function shamirSplit(secret: Uint8Array, threshold: number, xs: readonly number[], rng: Rng): ShamirShare[] {
  if (!Array.isArray(xs)) throw new InvalidArgumentError('xs must be an array of integers');
  xs.forEach((x, i) => assertInt(x, `xs[${i}]`, 1, SHAMIR_MAX_X));
  if (new Set(xs).size !== xs.length) throw new SecAggError('ERR_SHARE_DUPLICATE', 'xs contains a repeated x-coordinate');
  assertInt(threshold, 'threshold', 1, Math.max(1, xs.length));
  if (xs.length === 0) throw new InvalidArgumentError('xs must not be empty');
  const coeffs = shamirPolynomial(secret, threshold, rng);
  const shares = xs.map((x) => ({ x, y: bigintToBytes(evaluatePolynomial(coeffs, x), SHAMIR_SHARE_BYTES) }));
  coeffs.fill(0n);
  return shares;
}
