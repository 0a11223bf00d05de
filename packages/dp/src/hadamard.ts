/**
 * Randomised Walsh-Hadamard rotation (Kairouz, Liu, Steinke 2021, Sec. 4 "flattening"):
 * R x = (1/sqrt(n)) H D x with D = diag(random signs) and H the n x n Hadamard matrix.
 * R is orthogonal; R^{-1} y = D (1/sqrt(n)) H y because H^2 = n I.
 */
import { DpArgumentError } from './errors.js';
import { keystream } from './rng.js';

/** Domain-separation label of the rotation-sign stream (see protocol-spec/08-dp.md). */
export const ROTATION_INFO = 'fedmeta/dp/ddg/rotation-signs/v1';

/** In-place unnormalised fast Walsh-Hadamard transform; length must be a power of two. */
export function fwht(x: Float64Array): void {
  const n = x.length;
  if (n & (n - 1)) throw new DpArgumentError(`length must be a power of two, got ${n}`);
  for (let h = 1; h < n; h <<= 1) {
    for (let i = 0; i < n; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const a = x[j]!;
        const b = x[j + h]!;
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
}

/**
 * The n rotation signs of a round, derived from the round seed: bit i (LSB-first in byte
 * i >> 3) of AES-256-CTR(HKDF-SHA256(seed, info=ROTATION_INFO)) keystream; 1 means -1.
 */
export function rotationSigns(roundSeed: Uint8Array, n: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(n / 8));
  keystream(roundSeed, ROTATION_INFO)(bytes);
  return bytes;
}

function applySigns(x: Float64Array, signs: Uint8Array): void {
  for (let i = 0; i < x.length; i++) if ((signs[i >> 3]! >> (i & 7)) & 1) x[i] = -x[i]!;
}

/** In place: x <- (1/sqrt(n)) H D x. */
export function rotate(x: Float64Array, signs: Uint8Array): void {
  applySigns(x, signs);
  fwht(x);
  const s = 1 / Math.sqrt(x.length);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
}

/** In place: y <- D (1/sqrt(n)) H y (the inverse of rotate). */
export function unrotate(y: Float64Array, signs: Uint8Array): void {
  fwht(y);
  const s = 1 / Math.sqrt(y.length);
  for (let i = 0; i < y.length; i++) y[i] = y[i]! * s;
  applySigns(y, signs);
}
