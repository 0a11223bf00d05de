/**
 * Raw 32-byte Curve25519 keys as node:crypto KeyObjects, for the native X25519 and Ed25519
 * paths. Raw keys enter OpenSSL as JWKs: Node hands a JWK's `d` (private) or `x` (public)
 * straight to EVP_PKEY_new_raw_*_key, 5-9x cheaper here than parsing the equivalent
 * PKCS8/SPKI DER through OpenSSL 3's decoder. For a private JWK Node requires an `x` member
 * but imports only `d` (OpenSSL recomputes the public key), so a placeholder is passed; if a
 * Node version ever checks `x`, the fixed-prefix PKCS8 DER import (RFC 8410) takes over.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export type NativeCurve = 'X25519' | 'Ed25519';

const RAW_KEY_BYTES = 32;
const PKCS8_PREFIX: Record<NativeCurve, Buffer> = {
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const JWK_X_PLACEHOLDER = Buffer.alloc(RAW_KEY_BYTES).toString('base64url');
let jwkPrivateImport = true;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function importPrivate(crv: NativeCurve, secretKey: Uint8Array): KeyObject {
  if (jwkPrivateImport) {
    try {
      return createPrivateKey({ key: { kty: 'OKP', crv, d: b64url(secretKey), x: JWK_X_PLACEHOLDER }, format: 'jwk' });
    } catch {
      jwkPrivateImport = false;
    }
  }
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[crv], secretKey]), format: 'der', type: 'pkcs8' });
}

function importPublic(crv: NativeCurve, publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: b64url(publicKey) }, format: 'jwk' });
}

/**
 * Imported KeyObjects, keyed by the caller's array. A round uses each secret key for up to
 * 2k agreements (and an identity key for every frame), so importing once per array saves
 * most of the import cost. The cached copy of the bytes is compared on every hit, so an
 * array the caller has since overwritten is re-imported, never matched to a stale key.
 */
interface CachedKey {
  bytes: Uint8Array;
  key: KeyObject;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < RAW_KEY_BYTES; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function cachedImport(load: (bytes: Uint8Array) => KeyObject): (bytes: Uint8Array) => KeyObject {
  const cache = new WeakMap<Uint8Array, CachedKey>();
  return (bytes) => {
    const hit = cache.get(bytes);
    if (hit !== undefined && sameBytes(hit.bytes, bytes)) return hit.key;
    const key = load(bytes);
    cache.set(bytes, { bytes: bytes.slice(), key });
    return key;
  };
}

/** The private KeyObject of a raw 32-byte secret key (caller checks the length). */
export const x25519PrivateKeyObject = cachedImport((b) => importPrivate('X25519', b));
/** The public KeyObject of a raw 32-byte u-coordinate (caller checks the length). */
export const x25519PublicKeyObject = cachedImport((b) => importPublic('X25519', b));
/** The private KeyObject of a raw 32-byte Ed25519 seed (caller checks the length). */
export const ed25519PrivateKeyObject = cachedImport((b) => importPrivate('Ed25519', b));
/** The public KeyObject of a raw 32-byte Ed25519 public key; throws if OpenSSL refuses it. */
export const ed25519PublicKeyObject = cachedImport((b) => importPublic('Ed25519', b));

/** The raw 32-byte public key of a private KeyObject. */
export function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}
