/**
 * Session configuration shared by the server and every client of one aggregation round.
 * The host (runtime) distributes it out of band, e.g. in its round announcement; its
 * canonical bytes (`encodeConfig`) enter the session id, so a client and the server that
 * disagree on any field end up with different session ids and the round fails closed.
 */
import { InvalidArgumentError } from '../errors.js';

/** Protocol version carried in every message header and bound into the session id. */
export const PROTOCOL_VERSION = 1;
/** Largest client id (ids are 1..65535 and double as Shamir x-coordinates). */
export const MAX_CLIENT_ID = 0xffff;
/** Largest vector length the codec and machines accept (2^28 entries = 1 GiB at 32 bits). */
export const MAX_VECTOR_LENGTH = 1 << 28;

/** 'semi-honest': honest-but-curious server. 'active': signatures + ConsistencyCheck round. */
export type SecurityMode = 'semi-honest' | 'active';

export interface SecAggConfig {
  /** 32 fresh random bytes chosen by the host for this round; bound into the session id. */
  readonly sessionNonce: Uint8Array;
  /** The expected participants (each 1..65535, distinct). Order does not matter. */
  readonly clientIds: readonly number[];
  /**
   * Shamir threshold t: every secret is shared t-out-of-(k+1) among a client and its k
   * neighbours; any round keeps >= t clients or aborts.
   */
  readonly threshold: number;
  /** Modulus exponent: inputs and sums are mod 2^bits, 1 <= bits <= 32. */
  readonly bits: number;
  /** Number of uint entries m in every input vector. */
  readonly vectorLength: number;
  /**
   * Graph degree k (SecAgg+): even, 2 <= k. 0 or any k >= |U1|-1 means the complete
   * graph (classic SecAgg).
   */
  readonly degree: number;
  readonly mode: SecurityMode;
}

/** Validated config with sorted ids. */
export interface NormalizedConfig extends SecAggConfig {
  readonly clientIds: readonly number[];
}

/**
 * Checks every field and returns a copy with sorted client ids.
 * @throws InvalidArgumentError naming the offending field.
 */
export function normalizeConfig(config: SecAggConfig): NormalizedConfig {
  if (config === null || typeof config !== 'object') throw new InvalidArgumentError('config: expected an object');
  const { sessionNonce, clientIds, threshold, bits, vectorLength, degree, mode } = config;
  if (!(sessionNonce instanceof Uint8Array) || sessionNonce.length !== 32) {
    throw new InvalidArgumentError('config.sessionNonce: expected 32 bytes');
  }
  if (!Array.isArray(clientIds) || clientIds.length < 2 || clientIds.length > MAX_CLIENT_ID) {
    throw new InvalidArgumentError('config.clientIds: expected an array of 2..65535 ids');
  }
  const ids = [...clientIds].sort((a, b) => a - b);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 1 || id > MAX_CLIENT_ID) {
      throw new InvalidArgumentError(`config.clientIds: ${id} is not an integer in 1..65535`);
    }
    if (i > 0 && ids[i - 1] === id) throw new InvalidArgumentError(`config.clientIds: duplicate id ${id}`);
  }
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new InvalidArgumentError('config.bits: expected an integer in 1..32');
  if (!Number.isInteger(vectorLength) || vectorLength < 1 || vectorLength > MAX_VECTOR_LENGTH) {
    throw new InvalidArgumentError(`config.vectorLength: expected an integer in 1..${MAX_VECTOR_LENGTH}`);
  }
  if (!Number.isInteger(degree) || degree < 0 || degree % 2 !== 0 || degree > MAX_CLIENT_ID) {
    throw new InvalidArgumentError('config.degree: expected 0 (complete graph) or an even integer >= 2');
  }
  if (mode !== 'semi-honest' && mode !== 'active') throw new InvalidArgumentError("config.mode: expected 'semi-honest' or 'active'");
  const holders = degree === 0 || degree >= ids.length - 1 ? ids.length : degree + 1;
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > holders) {
    throw new InvalidArgumentError(`config.threshold: expected an integer in 2..${holders} (share holders per client)`);
  }
  if (mode === 'active' && 2 * threshold <= holders) {
    // With t <= holders/2 a malicious server could get two disjoint halves of a
    // neighbourhood to sign two different survivor sets (Bonawitz et al. section 6).
    throw new InvalidArgumentError(`config.threshold: active mode needs threshold > ${holders}/2`);
  }
  return { sessionNonce: new Uint8Array(sessionNonce), clientIds: ids, threshold, bits, vectorLength, degree, mode };
}

/**
 * Canonical bytes of a config (entered into the session id):
 * version u8 | mode u8 (0 semi-honest, 1 active) | bits u8 | threshold u16 | degree u16 |
 * vectorLength u32 | n u16 | ids u16[n] | sessionNonce[32], all little-endian.
 */
export function encodeConfig(config: NormalizedConfig): Uint8Array {
  const n = config.clientIds.length;
  const out = new Uint8Array(1 + 1 + 1 + 2 + 2 + 4 + 2 + 2 * n + 32);
  const view = new DataView(out.buffer);
  let o = 0;
  view.setUint8(o++, PROTOCOL_VERSION);
  view.setUint8(o++, config.mode === 'active' ? 1 : 0);
  view.setUint8(o++, config.bits);
  view.setUint16(o, config.threshold, true); o += 2;
  view.setUint16(o, config.degree, true); o += 2;
  view.setUint32(o, config.vectorLength, true); o += 4;
  view.setUint16(o, n, true); o += 2;
  for (const id of config.clientIds) { view.setUint16(o, id, true); o += 2; }
  out.set(config.sessionNonce, o);
  return out;
}

/**
 * Checks a party's floor on the survivor set (`minSurvivors` of the client and server
 * options): the fewest inputs a released sum may hold. It is local configuration - each
 * party has its own, it is not a config field, not on the wire and not in the session id.
 * @returns the floor, or null when `value` is undefined (no floor beyond the protocol's t)
 * @throws InvalidArgumentError naming `field` unless `value` is an integer >= 2
 */
export function normalizeMinSurvivors(value: unknown, field: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2) {
    throw new InvalidArgumentError(`${field}: expected an integer >= 2, got ${String(value)}`);
  }
  return value;
}
