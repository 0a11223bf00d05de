import { TransportError } from './errors.js';

/**
 * Size limits of the runtime framing. Every declared length on the wire is checked
 * against these BEFORE anything is allocated, so a peer cannot make us buffer more than
 * one message of at most `maxMessageBytes` per connection.
 */
export interface Limits {
  /** Bytes of payload per frame; larger messages are chunked. Default 1 MiB. */
  chunkBytes: number;
  /** Largest reassembled message (model params, masked vectors). Default 256 MiB. */
  maxMessageBytes: number;
  /** Largest control message (challenge, auth, errors, JSON configs). Default 64 KiB. */
  maxControlBytes: number;
}

export const FRAME_HEADER_BYTES = 16;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  chunkBytes: 1 << 20,
  maxMessageBytes: 256 << 20,
  maxControlBytes: 64 << 10,
});

/**
 * Merges `partial` over the defaults and validates the result.
 * @throws TransportError ERR_BAD_PAYLOAD naming the offending field.
 */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS, ...partial };
  for (const key of ['chunkBytes', 'maxMessageBytes', 'maxControlBytes'] as const) {
    const v = limits[key];
    if (!Number.isSafeInteger(v) || v < 1024 || v > 0xffff_ffff) {
      throw new TransportError('ERR_BAD_PAYLOAD', `limits.${key} must be an integer in [1024, 2^32-1], got ${String(v)}`);
    }
  }
  if (limits.maxControlBytes > limits.maxMessageBytes) {
    throw new TransportError('ERR_BAD_PAYLOAD', 'limits.maxControlBytes must not exceed limits.maxMessageBytes');
  }
  return limits;
}

/** The ws-level `maxPayload` for these limits: one chunk plus its header. */
export function wsMaxPayload(limits: Limits): number {
  return limits.chunkBytes + FRAME_HEADER_BYTES;
}
