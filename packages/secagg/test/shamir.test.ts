// Shamir sharing: reconstruction from any t shares, information-theoretic hiding with
// t - 1 shares, share validation and consistency checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SHAMIR_PRIME, bigintToBytes, bytesToBigint, evaluatePolynomial, lagrangeAtZero, shamirCombine, shamirPolynomial, shamirSplit, type ShamirShare } from '../src/shamir/index.js';
import { invModP, modP } from '../src/shamir/field.js';
import { seededRng, systemRng } from '../src/rng.js';

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Distinct x-coordinates and a threshold t <= their count. */
const setupArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 24 })
  .chain((xs) => fc.record({ xs: fc.constant(xs), t: fc.integer({ min: 1, max: xs.length }), pick: fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }) }));

test('property: any t of the n shares, in any order, reconstruct the secret', () => {
  fc.assert(
    fc.property(secretArb, seedArb, setupArb, (secret, seed, { xs, t, pick }) => {
      const shares = shamirSplit(secret, t, xs, seededRng(seed));
      assert.equal(shares.length, xs.length);
      const byX = new Map(shares.map((s) => [s.x, s]));
      const subset = pick.slice(0, t).map((x) => byX.get(x)!);
      assert.deepEqual(shamirCombine(subset, t), secret);
      // All n shares also work (the extra ones are checked against the polynomial).
      assert.deepEqual(shamirCombine(shares, t), secret);
    }),
    { numRuns: 60 },
  );
});

/**
 * The share at x_new that, together with the t - 1 given shares, interpolates to `target`
 * at 0: such a share exists (uniquely) for every target, which is what perfect hiding means.
 */
function forgeShare(known: readonly ShamirShare[], target: bigint, xNew: number): ShamirShare {
  // Lagrange at xNew through the points {(0, target)} U known.
  const pts: Array<[bigint, bigint]> = [[0n, target], ...known.map((s): [bigint, bigint] => [BigInt(s.x), bytesToBigint(s.y)])];
  const x = BigInt(xNew);
  let y = 0n;
  for (let i = 0; i < pts.length; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < pts.length; j++) {
      if (i === j) continue;
      num = modP(num * (x - pts[j]![0]));
      den = modP(den * (pts[i]![0] - pts[j]![0]));
    }
    y = modP(y + pts[i]![1] * num * invModP(den));
  }
  return { x: xNew, y: bigintToBytes(y, 33) };
}

test('property: t - 1 shares are consistent with EVERY candidate secret (information-theoretic hiding)', () => {
  fc.assert(
    fc.property(secretArb, secretArb, seedArb, fc.integer({ min: 2, max: 12 }), (secret, other, seed, t) => {
      const xs = Array.from({ length: t + 2 }, (_, i) => i + 1);
      const shares = shamirSplit(secret, t, xs, seededRng(seed));
      const colluders = shares.slice(0, t - 1);
      // For the true secret and for an arbitrary other one, a t-th share completes a valid set.
      for (const candidate of [secret, other]) {
        const forged = forgeShare(colluders, bytesToBigint(candidate), 60000);
        assert.deepEqual(shamirCombine([...colluders, forged], t), candidate);
      }
    }),
    { numRuns: 40 },
  );
});

test('t - 1 shares have the same distribution whatever the secret (chi-square on share bytes)', () => {
  // For t = 3, the first two of the shares at x = 1, 2, 3 of the all-zero secret and of
  // the all-0xff secret: the low bytes of y are uniform in both cases (the secret shifts
  // them by a constant that the uniform random coefficients wash out).
  const histogram = (secret: Uint8Array): number[] => {
    const counts = new Array<number>(256).fill(0);
    const rng = seededRng(secret.map((b) => b ^ 0x5a));
    for (let i = 0; i < 2048; i++) {
      for (const s of shamirSplit(secret, 3, [1, 2, 3], rng).slice(0, 2)) counts[s.y[32]!]!++;
    }
    return counts;
  };
  for (const secret of [new Uint8Array(32), new Uint8Array(32).fill(0xff)]) {
    const counts = histogram(secret);
    const expected = 4096 / 256;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    assert.ok(chi2 < 347, `chi2 = ${chi2} (255 dof, 0.9999 quantile ~347)`);
  }
});

test('shares are fixed-length 33-byte big-endian values of the polynomial', () => {
  const secret = new Uint8Array(32).fill(0xab);
  const coeffs = shamirPolynomial(secret, 4, seededRng(new Uint8Array(32).fill(1)));
  const shares = shamirSplit(secret, 4, [1, 9, 300, 65535], seededRng(new Uint8Array(32).fill(1)));
  assert.equal(coeffs[0], bytesToBigint(secret));
  for (const s of shares) {
    assert.equal(s.y.length, 33);
    assert.equal(bytesToBigint(s.y), evaluatePolynomial(coeffs, s.x));
    assert.ok(bytesToBigint(s.y) < SHAMIR_PRIME);
  }
});

test('Lagrange basis at 0 sums to 1 (reconstructs a constant polynomial)', () => {
  const l = lagrangeAtZero([3, 5, 11, 40000]);
  assert.equal(modP(l.reduce((a, b) => a + b, 0n)), 1n);
});

test('validation: x range, y length, y >= p, duplicate x, too few shares, bad threshold', () => {
  const secret = systemRng.fill(new Uint8Array(32));
  const shares = shamirSplit(secret, 3, [1, 2, 3, 4], systemRng);
  const code = (c: string, re?: RegExp) => (e: Error & { code?: string }) => e.code === c && (!re || re.test(e.message));
  assert.throws(() => shamirCombine([{ ...shares[0]!, x: 0 }, shares[1]!, shares[2]!], 3), code('ERR_SHARE_INVALID', /shares\[0\]\.x/));
  assert.throws(() => shamirCombine([shares[0]!, { ...shares[1]!, x: 65536 }, shares[2]!], 3), code('ERR_SHARE_INVALID', /shares\[1\]\.x/));
  assert.throws(() => shamirCombine([shares[0]!, shares[1]!, { x: 3, y: new Uint8Array(32) }], 3), code('ERR_SHARE_INVALID', /shares\[2\]\.y/));
  assert.throws(() => shamirCombine([shares[0]!, shares[1]!, { x: 3, y: bigintToBytes(SHAMIR_PRIME, 33) }], 3), code('ERR_SHARE_INVALID', /field element/));
  assert.throws(() => shamirCombine([shares[0]!, shares[1]!, null as never], 3), code('ERR_SHARE_INVALID'));
  assert.throws(() => shamirCombine([shares[0]!, shares[1]!, shares[1]!], 3), code('ERR_SHARE_DUPLICATE', /shares\[2\]/));
  assert.throws(() => shamirCombine(shares.slice(0, 2), 3), code('ERR_TOO_FEW_SHARES', /need 3/));
  assert.throws(() => shamirCombine(shares, 0), code('ERR_INVALID_ARGUMENT', /threshold/));
  assert.throws(() => shamirSplit(secret, 3, [1, 2, 2], systemRng), code('ERR_SHARE_DUPLICATE'));
  assert.throws(() => shamirSplit(secret, 4, [1, 2, 3], systemRng), code('ERR_INVALID_ARGUMENT', /threshold/));
  assert.throws(() => shamirSplit(secret, 1, [0], systemRng), code('ERR_INVALID_ARGUMENT', /xs\[0\]/));
  assert.throws(() => shamirSplit(new Uint8Array(31), 1, [1], systemRng), code('ERR_INVALID_ARGUMENT', /secret/));
});

test('a corrupted extra share is detected (ERR_SHARE_INCONSISTENT), and a corrupted basis share changes the result', () => {
  const secret = new Uint8Array(32).fill(7);
  const shares = shamirSplit(secret, 3, [1, 2, 3, 4, 5], seededRng(new Uint8Array(32).fill(2)));
  const bad = shares.map((s) => ({ x: s.x, y: s.y.slice() }));
  bad[4]!.y[32] = bad[4]!.y[32]! ^ 1;
  assert.throws(() => shamirCombine(bad, 3), { code: 'ERR_SHARE_INCONSISTENT' });
  assert.deepEqual(shamirCombine(bad.slice(0, 4), 3), secret);
  const badBasis = shares.slice(0, 3).map((s) => ({ x: s.x, y: s.y.slice() }));
  badBasis[0]!.y[32] = badBasis[0]!.y[32]! ^ 1;
  let result: Uint8Array | undefined;
  try {
    result = shamirCombine(badBasis, 3);
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'ERR_SHARE_INCONSISTENT');
  }
  if (result) assert.notDeepEqual(result, secret);
});
