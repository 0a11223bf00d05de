/**
 * How client updates are encoded into the ring and how the server turns the aggregate
 * back into a mean update. Without DP: the secagg quantiser (weight as coordinate 0).
 * With DP: the dp package's distributed discrete Gaussian (dp.ts). No maths here: both
 * directions are the owning packages' functions.
 */
import { decodeAggregate, encodedLength, quantizeParams } from '@fedmeta/secagg';
import type { QuantizeEncoding } from '@fedmeta/transport';
import type { ResolvedServerOptions } from './validate.js';

export interface RoundEncoding {
  /** What goes into the round config (clients rebuild the encoder from it). */
  wire: QuantizeEncoding;
  vectorLength: number;
  bits: number;
  /** Sum -> mean update and total weight. */
  decode(sum: Uint32Array): { mean: Float32Array; totalWeight: number };
}

/** The quantiser encoding for a cohort of `n` clients and `paramCount` parameters. */
export function quantizeEncoding(paramCount: number, n: number, a: ResolvedServerOptions['aggregation']): RoundEncoding {
  const wire: QuantizeEncoding = {
    kind: 'quantize',
    bits: a.bits,
    maxClients: n,
    elementClip: a.elementClip,
    maxWeight: a.maxWeight,
    ...(a.l2Clip === undefined ? {} : { l2Clip: a.l2Clip }),
  };
  const params = quantizeParams(wire);
  return {
    wire,
    vectorLength: encodedLength(paramCount),
    bits: a.bits,
    decode(sum) {
      const d = decodeAggregate(sum, params);
      return { mean: d.mean, totalWeight: d.totalWeight };
    },
  };
}
