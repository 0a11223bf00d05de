/**
 * Radix-2 complex FFT and real linear convolution, used by the PLD accountant to
 * compose privacy loss distributions. Plain iterative Cooley-Tukey on Float64Arrays.
 */

/**
 * Twiddles for every stage laid out contiguously: stage with half-length h uses entries
 * [h - 1, 2h - 1) holding cos/sin(2 pi k / (2h)), k < h (cache-friendly inner loops).
 */
const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const cos = new Float64Array(Math.max(1, n - 1));
    const sin = new Float64Array(Math.max(1, n - 1));
    for (let h = 1; h < n; h <<= 1) {
      for (let k = 0; k < h; k++) {
        cos[h - 1 + k] = Math.cos((Math.PI * k) / h);
        sin[h - 1 + k] = Math.sin((Math.PI * k) / h);
      }
    }
    t = { cos, sin };
    if (twiddleCache.size > 4) twiddleCache.clear();
    twiddleCache.set(n, t);
  }
  return t;
}

/** In-place FFT of (re, im), length a power of two; `inverse` computes the unnormalised inverse. */
export function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  if (n <= 1) return;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  const { cos, sin } = twiddles(n);
  const sign = inverse ? 1 : -1;
  for (let half = 1; half < n; half <<= 1) {
    const len = half << 1;
    const base = half - 1;
    for (let start = 0; start < n; start += len) {
      for (let k = 0; k < half; k++) {
        const wr = cos[base + k]!;
        const wi = sign * sin[base + k]!;
        const a = start + k;
        const b = a + half;
        const br = re[b]!;
        const bi = im[b]!;
        const xr = br * wr - bi * wi;
        const xi = br * wi + bi * wr;
        const ar = re[a]!;
        const ai = im[a]!;
        re[b] = ar - xr;
        im[b] = ai - xi;
        re[a] = ar + xr;
        im[a] = ai + xi;
      }
    }
  }
}

/** Smallest power of two >= n. */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Linear convolution of two real non-negative sequences via FFT.
 * @returns the convolution (length a.length + b.length - 1) with negative rounding noise
 *   clamped to 0, and `errorMass`: a bound-like estimate of the rounding error mass
 *   (largest clamped magnitude times length), which the PLD adds to its infinity mass.
 */
export function convolve(a: Float64Array, b: Float64Array): { out: Float64Array; errorMass: number } {
  const len = a.length + b.length - 1;
  const n = nextPow2(len);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  // Pack a into the real part and b into the imaginary part: one forward FFT.
  re.set(a);
  im.set(b);
  fft(re, im, false);
  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const j = (n - k) & (n - 1);
    // A_k = (X_k + conj X_j)/2, B_k = (X_k - conj X_j)/(2i)
    const ar = 0.5 * (re[k]! + re[j]!);
    const ai = 0.5 * (im[k]! - im[j]!);
    const br = 0.5 * (im[k]! + im[j]!);
    const bi = -0.5 * (re[k]! - re[j]!);
    pr[k] = ar * br - ai * bi;
    pi[k] = ar * bi + ai * br;
  }
  fft(pr, pi, true);
  const out = new Float64Array(len);
  let worstNegative = 0;
  for (let k = 0; k < len; k++) {
    const v = pr[k]! / n;
    if (v < 0) {
      if (-v > worstNegative) worstNegative = -v;
      out[k] = 0;
    } else out[k] = v;
  }
  return { out, errorMass: worstNegative * len };
}
