/** shamir.json: splits from a seeded Rng (coefficients and shares) and rejected share sets. */
import { toHex } from '../../crypto/bytes.js';
import { seededRng, type Rng } from '../../rng.js';
import { bigintToBytes } from '../../shamir/field.js';
import { shamirCombine } from '../../shamir/combine.js';
import { shamirPolynomial, shamirSplit, type ShamirShare } from '../../shamir/split.js';
import { arrayField, expectErrorCode, expectFields, expectHex, expectSame, hexField, intField, objectField, stringField, VectorFormatError } from '../fields.js';
import { registerVectorKind, type Vector, type VectorValue } from '../registry.js';

function shareJson(s: ShamirShare): VectorValue {
  return { x: s.x, y: toHex(s.y) };
}

function splitVector(name: string, secret: Uint8Array, threshold: number, xs: number[], rngSeed: Uint8Array): Vector {
  const coefficients = shamirPolynomial(secret, threshold, seededRng(rngSeed)).map((c) => toHex(bigintToBytes(c, 33)));
  const shares = shamirSplit(secret, threshold, xs, seededRng(rngSeed));
  return { name, secret: toHex(secret), threshold, xs, rng_seed: toHex(rngSeed), coefficients, shares: shares.map(shareJson) };
}

function readShares(v: Vector): ShamirShare[] {
  return arrayField(v, 'shares').map((s, i) => {
    const o = objectField({ s }, 's');
    if (Object.keys(o).sort().join() !== 'x,y') throw new VectorFormatError(`field 'shares[${i}]' must have exactly x and y`);
    // Malformed shares are allowed through (rejection vectors test them); only JSON types are checked.
    if (typeof o.x !== 'number' || typeof o.y !== 'string' || !/^([0-9a-f]{2})*$/.test(o.y)) throw new VectorFormatError(`field 'shares[${i}]' must be { x: number, y: hex }`);
    return { x: o.x, y: hexField(o, 'y') };
  });
}

registerVectorKind('shamir', {
  description: 'Shamir over p = 2^256 + 297: coefficients[0] = secret, coefficients[1..t-1] by rejection sampling from seededRng(rng_seed); share y = f(x) as 33 bytes big-endian',
  generate(rng: Rng): Vector[] {
    const s = () => rng.fill(new Uint8Array(32));
    const v = [
      splitVector('t2-n2', s(), 2, [1, 2], s()),
      splitVector('t2-n3', s(), 2, [1, 2, 3], s()),
      splitVector('t3-n5-sparse-x', s(), 3, [7, 100, 4242, 65534, 65535], s()),
      splitVector('t5-n8-max-secret', new Uint8Array(32).fill(0xff), 5, [1, 2, 3, 4, 5, 6, 7, 8], s()),
      splitVector('t4-n4-zero-secret', new Uint8Array(32), 4, [10, 20, 30, 40], s()),
    ];
    const good = shamirSplit(s(), 3, [1, 2, 3, 4], seededRng(s())).map(shareJson) as Array<{ x: number; y: string }>;
    const flip = (y: string) => y.slice(0, -2) + ((parseInt(y.slice(-2), 16) ^ 1).toString(16).padStart(2, '0'));
    v.push({ name: 'reject-too-few', threshold: 3, shares: good.slice(0, 2), expect_error: 'ERR_TOO_FEW_SHARES' });
    v.push({ name: 'reject-duplicate-x', threshold: 3, shares: [good[0]!, good[1]!, good[1]!], expect_error: 'ERR_SHARE_DUPLICATE' });
    v.push({ name: 'reject-x-zero', threshold: 3, shares: [{ x: 0, y: good[0]!.y }, good[1]!, good[2]!], expect_error: 'ERR_SHARE_INVALID' });
    v.push({ name: 'reject-y-not-field-element', threshold: 3, shares: [{ x: 1, y: 'ff'.repeat(33) }, good[1]!, good[2]!], expect_error: 'ERR_SHARE_INVALID' });
    v.push({ name: 'reject-y-wrong-length', threshold: 3, shares: [{ x: 1, y: good[0]!.y.slice(2) }, good[1]!, good[2]!], expect_error: 'ERR_SHARE_INVALID' });
    v.push({ name: 'reject-inconsistent-extra-share', threshold: 3, shares: [good[0]!, good[1]!, good[2]!, { x: 4, y: flip(good[3]!.y) }], expect_error: 'ERR_SHARE_INCONSISTENT' });
    return v;
  },
  async verify(v: Vector): Promise<void> {
    if ('expect_error' in v) {
      expectFields(v, ['threshold', 'shares', 'expect_error']);
      const t = intField(v, 'threshold', 1, 65535);
      const shares = readShares(v);
      await expectErrorCode(stringField(v, 'expect_error'), () => shamirCombine(shares, t));
      return;
    }
    expectFields(v, ['secret', 'threshold', 'xs', 'rng_seed', 'coefficients', 'shares']);
    const secret = hexField(v, 'secret', 32);
    const t = intField(v, 'threshold', 1, 65535);
    const xs = arrayField(v, 'xs').map((x) => intField({ x }, 'x', 1, 65535));
    const rngSeed = hexField(v, 'rng_seed', 32);
    const coeffs = shamirPolynomial(secret, t, seededRng(rngSeed));
    expectSame('coefficients', v.coefficients!, coeffs.map((c) => toHex(bigintToBytes(c, 33))));
    const shares = readShares(v);
    const expected = shamirSplit(secret, t, xs, seededRng(rngSeed));
    expectSame('shares', v.shares!, expected.map(shareJson));
    // Any t of the file's shares (first t, last t) reconstruct the file's secret.
    expectHex('secret', stringField(v, 'secret'), shamirCombine(shares.slice(0, t), t));
    expectHex('secret', stringField(v, 'secret'), shamirCombine(shares.slice(-t), t));
  },
});
