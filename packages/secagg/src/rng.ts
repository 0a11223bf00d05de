import { createCipheriv, randomFillSync } from 'node:crypto';

/**
 * Randomness is injected into every function and state machine that needs it, so
 * the core stays deterministic under a seeded generator (test vectors, transcripts)
 * and uses the OS CSPRNG in production.
 */
export interface Rng {
  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array;
}

/** The operating system's CSPRNG. */
export const systemRng: Rng = {
  fill(out) {
    return randomFillSync(out);
  },
};

/**
 * A deterministic generator for vectors and tests only: AES-256-CTR keystream of a
 * 32-byte seed with a zero IV. Never use it for real key material.
 */
export function seededRng(seed: Uint8Array): Rng {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new RangeError('seededRng: seed must be a 32-byte Uint8Array');
  }
  const cipher = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16));
  return {
    fill(out) {
      const ks = cipher.update(Buffer.alloc(out.length));
      out.set(ks);
      return out;
    },
  };
}
