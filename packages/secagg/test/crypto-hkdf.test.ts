// HKDF-SHA256 against RFC 5869 appendix A test cases 1-3, and the labelled derivations.
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBytes, fromHex, toHex } from '../src/crypto/bytes.js';
import {
  DERIVATION_LABELS,
  LABEL_PAIRWISE_MASK,
  LABEL_SHARE_KEY,
  deriveKey,
  derivePairwiseMaskSeed,
  deriveSelfMaskSeed,
  deriveSessionId,
  deriveShareKey,
  hkdfSha256,
  labelledInfo,
  pairContext,
} from '../src/crypto/hkdf.js';

const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from }, (_, i) => from + i);

// RFC 5869 appendix A.1-A.3 (SHA-256).
const RFC5869 = [
  {
    name: 'A.1 basic',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: range(0x00, 0x0d),
    info: range(0xf0, 0xfa),
    length: 42,
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs',
    ikm: range(0x00, 0x50),
    salt: range(0x60, 0xb0),
    info: range(0xb0, 0x100),
    length: 82,
    okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

for (const v of RFC5869) {
  test(`RFC 5869 ${v.name}`, () => {
    assert.equal(toHex(hkdfSha256(v.ikm, v.salt, v.info, v.length)), v.okm);
  });
}

test('labelledInfo is u16be(len(label)) || label || context', () => {
  const info = labelledInfo('fedmeta/x', Uint8Array.of(1, 2));
  assert.equal(toHex(info), '0009' + Buffer.from('fedmeta/x').toString('hex') + '0102');
  assert.throws(() => labelledInfo('', new Uint8Array(0)), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => labelledInfo('has space', new Uint8Array(0)), { code: 'ERR_INVALID_ARGUMENT' });
});

test('deriveKey is HKDF with the labelled info and the given salt', () => {
  const ikm = new Uint8Array(32).fill(5);
  const salt = new Uint8Array(32).fill(6);
  const ctx = Uint8Array.of(7, 8, 9);
  const got = deriveKey(ikm, { salt, label: LABEL_SHARE_KEY, context: ctx, length: 32 });
  const info = concatBytes(Uint8Array.of(0, LABEL_SHARE_KEY.length), new TextEncoder().encode(LABEL_SHARE_KEY), ctx);
  assert.deepEqual(got, hkdfSha256(ikm, salt, info, 32));
});

test('labels are distinct, versioned and give different keys for the same input', () => {
  assert.equal(new Set(DERIVATION_LABELS).size, DERIVATION_LABELS.length);
  const ikm = new Uint8Array(32).fill(1);
  const keys = DERIVATION_LABELS.map((label) => {
    assert.match(label, /^fedmeta\/secagg\/v1\//);
    return toHex(deriveKey(ikm, { label, length: 16 }));
  });
  assert.equal(new Set(keys).size, keys.length);
});

test('pair derivations are symmetric in the two ids and bound to ids and session', () => {
  const ss = new Uint8Array(32).fill(9);
  const sid = new Uint8Array(32).fill(2);
  assert.deepEqual(deriveShareKey(ss, sid, 3, 7), deriveShareKey(ss, sid, 7, 3));
  assert.deepEqual(derivePairwiseMaskSeed(ss, sid, 3, 7), derivePairwiseMaskSeed(ss, sid, 7, 3));
  assert.notDeepEqual(derivePairwiseMaskSeed(ss, sid, 3, 7), derivePairwiseMaskSeed(ss, sid, 3, 8));
  assert.notDeepEqual(derivePairwiseMaskSeed(ss, sid, 3, 7), derivePairwiseMaskSeed(ss, new Uint8Array(32), 3, 7));
  assert.notDeepEqual(deriveShareKey(ss, sid, 3, 7).subarray(0, 16), derivePairwiseMaskSeed(ss, sid, 3, 7));
  assert.equal(deriveShareKey(ss, sid, 3, 7).length, 32);
  assert.equal(derivePairwiseMaskSeed(ss, sid, 3, 7).length, 16);
  assert.equal(deriveSelfMaskSeed(ss, sid, 3).length, 16);
  assert.equal(deriveSessionId(Uint8Array.of(1)).length, 32);
  assert.deepEqual(pairContext(7, 3), fromHex('0000000300000007'));
  // The pairwise seed is exactly deriveKey under its label.
  assert.deepEqual(
    derivePairwiseMaskSeed(ss, sid, 7, 3),
    deriveKey(ss, { salt: sid, label: LABEL_PAIRWISE_MASK, context: fromHex('0000000300000007'), length: 16 }),
  );
});

test('bad arguments give typed errors naming the argument', () => {
  const ss = new Uint8Array(32);
  assert.throws(() => hkdfSha256(ss, ss, ss, 0), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /length/.test(e.message));
  assert.throws(() => hkdfSha256(ss, ss, ss, 255 * 32 + 1), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => deriveShareKey(ss, new Uint8Array(31), 1, 2), (e: Error) => /sessionId/.test(e.message));
  assert.throws(() => derivePairwiseMaskSeed(ss, ss, 4, 4), /must differ/);
  assert.throws(() => deriveSelfMaskSeed(ss, ss, -1), /id/);
  assert.throws(() => deriveKey(ss, null as never), { code: 'ERR_INVALID_ARGUMENT' });
});

test('the short-output HMAC path equals a full RFC 5869 HKDF (noble) for every length 1..32, empty and long inputs', () => {
  const bytes = (n: number, fill: number) => Uint8Array.from({ length: n }, (_, i) => (fill + 31 * i) & 0xff);
  const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
    [bytes(32, 1), bytes(32, 2), bytes(40, 3)],
    [bytes(32, 4), new Uint8Array(0), bytes(17, 5)], // empty salt = 32 zero bytes
    [new Uint8Array(0), bytes(3, 6), new Uint8Array(0)], // empty ikm and info
    [bytes(200, 7), bytes(100, 8), bytes(2000, 9)], // salt longer than the block, long info
  ];
  for (const [ikm, salt, info] of cases) {
    for (let length = 1; length <= 33; length++) {
      assert.deepEqual(hkdfSha256(ikm, salt, info, length), nobleHkdf(sha256, ikm, salt, info, length), `length ${length}`);
    }
  }
});
