/**
 * The Shamir field GF(p) with p = 2^256 + 297, the smallest prime above 2^256, so any
 * 32-byte secret is a field element and no chunking is needed (protocol-spec/02-shamir.md).
 */
import type { Rng } from '../rng.js';

/** p = 2^256 + 297 (primality: test/shamir-field.test.ts). */
export const SHAMIR_PRIME = (1n << 256n) + 297n;
/** Bytes of a secret (any value in [0, 2^256)). */
export const SHAMIR_SECRET_BYTES = 32;
/** Bytes of a share's y: big-endian, fixed length, value < p. */
export const SHAMIR_SHARE_BYTES = 33;
/** x-coordinates are integers in [1, SHAMIR_MAX_X]; 0 would reveal the secret. */
export const SHAMIR_MAX_X = 65535;

/** a mod p in [0, p). */
export function modP(a: bigint): bigint {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
}

/** The inverse of a non-zero a mod p (extended Euclid). */
export function invModP(a: bigint): bigint {
  let [r0, r1] = [SHAMIR_PRIME, modP(a)];
  if (r1 === 0n) throw new RangeError('invModP: zero has no inverse');
  let [s0, s1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return modP(s0);
}

/** Big-endian bytes to bigint. */
export function bytesToBigint(bytes: Uint8Array): bigint {
  // One hex parse instead of a BigInt shift per byte (reconstruction reads many shares).
  if (bytes.length === 0) return 0n;
  return BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

/** bigint (0 <= v < 2^(8*length)) to fixed-length big-endian bytes. */
export function bigintToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (v >= 0n && v < 1n << BigInt(8 * length)) {
    // Fast path: one hex conversion instead of a BigInt shift per byte.
    out.set(Buffer.from(v.toString(16).padStart(2 * length, '0'), 'hex'));
    return out;
  }
  // Out of range (callers never pass one): keep the low 8*length bits, as before.
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * A uniform field element by rejection: draw 33 bytes from rng, clear all but the lowest
 * bit of the first byte (a value < 2^257), accept if < p (probability ~1/2), else draw again.
 */
export function randomFieldElement(rng: Rng): bigint {
  const buf = new Uint8Array(SHAMIR_SHARE_BYTES);
  for (;;) {
    rng.fill(buf);
    buf[0] = buf[0]! & 0x01;
    const v = bytesToBigint(buf);
    if (v < SHAMIR_PRIME) return v;
  }
}
