/**
 * Quantisation parameters and the headroom rule (protocol-spec/03-quantisation.md).
 *
 * Headroom: with n = maxClients, per-client range R = floor((2^(b-1) - 1) / n). A
 * client's weighted coordinate w * x (|x| <= elementClip, 1 <= w <= maxWeight) is scaled
 * by scale = R / (maxWeight * elementClip) and rounded into [-R, R], so the sum of up to
 * n clients lies in [-(2^(b-1) - 1), 2^(b-1) - 1] and never wraps mod 2^b. The weight
 * coordinate (index 0) is a plain unsigned integer, so n * maxWeight <= 2^b - 1.
 */
import { InvalidArgumentError } from '../errors.js';

/** Index of the weight coordinate in an encoded vector; the model update follows it. */
export const WEIGHT_INDEX = 0;
export const DEFAULT_BITS = 32;
export const MIN_BITS = 8;
export const MAX_BITS = 32;

export interface QuantizeOptions {
  /** b: the aggregation modulus is 2^b; 8..32, default 32. */
  bits?: number;
  /** n: the most clients whose vectors may be summed. */
  maxClients: number;
  /** Each coordinate of x is clipped to [-elementClip, elementClip] (after L2 clipping). */
  elementClip: number;
  /** If set, x is first scaled down so its L2 norm is at most l2Clip. */
  l2Clip?: number;
  /** W: weights are integers in [1, W]; default 1 (unweighted). */
  maxWeight?: number;
}

/** Validated parameters plus the derived range, scale and step. */
export interface QuantizeParams {
  readonly bits: number;
  readonly maxClients: number;
  readonly elementClip: number;
  readonly l2Clip: number | null;
  readonly maxWeight: number;
  /** R: the largest |encoded coordinate| one client may send. */
  readonly range: number;
  /** Encoded integer = round(w * x * scale). */
  readonly scale: number;
  /** 1 / scale: the weighted-value change per integer step. */
  readonly step: number;
}

function finitePositive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

function intIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/**
 * Validates options and derives range, scale and step.
 * @throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for out-of-range options, or when
 *   the modulus leaves no headroom: R < 1, or n * maxWeight > 2^b - 1
 */
export function quantizeParams(options: QuantizeOptions): QuantizeParams {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
  const bits = intIn(options.bits ?? DEFAULT_BITS, 'bits', MIN_BITS, MAX_BITS);
  const maxClients = intIn(options.maxClients, 'maxClients', 1, 2 ** 31 - 1);
  const elementClip = finitePositive(options.elementClip, 'elementClip');
  const l2Clip = options.l2Clip === undefined ? null : finitePositive(options.l2Clip, 'l2Clip');
  const maxWeight = intIn(options.maxWeight ?? 1, 'maxWeight', 1, 2 ** 32 - 1);
  const range = Math.floor((2 ** (bits - 1) - 1) / maxClients);
  if (range < 1) {
    throw new InvalidArgumentError(`bits = ${bits} leaves no headroom for maxClients = ${maxClients}: need (2^(bits-1) - 1) / maxClients >= 1`);
  }
  if (maxClients * maxWeight > 2 ** bits - 1) {
    throw new InvalidArgumentError(`maxClients * maxWeight = ${maxClients * maxWeight} does not fit the weight coordinate mod 2^${bits}`);
  }
  const scale = range / (maxWeight * elementClip);
  if (!Number.isFinite(scale) || scale <= 0) throw new InvalidArgumentError('elementClip * maxWeight gives no usable scale');
  return Object.freeze({ bits, maxClients, elementClip, l2Clip, maxWeight, range, scale, step: 1 / scale });
}
