/**
 * DP encoding glue (dp package's distributed discrete Gaussian). Placeholder until the
 * dp encoder lands: a DP round is refused with a typed error instead of sending an
 * un-noised update.
 */
import type { Rng } from '@fedmeta/secagg';
import { TransportError, type DdgEncoding } from '@fedmeta/transport';

export function ddgEncode(_e: DdgEncoding, _update: Float32Array, _rng: Rng): Uint32Array {
  throw new TransportError('ERR_BAD_PAYLOAD', 'encoding.kind ddg: the dp encoder is not wired in this build');
}
