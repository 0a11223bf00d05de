// Robust reconstruction (shamirDecode): wrong shares corrected and named up to the unique
// decoding radius floor((n - t) / 2); beyond it no secret at all; a public check locating one
// wrong share among t + 1; suspects treated as erasures (protocol-spec/02-shamir.md sec. 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ready, x25519PublicKey, equalBytes } from '../src/crypto/index.js';
import { SHAMIR_PRIME, bigintToBytes, bytesToBigint, correctableErrors, shamirDecode, shamirSplit, type ShamirShare } from '../src/shamir/index.js';
import { seededRng } from '../src/rng.js';

await ready();

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Replaces the y of the shares at `at` by other field elements (never the true value). */
function spoil(shares: ShamirShare[], at: readonly number[], salt: bigint): ShamirShare[] {
  return shares.map((s, i) => {
    if (!at.includes(i)) return s;
    const y = (bytesToBigint(s.y) + 1n + salt * 7919n + BigInt(i)) % SHAMIR_PRIME;
    return { x: s.x, y: bigintToBytes(y, 33) };
  });
}

const caseArb = fc.integer({ min: 2, max: 12 }).chain((t) => fc.integer({ min: t, max: t + 12 }).chain((n) => fc.record({
  t: fc.constant(t),
  n: fc.constant(n),
  xs: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: n, maxLength: n }),
  wrong: fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: n }),
  salt: fc.bigInt({ min: 0n, max: 1n << 64n }),
})));

test('shamirDecode: up to floor((n - t) / 2) wrong shares anywhere are corrected and exactly those named', () => {
  fc.assert(
    fc.property(secretArb, seedArb, caseArb, (secret, seed, c) => {
      const e = Math.floor((c.n - c.t) / 2);
      const wrong = c.wrong.slice(0, e);
      const shares = spoil(shamirSplit(secret, c.t, c.xs, seededRng(seed)), wrong, c.salt);
      const out = shamirDecode(shares, c.t);
      assert.ok(out, `n=${c.n} t=${c.t} ${wrong.length} wrong`);
      assert.deepEqual(out.secret, secret);
      assert.deepEqual(out.faulty, wrong.map((i) => c.xs[i]!).sort((a, b) => a - b));
    }),
    { numRuns: 150 },
  );
});

test('shamirDecode: one wrong share more than it can correct gives no secret (never a wrong one)', () => {
  fc.assert(
    fc.property(secretArb, seedArb, caseArb, (secret, seed, c) => {
      const e = Math.floor((c.n - c.t) / 2);
      fc.pre(c.n > c.t && c.wrong.length > e);
      const wrong = c.wrong.slice(0, e + 1);
      const shares = spoil(shamirSplit(secret, c.t, c.xs, seededRng(seed)), wrong, c.salt);
      assert.equal(shamirDecode(shares, c.t), null, `n=${c.n} t=${c.t} ${wrong.length} wrong`);
    }),
    { numRuns: 150 },
  );
});

test('shamirDecode: with exactly t shares nothing can be checked - a wrong share changes the result', () => {
  const secret = new Uint8Array(32).fill(9);
  const shares = spoil(shamirSplit(secret, 3, [4, 5, 6], seededRng(new Uint8Array(32))), [1], 1n);
  const out = shamirDecode(shares, 3);
  assert.ok(out === null || !equalBytes(out.secret, secret));
  assert.equal(correctableErrors(3, 3, false), 0);
});

test('shamirDecode: a public check locates one wrong share among t + 1, and refuses a wrong key among t', () => {
  const sk = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const pk = x25519PublicKey(sk);
  const check = (s: Uint8Array) => equalBytes(x25519PublicKey(s), pk);
  for (const t of [2, 3, 5]) {
    const xs = Array.from({ length: t + 1 }, (_, i) => 10 + i);
    for (let bad = 0; bad <= t; bad++) {
      const shares = spoil(shamirSplit(sk, t, xs, seededRng(new Uint8Array(32).fill(t))), [bad], 5n);
      assert.equal(shamirDecode(shares, t), null, `t=${t}: detected, not located, without the check`);
      const out = shamirDecode(shares, t, { check });
      assert.ok(out, `t=${t} bad=${bad}`);
      assert.deepEqual(out.secret, sk);
      assert.deepEqual(out.faulty, [xs[bad]]);
    }
    const exact = spoil(shamirSplit(sk, t, xs.slice(0, t), seededRng(new Uint8Array(32))), [0], 1n);
    assert.equal(shamirDecode(exact, t, { check }), null);
  }
  assert.equal(correctableErrors(4, 3, true), 1);
});

test('shamirDecode: a known suspect is left out first, so t + 1 shares with its wrong one still decode', () => {
  const secret = new Uint8Array(32).fill(0x42);
  const xs = [1, 2, 3, 4];
  const shares = spoil(shamirSplit(secret, 3, xs, seededRng(new Uint8Array(32).fill(1))), [2], 3n);
  assert.equal(shamirDecode(shares, 3), null, 'alone: detected, not located');
  const out = shamirDecode(shares, 3, { suspects: new Set([3]) });
  assert.ok(out);
  assert.deepEqual(out.secret, secret);
  assert.deepEqual(out.faulty, [3]);
  // a suspect whose share is right here is not named
  const clean = shamirSplit(secret, 3, xs, seededRng(new Uint8Array(32).fill(1)));
  assert.deepEqual(shamirDecode(clean, 3, { suspects: new Set([1]) }), { secret, faulty: [] });
});

test('shamirDecode: shape errors are the same typed errors as shamirCombine', () => {
  const shares = shamirSplit(new Uint8Array(32), 2, [1, 2], seededRng(new Uint8Array(32)));
  assert.throws(() => shamirDecode([shares[0]!], 2), { code: 'ERR_TOO_FEW_SHARES' });
  assert.throws(() => shamirDecode([shares[0]!, shares[0]!], 2), { code: 'ERR_SHARE_DUPLICATE' });
  assert.throws(() => shamirDecode([shares[0]!, { x: 2, y: bigintToBytes(SHAMIR_PRIME, 33) }], 2), { code: 'ERR_SHARE_INVALID' });
});
