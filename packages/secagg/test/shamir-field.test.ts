// The Shamir field prime p = 2^256 + 297: prime, and the smallest prime above 2^256.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHAMIR_PRIME, bigintToBytes, bytesToBigint } from '../src/shamir/index.js';
import { invModP, modP, randomFieldElement } from '../src/shamir/field.js';
import { seededRng } from '../src/rng.js';

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  base %= m;
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % m;
    base = (base * base) % m;
    exp >>= 1n;
  }
  return result;
}

/** true if `a` proves n composite (Miller-Rabin witness). */
function isWitness(a: bigint, n: bigint): boolean {
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  let x = modPow(a, d, n);
  if (x === 1n || x === n - 1n) return false;
  for (let r = 1; r < s; r++) {
    x = (x * x) % n;
    if (x === n - 1n) return false;
  }
  return true;
}

const SMALL_PRIMES: bigint[] = [];
for (let c = 2; SMALL_PRIMES.length < 64; c++) if (SMALL_PRIMES.every((q) => c % Number(q) !== 0)) SMALL_PRIMES.push(BigInt(c));

test('p = 2^256 + 297 exactly', () => {
  assert.equal(SHAMIR_PRIME, 2n ** 256n + 297n);
  assert.equal(SHAMIR_PRIME.toString(16), '10000000000000000000000000000000000000000000000000000000000000129');
});

test('p passes Miller-Rabin for the first 64 prime bases and Fermat for bases 2..20', () => {
  // 64 independent bases: a composite passes each with probability <= 1/4, so < 2^-128 overall.
  for (const a of SMALL_PRIMES) assert.equal(isWitness(a, SHAMIR_PRIME), false, `base ${a}`);
  for (let a = 2n; a <= 20n; a++) assert.equal(modPow(a, SHAMIR_PRIME - 1n, SHAMIR_PRIME), 1n, `Fermat base ${a}`);
});

test('every integer in (2^256, p) is composite, so p is the smallest prime above 2^256', () => {
  for (let n = 2n ** 256n + 1n; n < SHAMIR_PRIME; n++) {
    const hasSmallFactor = SMALL_PRIMES.some((q) => n % q === 0n);
    assert.ok(hasSmallFactor || SMALL_PRIMES.slice(0, 8).some((a) => isWitness(a, n)), `${n - 2n ** 256n} + 2^256 looked prime`);
  }
});

test('field helpers: inverse, reduction, byte round trip, rejection sampling below p', () => {
  const rng = seededRng(new Uint8Array(32).fill(11));
  for (let i = 0; i < 50; i++) {
    const a = randomFieldElement(rng);
    assert.ok(a >= 0n && a < SHAMIR_PRIME);
    if (a !== 0n) assert.equal(modP(a * invModP(a)), 1n);
    assert.equal(bytesToBigint(bigintToBytes(a, 33)), a);
  }
  assert.equal(modP(-1n), SHAMIR_PRIME - 1n);
  assert.throws(() => invModP(SHAMIR_PRIME));
  // The top bit of a 33-byte draw is 2^256: about half of the draws exceed 2^256, as they must for uniformity.
  let above = 0;
  for (let i = 0; i < 400; i++) if (randomFieldElement(rng) >= 2n ** 256n) above++;
  assert.ok(above < 10, `a value >= 2^256 has probability 297/p; got ${above} of 400`);
});
