/**
 * The continuous Gaussian mechanism for plaintext aggregation and local experiments:
 * clip each update to L2 norm C, add N(0, (sigma C)^2) per coordinate (to the sum, or
 * N(0, (sigma C)^2 / n) per client when n clients share the noise).
 */
import { checkNumber, DpArgumentError } from './errors.js';
import { clipL2 } from './clip.js';
import { erfc } from './math.js';
import type { RandomSource } from './rng.js';

/** One standard normal sample (Box-Muller on two 53-bit CSPRNG uniforms). */
export function sampleStandardNormal(rng: RandomSource): number {
  let u = 0;
  while (u === 0) u = rng.uniform53();
  const v = rng.uniform53();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Adds N(0, stddev^2) to every entry of `x` in place. */
export function addGaussianNoise(x: Float64Array | Float32Array, stddev: number, rng: RandomSource): void {
  checkNumber('stddev', stddev, { min: 0 });
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + stddev * sampleStandardNormal(rng);
}

/**
 * Clips `update` to `l2Clip` and adds Gaussian noise with std noiseMultiplier * l2Clip / sqrt(shares).
 * With shares = 1 this is the central Gaussian mechanism; with shares = n each of n clients adds its share.
 */
export function gaussianMechanism(update: ArrayLike<number>, p: { l2Clip: number; noiseMultiplier: number; shares?: number }, rng: RandomSource): Float64Array {
  checkNumber('noiseMultiplier', p.noiseMultiplier, { min: 0 });
  const shares = checkNumber('shares', p.shares ?? 1, { min: 1, integer: true });
  const { clipped } = clipL2(update, p.l2Clip);
  addGaussianNoise(clipped, (p.noiseMultiplier * p.l2Clip) / Math.sqrt(shares), rng);
  return clipped;
}

/**
 * The ziggurat of the half-normal density f(x) = exp(-x^2/2), x >= 0 (Marsaglia and Tsang
 * 2000), with LAYERS layers of equal area v: layer 0 is the base strip [0, x[0]) x [0, f(R)),
 * x[0] = v / f(R), whose part beyond R stands for the tail; layer j >= 1 is the box
 * [0, x[j]) x [f(x[j]), f(x[j+1])), x[1] = R > x[2] > ... > x[LAYERS] = 0. R solves "the top
 * box has area v" (bisection in double precision, so the equal areas hold to float rounding).
 */
export interface GaussianZiggurat {
  readonly layers: number;
  /** the tail's start */
  readonly r: number;
  /** every layer's area */
  readonly v: number;
  /** widths x[0..layers] (x[layers] = 0) */
  readonly x: Float64Array;
  /** f at the widths, f[0] = 0 (the base strip's floor) and f[layers] = 1 */
  readonly f: Float64Array;
}

const LAYERS = 256;
const SQRT_HALF_PI = Math.sqrt(Math.PI / 2);

/** Builds the boxes upward from R; null when they reach the top before the last layer (R too small). */
function zigguratFrom(r: number): { x: Float64Array; f: Float64Array; v: number } | null {
  const fr = Math.exp(-0.5 * r * r);
  const v = r * fr + SQRT_HALF_PI * erfc(r / Math.SQRT2);
  const x = new Float64Array(LAYERS + 1);
  const f = new Float64Array(LAYERS + 1);
  x[0] = v / fr;
  x[1] = r;
  f[1] = fr;
  for (let j = 1; j < LAYERS - 1; j++) {
    const next = f[j]! + v / x[j]!;
    if (!(next < 1)) return null;
    f[j + 1] = next;
    x[j + 1] = Math.sqrt(-2 * Math.log(next));
  }
  f[LAYERS] = 1;
  return { x, f, v };
}

function buildZiggurat(): GaussianZiggurat {
  // Too small an R gives too large an area v: the boxes climb too fast and the top box is
  // smaller than v (or the boxes reach the top early).
  let lo = 3;
  let hi = 4.5;
  const residual = (z: ReturnType<typeof zigguratFrom>) => (z ? z.x[LAYERS - 1]! * (1 - z.f[LAYERS - 1]!) - z.v : -Infinity);
  for (let k = 0; k < 200; k++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (residual(zigguratFrom(mid)) < 0) lo = mid;
    else hi = mid;
  }
  const a = zigguratFrom(lo);
  const b = zigguratFrom(hi)!;
  const z = a && Math.abs(residual(a)) < Math.abs(residual(b)) ? a : b;
  return { layers: LAYERS, r: z.x[1]!, v: z.v, x: z.x, f: z.f };
}

/** The sampler's table (read-only; exported for its tests). */
export const GAUSSIAN_ZIGGURAT: GaussianZiggurat = buildZiggurat();

const ZX = GAUSSIAN_ZIGGURAT.x;
const ZF = GAUSSIAN_ZIGGURAT.f;
const ZR = GAUSSIAN_ZIGGURAT.r;
/** At most this many attempt words per bulk draw (the layer bytes follow them: 1.25x in all). */
const POOL_WORDS = 1 << 17;
let pool = new Uint32Array(0);
let poolBytes = new Uint8Array(0);

function fillWords(source: RandomSource, out: Uint32Array): void {
  if (source.fillUint32) source.fillUint32(out);
  else for (let i = 0; i < out.length; i++) out[i] = source.uint32();
}

/**
 * The rare steps of an attempt that left the fast box test (about 1.1% of attempts): the tail
 * beyond R for layer 0 (Marsaglia 1964: t = -ln(U1)/R, e = -ln(U2), accept when 2e > t^2, giving
 * R + t), the wedge test for layers >= 1 (y uniform in [f(x[j]), f(x[j+1])), accept when
 * y < f(x)). Draws its uniforms from the source itself. Returns the magnitude, or -1 to reject.
 */
function zigguratSlow(j: number, x: number, source: RandomSource): number {
  if (j === 0) {
    for (;;) {
      // 1 - uniform53() is in (0, 1]: the logs are finite.
      const t = -Math.log(1 - source.uniform53()) / ZR;
      const e = -Math.log(1 - source.uniform53());
      if (2 * e > t * t) return ZR + t;
    }
  }
  const y = ZF[j]! + source.uniform53() * (ZF[j + 1]! - ZF[j]!);
  return y < Math.exp(-0.5 * x * x) ? x : -1;
}

/**
 * Fills `out` with independent N(0, std^2) samples from the CSPRNG `source`, in bulk.
 *
 * The transform is the ziggurat (Marsaglia and Tsang 2000; GAUSSIAN_ZIGGURAT, 256 layers of
 * equal area), an exact rejection sampler, with independent bits for each part of an attempt
 * (Doornik 2005): one 32-bit word gives the sign (top bit) and u = (low 31 bits) / 2^31, one
 * separate byte the layer j; x = u * x[j] is accepted at once when x < x[j+1] (98.9% of
 * attempts: a table read, a multiply, a compare), else the wedge or tail step decides. Words and
 * layer bytes come from bulk draws of the source (`fillUint32`: node:crypto randomFillSync for
 * cryptoRandom, the AES-256-CTR keystream for seededRandom), the rare steps' uniforms from the
 * source after them; unused pool words are discarded at the end of a call. The output is
 * N(0, std^2) up to float rounding: the table holds the equal areas to double rounding, and u's
 * grid of 2^-31 x[j] (at most 1.8e-9 sd) is finer than float32's spacing above 0.03 sd, so it
 * moves the CDF by less than 1e-9.
 * @param out filled in place (float32, as DP-SGD's noise vector)
 * @param std the standard deviation (>= 0; 0 fills zeros without drawing)
 * @param source a CSPRNG (cryptoRandom(), seededRandom(seed), a BufferedRandom over an Rng)
 */
export function fillGaussian(out: Float32Array, std: number, source: RandomSource): void {
  if (!(out instanceof Float32Array)) throw new DpArgumentError('fillGaussian: out must be a Float32Array');
  checkNumber('std', std, { min: 0 });
  const n = out.length;
  if (std === 0) {
    out.fill(0);
    return;
  }
  let i = 0;
  while (i < n) {
    const left = n - i;
    // attempts for the samples still to draw plus ~3% for the 1.1% rejected (else another refill)
    const words = Math.min(POOL_WORDS, left + (left >>> 5) + 8);
    const layerWords = (words + 3) >>> 2;
    if (pool.length < words + layerWords) {
      pool = new Uint32Array(words + layerWords);
      poolBytes = new Uint8Array(pool.buffer);
    }
    fillWords(source, pool.subarray(0, words + layerWords));
    const layerAt = words * 4;
    const p = pool;
    const pb = poolBytes;
    for (let a = 0; a < words && i < n; a++) {
      const w = p[a]!;
      const j = pb[layerAt + a]!;
      let x = (w & 0x7fffffff) * 4.656612873077393e-10 * ZX[j]!;
      if (x >= ZX[j + 1]!) {
        x = zigguratSlow(j, x, source);
        if (x < 0) continue;
      }
      out[i++] = (std - ((w >>> 31) * 2) * std) * x; // branch-free sign: the top bit is a coin flip
    }
  }
}
