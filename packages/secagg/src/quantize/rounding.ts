/**
 * Unbiased stochastic rounding driven by an injected Rng: v rounds up to floor(v) + 1
 * with probability frac(v) = v - floor(v), else down, so E[round(v)] = v.
 * Each rounding consumes 8 bytes: u = (hi >>> 5) * 2^26 + (lo >>> 6), a uniform integer in
 * [0, 2^53) from the little-endian words lo = bytes 0..3, hi = bytes 4..7; round up iff
 * u < frac * 2^53. That is exact whenever frac is a multiple of 2^-53 (always when
 * |v| >= 1), and biased by < 2^-53 otherwise.
 */
import type { Rng } from '../rng.js';

const BLOCK = 4096;

/** Buffers rng output so rounding m values costs m/4096 rng calls, not m. */
export class StochasticRounder {
  private readonly bytes = new Uint8Array(BLOCK * 8);
  private readonly words = new Uint32Array(this.bytes.buffer);
  private next = BLOCK;

  constructor(private readonly rng: Rng) {}

  /** A uniform integer in [0, 2^53). */
  uniform53(): number {
    if (this.next === BLOCK) {
      this.rng.fill(this.bytes);
      this.next = 0;
    }
    const i = this.next++ * 2;
    const lo = littleEndianWord(this.bytes, this.words, i);
    const hi = littleEndianWord(this.bytes, this.words, i + 1);
    return (hi >>> 5) * 67108864 + (lo >>> 6);
  }

  /** floor(v) or floor(v) + 1, up with probability v - floor(v). */
  round(v: number): number {
    const f = Math.floor(v);
    const frac = v - f;
    return this.uniform53() < frac * 9007199254740992 ? f + 1 : f;
  }

  /**
   * The bulk form of round() used by the encoder, drawing the same bytes in the same
   * order: out[offset + j] = two's complement mod `modulus` of
   * clamp(round(src[j] * factor), -range, range).
   */
  roundScaledInto(src: Float64Array, factor: number, range: number, modulus: number, out: Uint32Array, offset: number): void {
    if (!LITTLE_ENDIAN) {
      for (let j = 0; j < src.length; j++) out[offset + j] = encodeRounded(this.round(src[j]! * factor), range, modulus);
      return;
    }
    const words = this.words;
    let j = 0;
    while (j < src.length) {
      if (this.next === BLOCK) {
        this.rng.fill(this.bytes);
        this.next = 0;
      }
      const end = Math.min(src.length, j + (BLOCK - this.next));
      let w = this.next * 2;
      for (; j < end; j++, w += 2) {
        const v = src[j]! * factor;
        const f = Math.floor(v);
        const u = (words[w + 1]! >>> 5) * 67108864 + (words[w]! >>> 6);
        const q = u < (v - f) * 9007199254740992 ? f + 1 : f;
        out[offset + j] = encodeRounded(q, range, modulus);
      }
      this.next = w / 2;
    }
  }
}

/** clamp(q, -range, range) in two's complement mod `modulus`. */
function encodeRounded(q: number, range: number, modulus: number): number {
  if (q > range) q = range;
  else if (q < -range) q = -range;
  return q < 0 ? q + modulus : q;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function littleEndianWord(bytes: Uint8Array, words: Uint32Array, w: number): number {
  if (LITTLE_ENDIAN) return words[w]!;
  const o = w * 4;
  return (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24)) >>> 0;
}
