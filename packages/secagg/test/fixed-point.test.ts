import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addEncoded, decodeFixedPoint, encodeFixedPoint, STATS_FORMAT, InvalidArgumentError } from '../src/index.js';

test('fixed point: the ring sum of encoded vectors decodes to the exact sum of the fixed-point values', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 40 }), (vectors) => {
      const acc = new Uint32Array(3 * STATS_FORMAT.limbs);
      for (const v of vectors) addEncoded(acc, encodeFixedPoint(v), 32);
      const got = decodeFixedPoint(acc);
      for (let j = 0; j < 3; j++) {
        // The reference: the same rounding to 2^-40, summed exactly with BigInt.
        let exact = 0n;
        for (const v of vectors) exact += BigInt(Math.round(v[j]! * 2 ** 40));
        const want = Number(exact) / 2 ** 40;
        assert.ok(Math.abs(got[j]! - want) <= Math.abs(want) * 1e-15 + 1e-12, `${got[j]} vs ${want}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('fixed point: negative values, values beyond 2^32 and tiny values survive; out of range is refused', () => {
  const vals = [-3.25, 2 ** 40 + 0.5, 1e-9, 0, -(2 ** 50)];
  const back = decodeFixedPoint(encodeFixedPoint(vals));
  assert.deepEqual([...back].map((x, i) => Math.abs(x - vals[i]!) <= 2 ** -41), [true, true, true, true, true]);
  assert.throws(() => encodeFixedPoint([2 ** 56]), InvalidArgumentError);
  assert.throws(() => encodeFixedPoint([Number.NaN]), /not finite/);
  assert.throws(() => decodeFixedPoint(new Uint32Array(5)), /multiple of limbs/);
});
