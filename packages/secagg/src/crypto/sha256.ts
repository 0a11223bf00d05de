/** SHA-256 (FIPS 180-4) for session ids and the vector manifest. */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { assertBytes } from './bytes.js';

/** Length of a SHA-256 digest in bytes. */
export const SHA256_BYTES = 32;

/**
 * SHA-256 of `data`.
 * @throws InvalidArgumentError if data is not a Uint8Array
 */
export function sha256(data: Uint8Array): Uint8Array {
  assertBytes(data, 'data');
  return nobleSha256(data);
}
