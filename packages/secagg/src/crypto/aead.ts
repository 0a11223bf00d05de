/**
 * XChaCha20-Poly1305-IETF (libsodium; draft-irtf-cfrg-xchacha-03) for the encrypted
 * Shamir shares. The 24-byte nonce is random, so a key may seal many messages.
 * libsodium loads a WebAssembly module asynchronously: call `await ready()` once at
 * start-up; the sync functions throw ERR_CRYPTO_NOT_READY before that.
 */
import { createRequire } from 'node:module';
import { SecAggError } from '../errors.js';
import type { Rng } from '../rng.js';
import { assertBytes, concatBytes } from './bytes.js';

// libsodium-wrappers 0.7.16's ESM entry imports a file it does not ship; the CommonJS
// build works, so load that one.
type Sodium = typeof import('libsodium-wrappers');
const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;

let loaded = false;

/** Resolves once libsodium is loaded; idempotent and cheap after the first call. */
export async function ready(): Promise<void> {
  if (loaded) return;
  await sodium.ready;
  loaded = true;
}

/** Whether `ready()` has completed. */
export function isReady(): boolean {
  return loaded;
}

function assertReady(fn: string): void {
  if (!loaded) throw new SecAggError('ERR_CRYPTO_NOT_READY', `${fn}: call and await ready() from the crypto module first`);
}

/**
 * Encrypts with an explicit nonce: returns ciphertext || 16-byte tag.
 * Use aeadSeal unless you need a fixed nonce (test vectors).
 * @throws InvalidArgumentError for wrong lengths, SecAggError ERR_CRYPTO_NOT_READY before ready()
 */
export function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  assertReady('aeadEncrypt');
  assertBytes(key, 'key', AEAD_KEY_BYTES);
  assertBytes(nonce, 'nonce', AEAD_NONCE_BYTES);
  assertBytes(plaintext, 'plaintext');
  assertBytes(associatedData, 'associatedData');
  return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associatedData, null, nonce, key);
}

/**
 * Decrypts ciphertext || tag with an explicit nonce.
 * @throws SecAggError ERR_DECRYPT when authentication fails, InvalidArgumentError for wrong lengths
 */
export function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  assertReady('aeadDecrypt');
  assertBytes(key, 'key', AEAD_KEY_BYTES);
  assertBytes(nonce, 'nonce', AEAD_NONCE_BYTES);
  assertBytes(ciphertext, 'ciphertext');
  assertBytes(associatedData, 'associatedData');
  if (ciphertext.length < AEAD_TAG_BYTES) {
    throw new SecAggError('ERR_DECRYPT', `ciphertext is ${ciphertext.length} bytes, shorter than the ${AEAD_TAG_BYTES}-byte tag`);
  }
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, associatedData, nonce, key);
  } catch (err) {
    throw new SecAggError('ERR_DECRYPT', 'AEAD authentication failed (wrong key, or tampered ciphertext, nonce or associated data)', { cause: err });
  }
}

/**
 * Seals `plaintext` under `key` with a fresh random nonce: nonce(24) || ciphertext || tag(16).
 * @param rng - source of the nonce (systemRng in production)
 */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array, rng: Rng): Uint8Array {
  assertReady('aeadSeal');
  const nonce = rng.fill(new Uint8Array(AEAD_NONCE_BYTES));
  return concatBytes(nonce, aeadEncrypt(key, nonce, plaintext, associatedData));
}

/**
 * Opens a box made by aeadSeal.
 * @throws SecAggError ERR_DECRYPT on any tampering or a box shorter than nonce + tag
 */
export function aeadOpen(key: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array {
  assertReady('aeadOpen');
  assertBytes(sealed, 'sealed');
  if (sealed.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) {
    throw new SecAggError('ERR_DECRYPT', `sealed box is ${sealed.length} bytes, shorter than nonce + tag (${AEAD_NONCE_BYTES + AEAD_TAG_BYTES})`);
  }
  return aeadDecrypt(key, sealed.subarray(0, AEAD_NONCE_BYTES), sealed.subarray(AEAD_NONCE_BYTES), associatedData);
}

/** Bytes a sealed box adds to its plaintext (nonce + tag). */
export const AEAD_OVERHEAD_BYTES = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;
