// X25519 against RFC 7748 sec. 5.2 (scalar multiplication, iterated) and sec. 6.1
// (Diffie-Hellman), plus low-order point rejection (sec. 6.1 / 7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { x25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { X25519_LOW_ORDER_U, x25519AssertPublicKey, x25519Keypair, x25519PublicKey, x25519SharedSecret } from '../src/crypto/x25519.js';
import { seededRng } from '../src/rng.js';

// RFC 7748 sec. 5.2: (scalar, input u-coordinate, output u-coordinate).
const RFC7748_5_2 = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
// RFC 7748 sec. 5.2, iterated: k = u = 9; after 1 and 1000 iterations.
const RFC7748_ITER_1 = '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079';
const RFC7748_ITER_1000 = '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51';
// RFC 7748 sec. 6.1.
const RFC7748_6_1 = {
  alicePriv: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPriv: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

function uToBytes(u: bigint, setTopBit = false): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((u >> BigInt(8 * i)) & 0xffn);
  if (setTopBit) out[31] = out[31]! | 0x80;
  return out;
}

test('RFC 7748 sec. 5.2 scalar multiplication vectors', () => {
  for (const v of RFC7748_5_2) {
    assert.equal(toHex(x25519SharedSecret(fromHex(v.scalar), fromHex(v.u))), v.out);
  }
});

test('RFC 7748 sec. 5.2 iterated vector (1 and 1000 iterations)', () => {
  let k = uToBytes(9n);
  let u = uToBytes(9n);
  for (let i = 1; i <= 1000; i++) {
    const r = x25519SharedSecret(k, u);
    u = k;
    k = r;
    if (i === 1) assert.equal(toHex(k), RFC7748_ITER_1);
  }
  assert.equal(toHex(k), RFC7748_ITER_1000);
});

test('RFC 7748 sec. 6.1 Diffie-Hellman: public keys and the shared secret both ways', () => {
  const v = RFC7748_6_1;
  assert.equal(toHex(x25519PublicKey(fromHex(v.alicePriv))), v.alicePub);
  assert.equal(toHex(x25519PublicKey(fromHex(v.bobPriv))), v.bobPub);
  assert.equal(toHex(x25519SharedSecret(fromHex(v.alicePriv), fromHex(v.bobPub))), v.shared);
  assert.equal(toHex(x25519SharedSecret(fromHex(v.bobPriv), fromHex(v.alicePub))), v.shared);
});

test('every low-order point (canonical, +p and top-bit-set encodings) is rejected with ERR_LOW_ORDER_POINT', () => {
  const p = 2n ** 255n - 19n;
  const sk = fromHex(RFC7748_6_1.alicePriv);
  assert.equal(X25519_LOW_ORDER_U.length, 5);
  let cases = 0;
  for (const u of X25519_LOW_ORDER_U) {
    const encodings = [uToBytes(u), uToBytes(u, true)];
    if (u + p < 2n ** 255n) encodings.push(uToBytes(u + p));
    for (const pk of encodings) {
      cases++;
      assert.throws(() => x25519SharedSecret(sk, pk), (e: Error & { code?: string }) => e.code === 'ERR_LOW_ORDER_POINT' && /peerPublicKey/.test(e.message));
      assert.throws(() => x25519AssertPublicKey(pk), { code: 'ERR_LOW_ORDER_POINT' });
    }
  }
  assert.ok(cases >= 12);
});

test('the low-order list is exactly the points that send a random scalar to zero', () => {
  // Each listed u has order dividing 8: clamped scalars (multiples of 8) map it to 0.
  // Checked with the raw noble ladder, bypassing our pre-check.
  const p = 2n ** 255n - 19n;
  const rng = seededRng(new Uint8Array(32).fill(1));
  for (const u of X25519_LOW_ORDER_U) {
    const sk = rng.fill(new Uint8Array(32));
    assert.throws(() => x25519.getSharedSecret(sk, uToBytes(u)));
  }
  // A point just next to a low-order one is fine.
  const sk = rng.fill(new Uint8Array(32));
  assert.equal(x25519SharedSecret(sk, uToBytes(9n)).length, 32);
  assert.equal(x25519SharedSecret(sk, uToBytes(p - 2n)).length, 32);
});

test('wrong key lengths and types give ERR_INVALID_ARGUMENT naming the argument', () => {
  const sk = new Uint8Array(32).fill(3);
  assert.throws(() => x25519SharedSecret(new Uint8Array(31), uToBytes(9n)), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /secretKey/.test(e.message));
  assert.throws(() => x25519SharedSecret(sk, new Uint8Array(33)), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /peerPublicKey/.test(e.message));
  assert.throws(() => x25519SharedSecret(sk, 'abc' as unknown as Uint8Array), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => x25519PublicKey(new Uint8Array(0)), { code: 'ERR_INVALID_ARGUMENT' });
});

test('property: key agreement is symmetric and keypairs are deterministic under a seeded Rng', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const a1 = x25519Keypair(seededRng(seed));
      const a2 = x25519Keypair(seededRng(seed));
      assert.deepEqual(a1, a2);
      const rng = seededRng(seed.map((b) => b ^ 0xff));
      const b = x25519Keypair(rng);
      assert.deepEqual(x25519SharedSecret(a1.secretKey, b.publicKey), x25519SharedSecret(b.secretKey, a1.publicKey));
    }),
    { numRuns: 20 },
  );
});

// The implementation runs on node:crypto (OpenSSL); @noble/curves is an independent
// pure-JS ladder, so agreement on random inputs checks both the arithmetic and the way
// raw keys are imported (clamping, bit 255, non-canonical u >= p).
test('property: native public keys and shared secrets equal @noble/curves on random keys', () => {
  const p = 2n ** 255n - 19n;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (a, b, topBit) => {
      assert.deepEqual(x25519PublicKey(a), x25519.getPublicKey(a));
      const peer = x25519.getPublicKey(b);
      if (topBit) peer[31] = peer[31]! | 0x80;
      assert.deepEqual(x25519SharedSecret(a, peer), x25519.getSharedSecret(a, peer));
    }),
    { numRuns: 64 },
  );
  // Non-canonical encodings u + p (u < 19) and raw random u-coordinates (possibly on the twist).
  const rng = seededRng(new Uint8Array(32).fill(9));
  const sk = rng.fill(new Uint8Array(32));
  for (const u of [2n, 3n, 9n, 18n]) {
    const enc = uToBytes(u + p);
    assert.deepEqual(x25519SharedSecret(sk, enc), x25519.getSharedSecret(sk, enc));
    assert.deepEqual(x25519SharedSecret(sk, enc), x25519SharedSecret(sk, uToBytes(u)));
  }
  for (let i = 0; i < 16; i++) {
    const u = rng.fill(new Uint8Array(32));
    assert.deepEqual(x25519SharedSecret(sk, u), x25519.getSharedSecret(sk, u));
  }
});

test('a key array overwritten in place is re-imported, never matched to its old key', () => {
  const sk = new Uint8Array(32).fill(5);
  const peer = x25519PublicKey(new Uint8Array(32).fill(6));
  const first = x25519SharedSecret(sk, peer);
  assert.deepEqual(x25519PublicKey(sk), x25519.getPublicKey(new Uint8Array(32).fill(5)));
  sk.fill(7);
  assert.deepEqual(x25519PublicKey(sk), x25519.getPublicKey(new Uint8Array(32).fill(7)));
  assert.deepEqual(x25519SharedSecret(sk, peer), x25519.getSharedSecret(new Uint8Array(32).fill(7), peer));
  assert.notDeepEqual(x25519SharedSecret(sk, peer), first);
  const peerCopy = peer.slice();
  peer.set(x25519PublicKey(new Uint8Array(32).fill(8)));
  assert.deepEqual(x25519SharedSecret(sk, peer), x25519.getSharedSecret(sk, peer));
  assert.deepEqual(x25519SharedSecret(sk, peerCopy), x25519.getSharedSecret(sk, peerCopy));
});
