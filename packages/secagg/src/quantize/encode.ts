/**
 * Encoding a weighted update into Z_{2^b} and decoding an aggregate
 * (protocol-spec/03-quantisation.md). Layout: index 0 = the weight w (unsigned integer),
 * index 1 + j = two's-complement encoding of round(w * clip(x)_j * scale).
 */
import { InvalidArgumentError, SecAggError } from '../errors.js';
import type { Rng } from '../rng.js';
import { clipVector } from './clip.js';
import { WEIGHT_INDEX, type QuantizeParams } from './params.js';
import { StochasticRounder } from './rounding.js';

export interface DecodedAggregate {
  /** sum_i w_i * x_i, per coordinate (the server's only view of the inputs). */
  weightedSum: Float32Array;
  /** sum_i w_i. */
  totalWeight: number;
  /** weightedSum / totalWeight: the weighted mean update. */
  mean: Float32Array;
}

/** Encoded length for an update of m coordinates: m + 1 (the weight comes first). */
export function encodedLength(m: number): number {
  return m + 1;
}

function assertParams(params: QuantizeParams): void {
  if (params === null || typeof params !== 'object' || typeof params.scale !== 'number' || typeof params.range !== 'number') {
    throw new InvalidArgumentError('params must come from quantizeParams()');
  }
}

/**
 * Clips x, multiplies by the weight, scales and stochastically rounds into Z_{2^b}.
 * @param x - the update (finite numbers)
 * @param weight - an integer in [1, params.maxWeight] (e.g. the example count, capped)
 * @param rng - drives the stochastic rounding (8 bytes per coordinate)
 * @returns m + 1 words, each < 2^b
 * @throws InvalidArgumentError for a bad weight or x, SecAggError ERR_NON_FINITE for NaN/Infinity
 */
export function encodeUpdate(x: ArrayLike<number>, weight: number, params: QuantizeParams, rng: Rng): Uint32Array {
  assertParams(params);
  if (x === null || typeof x !== 'object' || typeof x.length !== 'number') throw new InvalidArgumentError('x must be an array or typed array of numbers');
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > params.maxWeight) {
    throw new InvalidArgumentError(`weight must be an integer in [1, ${params.maxWeight}] (maxWeight), got ${String(weight)}`);
  }
  const clipped = clipVector(x, params.elementClip, params.l2Clip);
  const out = new Uint32Array(encodedLength(x.length));
  out[WEIGHT_INDEX] = weight;
  // |w x scale| <= R holds exactly; the clamp to [-R, R] inside guards the last-ulp float error.
  new StochasticRounder(rng).roundScaledInto(clipped, weight * params.scale, params.range, 2 ** params.bits, out, 1);
  return out;
}

/**
 * acc = (acc + v) mod 2^bits, element-wise, in place (summing encoded vectors).
 * @throws InvalidArgumentError for mismatched lengths or bits outside 8..32
 */
export function addEncoded(acc: Uint32Array, v: Uint32Array, bits: number): Uint32Array {
  if (!(acc instanceof Uint32Array) || !(v instanceof Uint32Array)) throw new InvalidArgumentError('acc and v must be Uint32Arrays');
  if (acc.length !== v.length) throw new InvalidArgumentError(`acc.length ${acc.length} != v.length ${v.length}`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new InvalidArgumentError('bits must be an integer in [1, 32]');
  const mask = bits === 32 ? -1 : 2 ** bits - 1;
  for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i]! + v[i]!) & mask) >>> 0;
  return acc;
}

/**
 * Decodes the mod-2^b sum of encoded vectors.
 * @param sum - m + 1 words < 2^b: index 0 the total weight, then two's-complement coordinates
 * @throws InvalidArgumentError for an empty sum or a word >= 2^b; SecAggError
 *   ERR_ZERO_WEIGHT when the total weight is 0 (no contributions: no mean exists)
 */
export function decodeAggregate(sum: Uint32Array, params: QuantizeParams): DecodedAggregate {
  assertParams(params);
  if (!(sum instanceof Uint32Array) || sum.length < 1) throw new InvalidArgumentError('sum must be a non-empty Uint32Array (weight first)');
  const modulus = 2 ** params.bits;
  const half = 2 ** (params.bits - 1);
  const totalWeight = sum[WEIGHT_INDEX]!;
  if (totalWeight >= modulus) throw new InvalidArgumentError(`sum[0] = ${totalWeight} is not below 2^${params.bits}`);
  if (totalWeight === 0) throw new SecAggError('ERR_ZERO_WEIGHT', 'the aggregate weight is 0: nothing was summed');
  const m = sum.length - 1;
  const weightedSum = new Float32Array(m);
  const mean = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    const s = sum[j + 1]!;
    if (s >= modulus) throw new InvalidArgumentError(`sum[${j + 1}] = ${s} is not below 2^${params.bits}`);
    const signed = s >= half ? s - modulus : s;
    const w = signed / params.scale;
    weightedSum[j] = w;
    mean[j] = w / totalWeight;
  }
  return { weightedSum, totalWeight, mean };
}
