/**
 * Everything both ends derive from the config and the key list: the session id, the
 * signed payloads, the share-ciphertext plaintext and associated data. Kept in one
 * module so the client and server machines cannot drift apart (protocol-spec/04-messages.md).
 */
import { AEAD_OVERHEAD_BYTES, concatBytes, deriveSessionId, LABEL_SIG_ADVERTISE, LABEL_SIG_CONSISTENCY, signLabelled, verifyLabelled } from '../crypto/index.js';
import { bytesToBigint, SHAMIR_PRIME, SHAMIR_SHARE_BYTES } from '../shamir/index.js';
import { encodeConfig, type NormalizedConfig } from './config.js';
import { SHARE_FAULT_CAUSES, type AdvertisedKeys, type ShareFaultCause } from './messages.js';

export { LABEL_SIG_ADVERTISE, LABEL_SIG_CONSISTENCY };

/** Bytes of a share plaintext: owner u16 | holder u16 | s_sk share | b share. */
export const SHARE_PLAINTEXT_BYTES = 4 + 2 * SHAMIR_SHARE_BYTES;
/** Bytes of one share ciphertext on the wire: nonce(24) || AEAD(plaintext) || tag(16). */
export const SHARE_CIPHERTEXT_BYTES = AEAD_OVERHEAD_BYTES + SHARE_PLAINTEXT_BYTES;

function u16le(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, v >>> 8]);
}

/** u16le(count) || u16le(id)... : the canonical encoding of an id set. */
export function encodeIdList(ids: readonly number[]): Uint8Array {
  const out = new Uint8Array(2 + 2 * ids.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, ids.length, true);
  ids.forEach((id, i) => view.setUint16(2 + 2 * i, id, true));
  return out;
}

/**
 * The session id: HKDF(label session-id) over
 * encodeConfig(config) || u16le(|U1|) || for each entry in id order: u16le(id) || c_pk || s_pk.
 * It binds protocol version, every config field (incl. the nonce and graph degree) and
 * every advertised key, so a server that shows different keys to different clients
 * splits them into different sessions whose masks and shares do not fit together.
 */
export function computeSessionId(config: NormalizedConfig, entries: readonly AdvertisedKeys[]): Uint8Array {
  const parts: Uint8Array[] = [encodeConfig(config), u16le(entries.length)];
  for (const e of entries) parts.push(u16le(e.clientId), e.encryptionPublicKey, e.maskingPublicKey);
  return deriveSessionId(concatBytes(...parts));
}

/** What a client signs in active mode when advertising: encodeConfig || u16le(id) || c_pk || s_pk. */
export function advertisePayload(config: NormalizedConfig, id: number, cPk: Uint8Array, sPk: Uint8Array): Uint8Array {
  return concatBytes(encodeConfig(config), u16le(id), cPk, sPk);
}

export function signAdvertise(identitySecret: Uint8Array, config: NormalizedConfig, id: number, cPk: Uint8Array, sPk: Uint8Array): Uint8Array {
  return signLabelled(identitySecret, LABEL_SIG_ADVERTISE, advertisePayload(config, id, cPk, sPk));
}

export function verifyAdvertise(identityPublic: Uint8Array, config: NormalizedConfig, e: AdvertisedKeys): boolean {
  if (e.signature === null) return false;
  return verifyLabelled(identityPublic, LABEL_SIG_ADVERTISE, advertisePayload(config, e.clientId, e.encryptionPublicKey, e.maskingPublicKey), e.signature);
}

/** What a client signs in ConsistencyCheck: session id || encodeIdList(U3). */
export function consistencyPayload(sessionId: Uint8Array, survivors: readonly number[]): Uint8Array {
  return concatBytes(sessionId, encodeIdList(survivors));
}

export function signConsistency(identitySecret: Uint8Array, sessionId: Uint8Array, survivors: readonly number[]): Uint8Array {
  return signLabelled(identitySecret, LABEL_SIG_CONSISTENCY, consistencyPayload(sessionId, survivors));
}

export function verifyConsistency(identityPublic: Uint8Array, sessionId: Uint8Array, survivors: readonly number[], signature: Uint8Array): boolean {
  return verifyLabelled(identityPublic, LABEL_SIG_CONSISTENCY, consistencyPayload(sessionId, survivors), signature);
}

/** AEAD associated data of a share ciphertext: session id || u16le(owner) || u16le(holder). */
export function shareAssociatedData(sessionId: Uint8Array, owner: number, holder: number): Uint8Array {
  return concatBytes(sessionId, u16le(owner), u16le(holder));
}

/** Share plaintext: u16le(owner) || u16le(holder) || y(s_sk share) || y(b share). */
export function encodeSharePlaintext(owner: number, holder: number, keyShare: Uint8Array, selfMaskShare: Uint8Array): Uint8Array {
  return concatBytes(u16le(owner), u16le(holder), keyShare, selfMaskShare);
}

/** Parses a share plaintext; returns null when its length or ids are wrong. */
export function decodeSharePlaintext(
  plain: Uint8Array,
  owner: number,
  holder: number,
): { keyShare: Uint8Array; selfMaskShare: Uint8Array } | null {
  if (plain.length !== SHARE_PLAINTEXT_BYTES) return null;
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  if (view.getUint16(0, true) !== owner || view.getUint16(2, true) !== holder) return null;
  return {
    keyShare: plain.slice(4, 4 + SHAMIR_SHARE_BYTES),
    selfMaskShare: plain.slice(4 + SHAMIR_SHARE_BYTES, 4 + 2 * SHAMIR_SHARE_BYTES),
  };
}

/**
 * Parses a share plaintext as a recipient must: the right length and ids
 * (else cause MALFORMED), and both share values field elements, < p (else NOT_IN_FIELD).
 */
export function readSharePlaintext(
  plain: Uint8Array,
  owner: number,
  holder: number,
): { keyShare: Uint8Array; selfMaskShare: Uint8Array } | { cause: ShareFaultCause } {
  const parsed = decodeSharePlaintext(plain, owner, holder);
  if (parsed === null) return { cause: SHARE_FAULT_CAUSES.MALFORMED };
  if (bytesToBigint(parsed.keyShare) >= SHAMIR_PRIME || bytesToBigint(parsed.selfMaskShare) >= SHAMIR_PRIME) {
    return { cause: SHARE_FAULT_CAUSES.NOT_IN_FIELD };
  }
  return parsed;
}
