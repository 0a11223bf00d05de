/**
 * Exact sums of real numbers under secure aggregation: each value becomes a signed
 * fixed-point integer round(v * 2^fracBits), written in two's complement over
 * 16 * limbs bits and split into `limbs` 16-bit limbs, one per 32-bit ring entry. A sum of
 * up to 65,536 such vectors never carries out of a ring entry (65,536 * (2^16 - 1) < 2^32),
 * so the unmasked sum is recombined exactly: total = sum_k S_k * 2^(16k) mod 2^(16 limbs),
 * read as signed, divided by 2^fracBits. Used for the federated feature statistics
 * (count, sum, sum of squares) that every site standardises with
 * (protocol-spec/03-quantisation.md, "Fixed-point statistics").
 */
import { InvalidArgumentError } from '../errors.js';

export interface FixedPointFormat {
  /** 16-bit limbs per value (each in its own ring entry); 2..8. */
  limbs: number;
  /** Fractional bits of the fixed-point integers; 0..(16 * limbs - 2). */
  fracBits: number;
}

/** 96-bit integers with 40 fractional bits: |value| < 2^55, resolution 2^-40 (about 9e-13). */
export const STATS_FORMAT: Readonly<FixedPointFormat> = Object.freeze({ limbs: 6, fracBits: 40 });

/** Largest number of vectors whose sum is exact (no carry out of a 32-bit entry). */
export const MAX_FIXED_POINT_SUMMANDS = 65_536;

function check(f: FixedPointFormat): { width: bigint; modulus: bigint; half: bigint; scale: number } {
  if (!Number.isInteger(f.limbs) || f.limbs < 2 || f.limbs > 8) throw new InvalidArgumentError(`limbs must be an integer in [2, 8], got ${f.limbs}`);
  if (!Number.isInteger(f.fracBits) || f.fracBits < 0 || f.fracBits > 16 * f.limbs - 2) throw new InvalidArgumentError(`fracBits must be an integer in [0, ${16 * f.limbs - 2}], got ${f.fracBits}`);
  const width = BigInt(16 * f.limbs);
  const modulus = 1n << width;
  return { width, modulus, half: modulus >> 1n, scale: 2 ** f.fracBits };
}

/**
 * Encodes real values as fixed-point limbs: entry (i * limbs + k) holds limb k of value i.
 * @throws InvalidArgumentError for a non-finite value or one outside the format's range
 */
export function encodeFixedPoint(values: ArrayLike<number>, f: FixedPointFormat = STATS_FORMAT): Uint32Array {
  const { modulus, half, scale } = check(f);
  const out = new Uint32Array(values.length * f.limbs);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new InvalidArgumentError(`values[${i}] is not finite`);
    // Exact: scaling by a power of two is exact in float64; round to the nearest integer.
    let n = BigInt(Math.round(v * scale));
    if (n >= half || n < -half) throw new InvalidArgumentError(`values[${i}] = ${v} is outside the fixed-point range (+-2^${16 * f.limbs - 1 - f.fracBits})`);
    if (n < 0n) n += modulus;
    for (let k = 0; k < f.limbs; k++) {
      out[i * f.limbs + k] = Number(n & 0xffffn);
      n >>= 16n;
    }
  }
  return out;
}

/**
 * Recombines a ring sum of encoded vectors (each entry the plain integer sum of limbs, no
 * wrap) into the real sums.
 * @throws InvalidArgumentError when the length is not a multiple of limbs
 */
export function decodeFixedPoint(sum: Uint32Array, f: FixedPointFormat = STATS_FORMAT): Float64Array {
  const { modulus, half } = check(f);
  if (sum.length % f.limbs !== 0) throw new InvalidArgumentError(`sum.length ${sum.length} is not a multiple of limbs ${f.limbs}`);
  const out = new Float64Array(sum.length / f.limbs);
  const divisor = 2 ** f.fracBits;
  for (let i = 0; i < out.length; i++) {
    let n = 0n;
    for (let k = f.limbs - 1; k >= 0; k--) n = (n << 16n) + BigInt(sum[i * f.limbs + k]!);
    n %= modulus;
    if (n >= half) n -= modulus;
    // Split so the float conversion keeps every bit the double can hold.
    const whole = n >> BigInt(f.fracBits);
    const frac = n - (whole << BigInt(f.fracBits));
    out[i] = Number(whole) + Number(frac) / divisor;
  }
  return out;
}
