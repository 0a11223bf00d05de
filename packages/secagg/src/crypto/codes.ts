/**
 * Every error code the crypto suite, Shamir and quantisation modules throw, with its
 * meaning. Append-only: never rename, renumber or reuse a code (protocol-spec/01-crypto.md
 * lists the same table).
 */
export const CRYPTO_ERROR_CODES = {
  /** Wrong type, length or range of an argument (InvalidArgumentError). */
  ERR_INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** An X25519 peer key is a low-order point, or the shared secret would be all zero. */
  ERR_LOW_ORDER_POINT: 'ERR_LOW_ORDER_POINT',
  /** AEAD authentication failed: wrong key, tampered ciphertext, nonce or associated data. */
  ERR_DECRYPT: 'ERR_DECRYPT',
  /** A libsodium-backed function was called before `await ready()`. */
  ERR_CRYPTO_NOT_READY: 'ERR_CRYPTO_NOT_READY',
  /** A Shamir share is malformed (x out of range, y not a field element, wrong length). */
  ERR_SHARE_INVALID: 'ERR_SHARE_INVALID',
  /** Two Shamir shares carry the same x-coordinate. */
  ERR_SHARE_DUPLICATE: 'ERR_SHARE_DUPLICATE',
  /** Fewer shares than the threshold were supplied. */
  ERR_TOO_FEW_SHARES: 'ERR_TOO_FEW_SHARES',
  /** The supplied shares do not lie on one polynomial of degree t-1, or decode to no 32-byte secret. */
  ERR_SHARE_INCONSISTENT: 'ERR_SHARE_INCONSISTENT',
  /** A value to quantise is NaN or infinite. */
  ERR_NON_FINITE: 'ERR_NON_FINITE',
  /** An aggregate to decode has total weight 0, so it has no mean. */
  ERR_ZERO_WEIGHT: 'ERR_ZERO_WEIGHT',
} as const;

export type CryptoErrorCode = keyof typeof CRYPTO_ERROR_CODES;
