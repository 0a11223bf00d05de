/**
 * DP encoding glue: the dp package's distributed discrete Gaussian encoder (clip to the
 * L2 bound, randomised rotation with the round's public seed, scale, conditional
 * rounding, per-client discrete Gaussian noise, reduce mod 2^bits). The encoder's
 * parameters come from the server's round config and are re-derived here by the same
 * dp function, so client and server agree on gamma and the padding.
 */
import { BufferedRandom, createDdgEncoder, createRecordDdgEncoder, type DdgConfig, type RecordDdgConfig } from '@fedmeta/dp';
import type { Rng } from '@fedmeta/secagg';
import { fromHex, TransportError, type DdgEncoding, type RecordDdgEncoding } from '@fedmeta/transport';

/**
 * Encodes one update with DP noise.
 * @throws TransportError ERR_BAD_PAYLOAD when the announced parameters are unusable
 */
export function ddgEncode(e: DdgEncoding, update: Float32Array, rng: Rng): Uint32Array {
  const p = e.params as unknown as DdgConfig;
  if (p.dim !== update.length) throw new TransportError('ERR_VECTOR_LENGTH', `encoding.params.dim ${String(p.dim)} differs from the update length ${update.length}`);
  const seed = fromHex(e.roundSeed, 32, 'roundStart.config.encoding.roundSeed');
  const encoder = createDdgEncoder(p);
  // The noise must come from a CSPRNG: the injected Rng (OS CSPRNG by default).
  return encoder.encode(update, seed, new BufferedRandom((out) => void rng.fill(out)));
}

/**
 * Record-level DP, distributed mode: this site's clipped gradient sum plus its discrete
 * Gaussian noise share (std sigma * C / sqrt(t)), in the ring (the dp package's record DDG
 * encoder; parameters as announced).
 * @throws TransportError ERR_VECTOR_LENGTH when the announced dim differs from the sum's length
 */
export function recordDdgEncode(e: RecordDdgEncoding, sum: Float32Array, rng: Rng): Uint32Array {
  const p = e.params as unknown as RecordDdgConfig;
  if (p.dim !== sum.length) throw new TransportError('ERR_VECTOR_LENGTH', `encoding.params.dim ${String(p.dim)} differs from the gradient length ${sum.length}`);
  return createRecordDdgEncoder(p).encode(sum, new BufferedRandom((out) => void rng.fill(out)));
}
