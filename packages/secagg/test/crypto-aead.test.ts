// XChaCha20-Poly1305-IETF against draft-irtf-cfrg-xchacha-03 appendix A.3.1, plus
// tamper detection, framing and the ready() contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { AEAD_NONCE_BYTES, AEAD_OVERHEAD_BYTES, aeadDecrypt, aeadEncrypt, aeadOpen, aeadSeal, isReady, ready } from '../src/crypto/aead.js';
import { seededRng } from '../src/rng.js';

// draft-irtf-cfrg-xchacha-03 sec. A.3.1.
const A31 = {
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  aad: '50515253c0c1c2c3c4c5c6c7',
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '404142434445464748494a4b4c4d4e4f5051525354555657',
  ciphertext:
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e',
  tag: 'c0875924c1c7987947deafd8780acf49',
};

test('before ready(): the sync functions throw ERR_CRYPTO_NOT_READY', () => {
  // Node runs each test file in its own process, and this test runs first in it.
  assert.equal(isReady(), false);
  const key = new Uint8Array(32);
  assert.throws(() => aeadSeal(key, new Uint8Array(1), new Uint8Array(0), seededRng(new Uint8Array(32))), { code: 'ERR_CRYPTO_NOT_READY' });
  assert.throws(() => aeadOpen(key, new Uint8Array(40), new Uint8Array(0)), (e: Error & { code?: string }) => e.code === 'ERR_CRYPTO_NOT_READY' && /ready\(\)/.test(e.message));
});

test('draft-irtf-cfrg-xchacha-03 A.3.1: encrypt and decrypt', async () => {
  await ready();
  assert.equal(isReady(), true);
  const pt = new TextEncoder().encode(A31.plaintext);
  const ct = aeadEncrypt(fromHex(A31.key), fromHex(A31.nonce), pt, fromHex(A31.aad));
  assert.equal(toHex(ct), A31.ciphertext + A31.tag);
  assert.equal(new TextDecoder().decode(aeadDecrypt(fromHex(A31.key), fromHex(A31.nonce), ct, fromHex(A31.aad))), A31.plaintext);
});

test('seal/open round trip; the box is nonce || ciphertext || tag', async () => {
  await ready();
  const key = new Uint8Array(32).fill(4);
  const ad = Uint8Array.of(1, 2, 3);
  const rng = seededRng(new Uint8Array(32).fill(8));
  for (const len of [0, 1, 33, 1000]) {
    const pt = Uint8Array.from({ length: len }, (_, i) => i & 0xff);
    const box = aeadSeal(key, pt, ad, rng);
    assert.equal(box.length, len + AEAD_OVERHEAD_BYTES);
    assert.deepEqual(aeadOpen(key, box, ad), pt);
    assert.deepEqual(aeadDecrypt(key, box.subarray(0, AEAD_NONCE_BYTES), box.subarray(AEAD_NONCE_BYTES), ad), pt);
  }
});

test('any flipped bit, wrong key or wrong associated data gives ERR_DECRYPT', async () => {
  await ready();
  const key = new Uint8Array(32).fill(4);
  const ad = Uint8Array.of(1, 2, 3);
  const box = aeadSeal(key, new Uint8Array(40).fill(7), ad, seededRng(new Uint8Array(32)));
  for (let i = 0; i < box.length; i++) {
    const bad = box.slice();
    bad[i] = bad[i]! ^ (1 << (i % 8));
    assert.throws(() => aeadOpen(key, bad, ad), { code: 'ERR_DECRYPT' });
  }
  assert.throws(() => aeadOpen(new Uint8Array(32).fill(5), box, ad), { code: 'ERR_DECRYPT' });
  assert.throws(() => aeadOpen(key, box, Uint8Array.of(1, 2)), { code: 'ERR_DECRYPT' });
  assert.throws(() => aeadOpen(key, box.subarray(0, AEAD_OVERHEAD_BYTES - 1), ad), { code: 'ERR_DECRYPT' });
  assert.throws(() => aeadDecrypt(key, new Uint8Array(24), new Uint8Array(15), ad), { code: 'ERR_DECRYPT' });
});

test('wrong key or nonce lengths give ERR_INVALID_ARGUMENT naming them', async () => {
  await ready();
  assert.throws(() => aeadEncrypt(new Uint8Array(16), new Uint8Array(24), new Uint8Array(1), new Uint8Array(0)), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /key/.test(e.message));
  assert.throws(() => aeadEncrypt(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0)), (e: Error) => /nonce/.test(e.message));
  assert.throws(() => aeadSeal(new Uint8Array(32), 'x' as never, new Uint8Array(0), seededRng(new Uint8Array(32))), /plaintext/);
});
