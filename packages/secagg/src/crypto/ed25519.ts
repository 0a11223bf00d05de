/**
 * Ed25519 signatures (RFC 8032) for the active-adversary mode: clients sign their
 * advertised keys and the consistency-check set. Messages are domain-separated with a
 * label prefix (signLabelled) so a signature for one purpose never verifies for another.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { InvalidArgumentError } from '../errors.js';
import type { Rng } from '../rng.js';
import { assertBytes, concatBytes, u16be } from './bytes.js';

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
  return ed25519.getPublicKey(secretKey);
}

/**
 * Signs `message` (RFC 8032 sec. 5.1.6, pure Ed25519, deterministic).
 * @throws InvalidArgumentError for a wrong secret key length
 */
export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', ED25519_SECRET_KEY_BYTES);
  assertBytes(message, 'message');
  return ed25519.sign(message, secretKey);
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
