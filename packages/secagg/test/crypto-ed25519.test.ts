// Ed25519 against RFC 8032 sec. 7.1 TEST 1-3, plus rejection and domain separation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex } from '../src/crypto/bytes.js';
import { ed25519Keypair, ed25519PublicKey, ed25519Sign, ed25519Verify, signLabelled, verifyLabelled } from '../src/crypto/ed25519.js';
import { LABEL_SIG_ADVERTISE, LABEL_SIG_CONSISTENCY } from '../src/crypto/hkdf.js';
import { seededRng } from '../src/rng.js';

// RFC 8032 sec. 7.1.
const RFC8032 = [
  {
    name: 'TEST 1',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

for (const v of RFC8032) {
  test(`RFC 8032 sec. 7.1 ${v.name}: public key, signature, verification`, () => {
    assert.equal(toHex(ed25519PublicKey(fromHex(v.secretKey))), v.publicKey);
    assert.equal(toHex(ed25519Sign(fromHex(v.secretKey), fromHex(v.message))), v.signature);
    assert.equal(ed25519Verify(fromHex(v.publicKey), fromHex(v.message), fromHex(v.signature)), true);
  });
}

test('a flipped bit anywhere in signature, message or key fails verification (false, no throw)', () => {
  const v = RFC8032[2]!;
  const pk = fromHex(v.publicKey);
  const msg = fromHex(v.message);
  const sig = fromHex(v.signature);
  for (let i = 0; i < sig.length; i++) {
    const bad = sig.slice();
    bad[i] = bad[i]! ^ 0x01;
    assert.equal(ed25519Verify(pk, msg, bad), false, `signature byte ${i}`);
  }
  for (let i = 0; i < pk.length; i++) {
    const bad = pk.slice();
    bad[i] = bad[i]! ^ 0x40;
    assert.equal(ed25519Verify(bad, msg, sig), false, `public key byte ${i}`);
  }
  assert.equal(ed25519Verify(pk, Uint8Array.of(0xaf, 0x83), sig), false);
  assert.equal(ed25519Verify(new Uint8Array(32), msg, sig), false);
  assert.equal(ed25519Verify(new Uint8Array(32).fill(0xff), msg, sig), false);
});

test('strict verification: small-order public keys and non-canonical encodings are refused', () => {
  // The identity point (y = 1) as public key with R = identity and S = 0 satisfies the
  // verification equation for every message; RFC 8032 decoding plus the small-order
  // check must still refuse it (ZIP-215 rules would accept it).
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const sig = new Uint8Array(64);
  sig.set(identity, 0);
  assert.equal(ed25519Verify(identity, Uint8Array.of(1, 2, 3), sig), false);
  // A non-canonical encoding of a public key (y + p, which fits in 255 bits only for tiny y).
  const v = RFC8032[0]!;
  const nonCanonical = new Uint8Array(32).fill(0xff);
  nonCanonical[0] = 0xee; // y = 2^255 - 18 = p + 1: the canonical y is 1 (identity) again
  nonCanonical[31] = 0x7f;
  assert.equal(ed25519Verify(nonCanonical, fromHex(v.message), fromHex(v.signature)), false);
  // S >= L (L + S of a valid signature) is refused.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const good = fromHex(v.signature);
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(good[i]!);
  const big = s + L;
  const bad = good.slice();
  for (let i = 0; i < 32; i++) bad[32 + i] = Number((big >> BigInt(8 * i)) & 0xffn);
  assert.equal(ed25519Verify(fromHex(v.publicKey), fromHex(v.message), bad), false);
});

test('wrong lengths give ERR_INVALID_ARGUMENT naming the argument', () => {
  const v = RFC8032[0]!;
  assert.throws(() => ed25519Verify(fromHex(v.publicKey), new Uint8Array(0), new Uint8Array(63)), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /signature/.test(e.message));
  assert.throws(() => ed25519Verify(new Uint8Array(31), new Uint8Array(0), fromHex(v.signature)), /publicKey/);
  assert.throws(() => ed25519Sign(new Uint8Array(64), new Uint8Array(0)), /secretKey/);
});

test('labelled signatures do not verify under another label', () => {
  const kp = ed25519Keypair(seededRng(new Uint8Array(32).fill(3)));
  const msg = Uint8Array.of(1, 2, 3);
  const sig = signLabelled(kp.secretKey, LABEL_SIG_ADVERTISE, msg);
  assert.equal(verifyLabelled(kp.publicKey, LABEL_SIG_ADVERTISE, msg, sig), true);
  assert.equal(verifyLabelled(kp.publicKey, LABEL_SIG_CONSISTENCY, msg, sig), false);
  assert.equal(ed25519Verify(kp.publicKey, msg, sig), false);
});

// Signing, key derivation and the common verification path run on node:crypto (OpenSSL);
// @noble/curves' strict verifier is the reference verdict. OpenSSL's equation is
// cofactorless and noble's cofactored, so signatures built with a torsion component must
// still get noble's answer (the wrapper falls back to it), not OpenSSL's.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBig = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const bigToLe32 = (v: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));

test('property: native keys and signatures equal @noble/curves; verification matches its strict verdict', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), fc.nat(), (sk, msg, flip) => {
      const pk = ed25519PublicKey(sk);
      assert.deepEqual(pk, ed25519.getPublicKey(sk));
      const sig = ed25519Sign(sk, msg);
      assert.deepEqual(sig, ed25519.sign(msg, sk));
      assert.equal(ed25519Verify(pk, msg, sig), true);
      const bad = sig.slice();
      bad[flip % 64] = bad[flip % 64]! ^ (1 << (flip % 8));
      assert.equal(ed25519Verify(pk, msg, bad), ed25519.verify(bad, msg, pk, { zip215: false }));
    }),
    { numRuns: 48 },
  );
});

test('signatures with a torsion component get the strict cofactored verdict, not OpenSSL\'s', () => {
  const P = ed25519.Point;
  const T8 = P.fromBytes(fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
  const rng = seededRng(new Uint8Array(32).fill(0x3c));
  const msg = new TextEncoder().encode('torsion');
  let openSslDisagreed = 0;
  for (let i = 0; i < 8; i++) {
    const a = (leToBig(rng.fill(new Uint8Array(32))) % (L - 1n)) + 1n;
    const r = (leToBig(rng.fill(new Uint8Array(32))) % (L - 1n)) + 1n;
    const torsionOnKey = i % 2 === 0;
    const A = torsionOnKey ? P.BASE.multiply(a).add(T8) : P.BASE.multiply(a);
    const R = torsionOnKey ? P.BASE.multiply(r) : P.BASE.multiply(r).add(T8);
    const Ab = A.toBytes();
    const Rb = R.toBytes();
    const k = leToBig(sha512(concatBytes(Rb, Ab, msg))) % L;
    const sig = concatBytes(Rb, bigToLe32((r + k * a) % L));
    const reference = ed25519.verify(sig, msg, Ab, { zip215: false });
    assert.equal(ed25519Verify(Ab, msg, sig), reference);
    const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Ab]);
    if (nodeVerify(null, msg, createPublicKey({ key: der, format: 'der', type: 'spki' }), sig) !== reference) openSslDisagreed++;
  }
  // The construction really exercises the fallback: OpenSSL alone would have said otherwise.
  assert.ok(openSslDisagreed > 0);
});
