// A small seeded PRNG for reproducible partitions and splits, on 32-bit integer ops only
// (no BigInt: it is slow and these loops run per example).
//
// Generator: xoshiro128** 1.1 (Blackman and Vigna, prng.di.unimi.it), 128-bit state,
// period 2^128-1; checked against the reference output for state {1,2,3,4}.
// Seeding: the state words come from splitmix32 (add the golden-ratio constant
// 0x9e3779b9, then the MurmurHash3 fmix32 finaliser), started from the seed's low and
// high 32-bit halves and any stream numbers, so seeds 1 and 2 give unrelated streams and
// the state is never all zero. This is for simulation, not cryptography.
import { checkInt, checkNumber } from './checks.js';
import { DataArgumentError } from './errors.js';

const GOLDEN = 0x9e3779b9;

/** MurmurHash3's fmix32 finaliser: a bijection on uint32 with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Seeded random source: uniform ints and floats, normals, Gamma and Dirichlet draws,
 * shuffles. Same seed (and streams), same sequence on every platform.
 */
export class SeededRng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | undefined;

  /**
   * @param seed any safe integer (negative values use their two's-complement halves).
   * @param streams optional extra integers that select an independent stream for the
   *   same seed (e.g. a client id), so per-client draws do not depend on call order.
   * @throws DataArgumentError when seed or a stream is not a safe integer.
   */
  constructor(seed: number, ...streams: number[]) {
    checkInt('seed', seed, Number.MIN_SAFE_INTEGER);
    streams.forEach((s, i) => checkInt(`streams[${i}]`, s, Number.MIN_SAFE_INTEGER));
    // Fold seed halves and streams into a splitmix32 start value, one fmix per word.
    let h = fmix32((seed >>> 0) ^ GOLDEN);
    h = fmix32((h + Math.floor(seed / 0x100000000)) >>> 0);
    for (const s of streams) {
      h = fmix32((h + GOLDEN + (s >>> 0)) >>> 0);
      h = fmix32((h + Math.floor(s / 0x100000000)) >>> 0);
    }
    let z = h;
    const next = (): number => fmix32((z = (z + GOLDEN) >>> 0));
    this.setState([next(), next(), next(), next()]);
  }

  /** Sets the raw xoshiro state (for reference-vector tests). @throws on an all-zero state. */
  setState(words: readonly [number, number, number, number]): this {
    const [a, b, c, d] = words.map((w) => w >>> 0) as [number, number, number, number];
    if ((a | b | c | d) === 0) throw new DataArgumentError('xoshiro128** state must not be all zero');
    this.s0 = a;
    this.s1 = b;
    this.s2 = c;
    this.s3 = d;
    this.spareNormal = undefined;
    return this;
  }

  /** Next uniform 32-bit unsigned integer (the raw xoshiro128** output). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform integer in [0, n), unbiased (rejects the top partial range of 2^32).
   * @throws DataArgumentError unless n is an integer in [1, 2^32].
   */
  int(n: number): number {
    checkInt('n', n, 1, 0x100000000);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal draw (Marsaglia polar method; the second value is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    for (;;) {
      const u = 2 * this.nextFloat() - 1;
      const v = 2 * this.nextFloat() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * m;
        return u * m;
      }
    }
  }

  /**
   * log of a Gamma(shape, 1) draw. Marsaglia-Tsang (2000) squeeze for shape >= 1; for
   * shape < 1 the boost Gamma(a) = Gamma(a+1) * U^(1/a), kept in log space because
   * U^(1/a) underflows to 0 for small a (alpha = 0.01 is a common Dirichlet setting).
   */
  logGamma(shape: number): number {
    checkNumber('shape', shape, { gt: 0 });
    if (shape < 1) {
      const u = 1 - this.nextFloat(); // (0, 1]
      return this.logGamma(shape + 1) + Math.log(u) / shape;
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      const x = this.normal();
      const t = 1 + c * x;
      if (t <= 0) continue;
      const v = t * t * t;
      const u = 1 - this.nextFloat();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2 || Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) {
        return Math.log(d) + Math.log(v);
      }
    }
  }

  /** Gamma(shape, 1) draw; may be 0 for tiny shapes (see logGamma). */
  gamma(shape: number): number {
    return Math.exp(this.logGamma(shape));
  }

  /**
   * Dirichlet(alpha, ..., alpha) draw of dimension k via normalised Gamma draws, computed
   * in log space so it stays a proper distribution (sums to 1) even for tiny alpha.
   */
  dirichlet(alpha: number, k: number): Float64Array {
    checkNumber('alpha', alpha, { gt: 0 });
    checkInt('k', k, 1);
    const logs = new Float64Array(k);
    let max = -Infinity;
    for (let i = 0; i < k; i++) {
      logs[i] = this.logGamma(alpha);
      if (logs[i]! > max) max = logs[i]!;
    }
    let sum = 0;
    for (let i = 0; i < k; i++) sum += logs[i] = Math.exp(logs[i]! - max);
    for (let i = 0; i < k; i++) logs[i] = logs[i]! / sum;
    return logs;
  }

  /** Shuffles `arr` in place (Fisher-Yates) and returns it. */
  shuffleInPlace<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    checkInt('n', n, 0, 0x7fffffff);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffleInPlace(p);
  }
}
