/**
 * HKDF-SHA256 (RFC 5869) with explicit domain separation. Every key the protocol uses
 * is derived here, under its own label, so a key for one purpose can never be
 * confused with a key for another (protocol-spec/01-crypto.md sec. "Key derivation").
 */
import { createHmac } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidArgumentError } from '../errors.js';
import { assertBytes, assertInt, concatBytes, u16be, u32be } from './bytes.js';

/** The suite identifier. Bumping it is a protocol version change. */
export const SUITE_ID = 'FEDMETA-SECAGG-V1';

/** Domain-separation labels (ASCII). Append-only; each names exactly one use. */
export const LABEL_SHARE_KEY = 'fedmeta/secagg/v1/share-key';
export const LABEL_PAIRWISE_MASK = 'fedmeta/secagg/v1/pairwise-mask';
export const LABEL_SELF_MASK = 'fedmeta/secagg/v1/self-mask';
export const LABEL_SESSION_ID = 'fedmeta/secagg/v1/session-id';
export const LABEL_SIG_ADVERTISE = 'fedmeta/secagg/v1/sig/advertise-keys';
export const LABEL_SIG_CONSISTENCY = 'fedmeta/secagg/v1/sig/consistency-check';

/** All labels, for the spec and the vectors. */
export const DERIVATION_LABELS: readonly string[] = [
  LABEL_SHARE_KEY,
  LABEL_PAIRWISE_MASK,
  LABEL_SELF_MASK,
  LABEL_SESSION_ID,
  LABEL_SIG_ADVERTISE,
  LABEL_SIG_CONSISTENCY,
];

/** Bytes of a share-encryption (AEAD) key. */
export const SHARE_KEY_BYTES = 32;
/** Bytes of a mask seed (an AES-128 key for the mask PRG). */
export const MASK_SEED_BYTES = 16;
/** Bytes of a session id. */
export const SESSION_ID_BYTES = 32;

/**
 * Raw HKDF-SHA256 (RFC 5869 sec. 2): Extract(salt, ikm) then Expand(prk, info, length).
 * An empty salt means HashLen zero bytes, as the RFC specifies.
 * @param length - output bytes, 1..8160 (255 * 32)
 * @throws InvalidArgumentError for wrong types or an out-of-range length
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  assertBytes(ikm, 'ikm');
  assertBytes(salt, 'salt');
  assertBytes(info, 'info');
  assertInt(length, 'length', 1, 255 * 32);
  // The protocol derives one key per neighbour, always <= 32 bytes: one Extract and one
  // Expand block, written with OpenSSL's HMAC (half the cost of Node's hkdfSync, which
  // builds KeyObjects per call, and of pure JS). Longer outputs take noble's full HKDF.
  if (length <= 32) {
    const prk = createHmac('sha256', salt.length === 0 ? ZERO_SALT : salt).update(ikm).digest();
    const okm = createHmac('sha256', prk).update(info).update(COUNTER_1).digest();
    return new Uint8Array(okm.buffer, okm.byteOffset, length);
  }
  return hkdf(sha256, ikm, salt, info, length);
}

/** RFC 5869: an absent salt is HashLen zero bytes. */
const ZERO_SALT = Buffer.alloc(32);
const COUNTER_1 = Buffer.of(1);

/** u16be(len(label)) || label, per label: labels are few constants, so each is encoded once. */
const labelPrefixes = new Map<string, Uint8Array>();
const MAX_CACHED_LABELS = 64;

function labelPrefix(label: string): Uint8Array {
  let prefix = labelPrefixes.get(label);
  if (prefix === undefined) {
    if (typeof label !== 'string' || label.length === 0 || !/^[\x21-\x7e]+$/.test(label)) {
      throw new InvalidArgumentError('label must be a non-empty printable ASCII string without spaces');
    }
    const labelBytes = new TextEncoder().encode(label);
    prefix = concatBytes(u16be(labelBytes.length), labelBytes);
    if (labelPrefixes.size < MAX_CACHED_LABELS) labelPrefixes.set(label, prefix);
  }
  return prefix;
}

/**
 * The HKDF `info` for a label and a context: u16be(len(label)) || label || context.
 * The length prefix makes the split between label and context unambiguous.
 */
export function labelledInfo(label: string, context: Uint8Array): Uint8Array {
  const prefix = labelPrefix(label);
  assertBytes(context, 'context');
  return concatBytes(prefix, context);
}

export interface DeriveKeyOptions {
  /** HKDF salt; the protocol passes the 32-byte session id. Default: empty. */
  salt?: Uint8Array;
  /** The domain-separation label, one of the LABEL_* constants. */
  label: string;
  /** Purpose-specific context bytes (e.g. the two client ids). Default: empty. */
  context?: Uint8Array;
  /** Output length in bytes. */
  length: number;
}

/**
 * HKDF-SHA256(ikm, salt, info = labelledInfo(label, context), length).
 * @throws InvalidArgumentError for wrong types, a bad label or length
 */
export function deriveKey(ikm: Uint8Array, options: DeriveKeyOptions): Uint8Array {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const info = labelledInfo(options.label, options.context ?? new Uint8Array(0));
  return hkdfSha256(ikm, options.salt ?? new Uint8Array(0), info, options.length);
}

/** Context for a pair of client ids: u32be(min) || u32be(max), so both ends derive the same key. */
export function pairContext(idA: number, idB: number): Uint8Array {
  assertInt(idA, 'idA', 0, 0xffffffff);
  assertInt(idB, 'idB', 0, 0xffffffff);
  if (idA === idB) throw new InvalidArgumentError('idA and idB must differ');
  return concatBytes(u32be(Math.min(idA, idB)), u32be(Math.max(idA, idB)));
}

/**
 * The 32-byte AEAD key that clients idA and idB use for the Shamir shares they send
 * each other: HKDF(sharedSecret, salt = sessionId, LABEL_SHARE_KEY, pairContext).
 * @param sharedSecret - X25519 of the two clients' encryption keys (c keys)
 */
export function deriveShareKey(sharedSecret: Uint8Array, sessionId: Uint8Array, idA: number, idB: number): Uint8Array {
  assertBytes(sharedSecret, 'sharedSecret', 32);
  assertBytes(sessionId, 'sessionId', SESSION_ID_BYTES);
  return deriveKey(sharedSecret, { salt: sessionId, label: LABEL_SHARE_KEY, context: pairContext(idA, idB), length: SHARE_KEY_BYTES });
}

/**
 * The 16-byte pairwise mask seed of clients idA and idB: HKDF(sharedSecret,
 * salt = sessionId, LABEL_PAIRWISE_MASK, pairContext).
 * @param sharedSecret - X25519 of the two clients' mask keys (s keys)
 */
export function derivePairwiseMaskSeed(sharedSecret: Uint8Array, sessionId: Uint8Array, idA: number, idB: number): Uint8Array {
  assertBytes(sharedSecret, 'sharedSecret', 32);
  assertBytes(sessionId, 'sessionId', SESSION_ID_BYTES);
  return deriveKey(sharedSecret, { salt: sessionId, label: LABEL_PAIRWISE_MASK, context: pairContext(idA, idB), length: MASK_SEED_BYTES });
}

/**
 * The 16-byte self-mask seed of client `id`: HKDF(selfSecret, salt = sessionId,
 * LABEL_SELF_MASK, u32be(id)).
 * @param selfSecret - the client's 32-byte random b_u (the value that is Shamir-shared)
 */
export function deriveSelfMaskSeed(selfSecret: Uint8Array, sessionId: Uint8Array, id: number): Uint8Array {
  assertBytes(selfSecret, 'selfSecret', 32);
  assertBytes(sessionId, 'sessionId', SESSION_ID_BYTES);
  assertInt(id, 'id', 0, 0xffffffff);
  return deriveKey(selfSecret, { salt: sessionId, label: LABEL_SELF_MASK, context: u32be(id), length: MASK_SEED_BYTES });
}

/**
 * A 32-byte session id: HKDF(ikm = material, salt = empty, LABEL_SESSION_ID, no context).
 * The protocol layer defines `material` (e.g. the round's parameters and every advertised key).
 */
export function deriveSessionId(material: Uint8Array): Uint8Array {
  assertBytes(material, 'material');
  return deriveKey(material, { label: LABEL_SESSION_ID, length: SESSION_ID_BYTES });
}
