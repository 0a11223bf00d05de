/**
 * Ed25519 signatures (RFC 8032) for the active-adversary mode: clients sign their
 * advertised keys and the consistency-check set. Messages are domain-separated with a
 * label prefix (signLabelled) so a signature for one purpose never verifies for another.
 */
import { sign as nativeSign, verify as nativeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { InvalidArgumentError } from '../errors.js';
import type { Rng } from '../rng.js';
import { assertBytes, concatBytes, u16be } from './bytes.js';
import { ed25519PrivateKeyObject, ed25519PublicKeyObject, rawPublicKey } from './native-keys.js';

export const ED25519_SECRET_KEY_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

export interface Ed25519Keypair {
  /** The 32-byte seed (RFC 8032 "private key"). */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A key pair from 32 bytes of `rng`. */
export function ed25519Keypair(rng: Rng): Ed25519Keypair {
  const secretKey = rng.fill(new Uint8Array(ED25519_SECRET_KEY_BYTES));
  return { secretKey, publicKey: ed25519PublicKey(secretKey) };
}

/** The public key of a 32-byte secret key (RFC 8032 sec. 5.1.5). */
export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', ED25519_SECRET_KEY_BYTES);
  // Native (OpenSSL) derivation: the same bytes as RFC 8032's, much cheaper than pure JS.
  return rawPublicKey(ed25519PrivateKeyObject(secretKey));
}

/**
 * Signs `message` (RFC 8032 sec. 5.1.6, pure Ed25519, deterministic).
 * @throws InvalidArgumentError for a wrong secret key length
 */
export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', ED25519_SECRET_KEY_BYTES);
  assertBytes(message, 'message');
  // Pure Ed25519 signing is deterministic, so OpenSSL's signature is byte-identical.
  const sig = nativeSign(null, message, ed25519PrivateKeyObject(secretKey));
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
}

// The y-coordinates (little-endian, bit 255 clear) of the 8 points of order dividing 8:
// 1 (identity), p-1 (order 2), 0 (order 4) and two of order 8. A public key with one of these
// y (either sign of x) is small order, or a non-canonical encoding of x = 0.
const SMALL_ORDER_Y: readonly Uint8Array[] = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ORDER_L = Uint8Array.from(Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'));

/** Whether little-endian `a` (bit 255 ignored when `maskTop`) is below little-endian `b`. */
function lessThanLE(a: Uint8Array, b: Uint8Array, maskTop: boolean): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && maskTop ? a[i]! & 0x7f : a[i]!;
    if (x !== b[i]!) return x < b[i]!;
  }
  return false;
}

const FIELD_P = Uint8Array.from(Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'));

/**
 * Whether a signature may be checked by OpenSSL alone. OpenSSL verifies cofactorless
 * (R == sB - kA as encoded bytes), which implies noble's cofactored strict check whenever
 * S < L and A is canonical and not small order; OpenSSL's own decoding is more lenient
 * about A, so those two conditions are checked here.
 */
function nativeVerifyApplies(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!lessThanLE(signature.subarray(32), ORDER_L, false)) return false;
  if (!lessThanLE(publicKey, FIELD_P, true)) return false;
  for (const y of SMALL_ORDER_Y) {
    let diff = (publicKey[31]! & 0x7f) ^ y[31]!;
    for (let i = 0; i < 31; i++) diff |= publicKey[i]! ^ y[i]!;
    if (diff === 0) return false;
  }
  return true;
}

/**
 * Verifies a signature (RFC 8032 sec. 5.1.7, strict: canonical S < L, canonical point
 * encodings, no small-order public key). Returns false for any invalid signature or a malformed
 * public key or signature of the right length; throws only for wrong types/lengths.
 * @throws InvalidArgumentError when publicKey is not 32 bytes or signature not 64 bytes
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes(publicKey, 'publicKey', ED25519_PUBLIC_KEY_BYTES);
  assertBytes(message, 'message');
  assertBytes(signature, 'signature', ED25519_SIGNATURE_BYTES);
  // Fast path: an OpenSSL "valid" under the preconditions above is a strict-RFC 8032 "valid"
  // too. Anything else (invalid or unusual signatures, only ever from a faulty or hostile
  // peer) gets noble's strict verdict, so the accepted set is exactly as before.
  if (nativeVerifyApplies(publicKey, signature)) {
    try {
      if (nativeVerify(null, message, ed25519PublicKeyObject(publicKey), signature)) return true;
    } catch {
      // OpenSSL refused the key: fall through to the reference verdict.
    }
  }
  try {
    // zip215: false = RFC 8032 / FIPS 186-5 decoding (canonical encodings only) and no
    // small-order public keys; noble's ed25519 default is the permissive ZIP-215.
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** The byte string actually signed for a labelled message: u16be(len(label)) || label || message. */
export function labelledMessage(label: string, message: Uint8Array): Uint8Array {
  if (typeof label !== 'string' || !/^[\x21-\x7e]+$/.test(label)) {
    throw new InvalidArgumentError('label must be a non-empty printable ASCII string without spaces');
  }
  assertBytes(message, 'message');
  const l = new TextEncoder().encode(label);
  return concatBytes(u16be(l.length), l, message);
}

/** ed25519Sign(secretKey, labelledMessage(label, message)). */
export function signLabelled(secretKey: Uint8Array, label: string, message: Uint8Array): Uint8Array {
  return ed25519Sign(secretKey, labelledMessage(label, message));
}

/** ed25519Verify(publicKey, labelledMessage(label, message), signature). */
export function verifyLabelled(publicKey: Uint8Array, label: string, message: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Verify(publicKey, labelledMessage(label, message), signature);
}
