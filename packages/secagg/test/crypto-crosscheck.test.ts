// Cross-checks against an independent implementation: OpenSSL through node:crypto
// (X25519, HKDF-SHA256, Ed25519, SHA-256) on random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { concatBytes } from '../src/crypto/bytes.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../src/crypto/ed25519.js';
import { hkdfSha256 } from '../src/crypto/hkdf.js';
import { sha256 } from '../src/crypto/sha256.js';
import { x25519PublicKey, x25519SharedSecret } from '../src/crypto/x25519.js';

// DER prefixes of PKCS#8 / SPKI for raw 32-byte X25519 and Ed25519 keys (RFC 8410).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

test('X25519 public keys and shared secrets equal OpenSSL\'s', () => {
  fc.assert(
    fc.property(bytes32, bytes32, (a, b) => {
      const privA = createPrivateKey({ key: Buffer.from(concatBytes(X25519_PKCS8, a)), format: 'der', type: 'pkcs8' });
      const pubB = x25519PublicKey(b);
      const opensslPubA = createPublicKey(privA).export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI.length);
      assert.deepEqual(x25519PublicKey(a), new Uint8Array(opensslPubA));
      const theirs = diffieHellman({ privateKey: privA, publicKey: createPublicKey({ key: Buffer.from(concatBytes(X25519_SPKI, pubB)), format: 'der', type: 'spki' }) });
      assert.deepEqual(x25519SharedSecret(a, pubB), new Uint8Array(theirs));
    }),
    { numRuns: 12 },
  );
});

test('X25519 ignores bit 255 of the peer key, as RFC 7748 sec. 5 requires', () => {
  const sk = new Uint8Array(32).fill(0x42);
  const pk = x25519PublicKey(new Uint8Array(32).fill(0x17));
  const high = pk.slice();
  high[31] = high[31]! | 0x80;
  assert.deepEqual(x25519SharedSecret(sk, high), x25519SharedSecret(sk, pk));
});

test('HKDF-SHA256 equals OpenSSL\'s hkdfSync', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 1, max: 255 * 32 }), (ikm, salt, info, length) => {
      assert.deepEqual(hkdfSha256(ikm, salt, info, length), new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)));
    }),
    { numRuns: 50 },
  );
});

test('Ed25519 keys and signatures equal OpenSSL\'s, and each verifies the other\'s', () => {
  fc.assert(
    fc.property(bytes32, fc.uint8Array({ maxLength: 300 }), (seed, message) => {
      const priv = createPrivateKey({ key: Buffer.from(concatBytes(ED25519_PKCS8, seed)), format: 'der', type: 'pkcs8' });
      const pub = createPublicKey(priv);
      const opensslPk = new Uint8Array(pub.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI.length));
      assert.deepEqual(ed25519PublicKey(seed), opensslPk);
      const theirs = new Uint8Array(sign(null, message, priv));
      const ours = ed25519Sign(seed, message);
      assert.deepEqual(ours, theirs);
      assert.equal(verify(null, message, pub, ours), true);
      assert.equal(ed25519Verify(opensslPk, message, theirs), true);
    }),
    { numRuns: 12 },
  );
});

test('SHA-256 equals OpenSSL\'s', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1000 }), (data) => {
      assert.deepEqual(sha256(data), new Uint8Array(createHash('sha256').update(data).digest()));
    }),
    { numRuns: 50 },
  );
});
