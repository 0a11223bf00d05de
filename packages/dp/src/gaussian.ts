/**
 * The continuous Gaussian mechanism for plaintext aggregation and local experiments:
 * clip each update to L2 norm C, add N(0, (sigma C)^2) per coordinate (to the sum, or
 * N(0, (sigma C)^2 / n) per client when n clients share the noise).
 */
import { checkNumber } from './errors.js';
import { clipL2 } from './clip.js';
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
