/**
 * CSPRNG bit sources for the samplers. Never Math.random.
 * - cryptoRandom(): node:crypto randomFillSync (OS CSPRNG), buffered.
 * - seededRandom(seed): AES-256-CTR keystream under a key derived by HKDF-SHA256 from
 *   the seed; deterministic, for tests and reproducible simulations only.
 */
import { createCipheriv, hkdfSync, randomFillSync } from 'node:crypto';
import { DpArgumentError } from './errors.js';

/** A source of uniformly random 32-bit words plus exact derived draws. */
export interface RandomSource {
  /** A uniform integer in [0, 2^32). */
  uint32(): number;
  /** A uniform integer in [0, n) for integer 1 <= n <= 2^53 (exact, by rejection). */
  uniformInt(n: number): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  uniform53(): number;
  /**
   * Optional bulk draw: fills `out` with the words `out.length` calls of uint32() would
   * return, in order (the bulk samplers use it when present, else call uint32()).
   */
  fillUint32?(out: Uint32Array): void;
}

const BUFFER_WORDS = 4096;
/** The largest request fillUint32 passes to the byte source at once (the Web Crypto limit). */
const DIRECT_BYTES = 65536;

/** Buffered word source over any byte-filling function. */
export class BufferedRandom implements RandomSource {
  private readonly words = new Uint32Array(BUFFER_WORDS);
  private readonly bytes = new Uint8Array(this.words.buffer);
  private pos = BUFFER_WORDS;
  constructor(private readonly fillBytes: (out: Uint8Array) => void) {}

  uint32(): number {
    if (this.pos === BUFFER_WORDS) {
      this.fillBytes(this.bytes);
      this.pos = 0;
    }
    return this.words[this.pos++]!;
  }

  /**
   * Bulk words: first what is left in the buffer, then whole 4-byte-aligned requests straight
   * into `out` (up to 64 KiB each), then a refill of the buffer for the tail. For a byte source
   * whose output does not depend on how its requests are split (a stream cipher's keystream,
   * the OS CSPRNG) the words are exactly those of `out.length` uint32() calls.
   */
  fillUint32(out: Uint32Array): void {
    const n = out.length;
    let i = Math.min(BUFFER_WORDS - this.pos, n);
    if (i > 0) {
      out.set(this.words.subarray(this.pos, this.pos + i));
      this.pos += i;
    }
    while (n - i >= BUFFER_WORDS) {
      const take = Math.min(n - i, DIRECT_BYTES / 4);
      this.fillBytes(new Uint8Array(out.buffer, out.byteOffset + i * 4, take * 4));
      i += take;
    }
    if (i < n) {
      this.fillBytes(this.bytes);
      this.pos = n - i;
      out.set(this.words.subarray(0, this.pos), i);
    }
  }

  uniformInt(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 53)) throw new DpArgumentError(`n must be an integer in [1, 2^53], got ${n}`);
    if (n <= 0x200000) {
      // Lemire's multiply-shift with rejection (exact): w * n < 2^53 is exact in a double.
      let m = this.uint32() * n;
      let low = m >>> 0; // ToUint32: exactly m mod 2^32
      if (low < n) {
        const threshold = (0x100000000 - n) % n;
        while (low < threshold) {
          m = this.uint32() * n;
          low = m >>> 0;
        }
      }
      return Math.floor(m / 0x100000000);
    }
    if (n <= 0x100000000) {
      // Rejection: accept words below the largest multiple of n that fits in 2^32.
      const limit = 0x100000000 - (0x100000000 % n);
      for (;;) {
        const w = this.uint32();
        if (w < limit) return w % n;
      }
    }
    const limit = 2 ** 53 - (2 ** 53 % n);
    for (;;) {
      const w = (this.uint32() >>> 11) * 0x100000000 + this.uint32();
      if (w < limit) return w % n;
    }
  }

  uniform53(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }
}

/** The OS CSPRNG (node:crypto), buffered. */
export function cryptoRandom(): RandomSource {
  return new BufferedRandom((out) => randomFillSync(out));
}

/** AES-256-CTR keystream generator keyed by HKDF-SHA256(seed, info). */
export function keystream(seed: Uint8Array, info: string): (out: Uint8Array) => void {
  if (!(seed instanceof Uint8Array) || seed.length < 16) throw new DpArgumentError(`seed must be a Uint8Array of at least 16 bytes, got ${seed instanceof Uint8Array ? seed.length + ' bytes' : typeof seed}`);
  const okm = new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), info, 48));
  const cipher = createCipheriv('aes-256-ctr', okm.subarray(0, 32), okm.subarray(32, 48));
  okm.fill(0);
  return (out) => {
    out.fill(0);
    const enc = cipher.update(out);
    out.set(enc);
  };
}

/** Deterministic CSPRNG from a seed (>= 16 bytes): for tests and reproducible simulations. */
export function seededRandom(seed: Uint8Array, label = 'fedmeta/dp/seeded-random/v1'): RandomSource {
  return new BufferedRandom(keystream(seed, label));
}
