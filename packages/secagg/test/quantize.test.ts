// Quantisation: clipping, unbiased stochastic rounding, the weight coordinate, the
// headroom rule (no wrap) and decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WEIGHT_INDEX, addEncoded, clipVector, decodeAggregate, encodeUpdate, encodedLength, quantizeParams, StochasticRounder } from '../src/quantize/index.js';
import { seededRng } from '../src/rng.js';

const seed = (b: number) => new Uint8Array(32).fill(b);

test('quantizeParams derives R = floor((2^(b-1) - 1) / n), scale = R / (W c), step = 1 / scale', () => {
  const p = quantizeParams({ maxClients: 100, elementClip: 0.5, maxWeight: 1000 });
  assert.equal(p.bits, 32);
  assert.equal(p.range, Math.floor((2 ** 31 - 1) / 100));
  assert.equal(p.scale, p.range / (1000 * 0.5));
  assert.equal(p.step, 1 / p.scale);
  assert.equal(p.l2Clip, null);
  const q = quantizeParams({ bits: 16, maxClients: 10, elementClip: 2, l2Clip: 5 });
  assert.equal(q.range, 3276);
  assert.equal(q.maxWeight, 1);
  assert.equal(q.l2Clip, 5);
  assert.ok(Object.isFrozen(q));
});

test('bad parameters give ERR_INVALID_ARGUMENT naming the option', () => {
  const bad: Array<[object, RegExp]> = [
    [{ maxClients: 10, elementClip: 1, bits: 7 }, /bits/],
    [{ maxClients: 10, elementClip: 1, bits: 33 }, /bits/],
    [{ maxClients: 10, elementClip: 1, bits: 16.5 }, /bits/],
    [{ maxClients: 0, elementClip: 1 }, /maxClients/],
    [{ maxClients: 10, elementClip: 0 }, /elementClip/],
    [{ maxClients: 10, elementClip: Number.NaN }, /elementClip/],
    [{ maxClients: 10, elementClip: Infinity }, /elementClip/],
    [{ maxClients: 10, elementClip: 1, l2Clip: -1 }, /l2Clip/],
    [{ maxClients: 10, elementClip: 1, maxWeight: 0 }, /maxWeight/],
    [{ maxClients: 10, elementClip: 1, maxWeight: 1.5 }, /maxWeight/],
    [{ maxClients: 128, elementClip: 1, bits: 8 }, /headroom/],
    [{ maxClients: 10, elementClip: 1, bits: 8, maxWeight: 26 }, /weight coordinate/],
  ];
  for (const [options, re] of bad) {
    assert.throws(() => quantizeParams(options as never), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && re.test(e.message), JSON.stringify(options));
  }
  assert.throws(() => quantizeParams(null as never), { code: 'ERR_INVALID_ARGUMENT' });
});

test('clipVector: L2 scaling first, then element clipping; NaN/Infinity rejected with the index', () => {
  assert.deepEqual(Array.from(clipVector([3, 4], 10, 1)), [0.6000000000000001, 0.8]);
  assert.deepEqual(Array.from(clipVector([3, 4], 0.7, 1)), [0.6000000000000001, 0.7]);
  assert.deepEqual(Array.from(clipVector([3, -4], 2, null)), [2, -2]);
  assert.deepEqual(Array.from(clipVector([0.1, 0.2], 2, 1)), [0.1, 0.2]);
  const huge = clipVector([1e200, 1e200], 10, 1);
  assert.ok(Math.abs(huge[0]! - Math.SQRT1_2) < 1e-12);
  assert.throws(() => clipVector([0, Number.NaN], 1, null), (e: Error & { code?: string }) => e.code === 'ERR_NON_FINITE' && /x\[1\]/.test(e.message));
  assert.throws(() => clipVector([-Infinity], 1, null), { code: 'ERR_NON_FINITE' });
});

test('stochastic rounding is unbiased: the mean of 20000 roundings is within 5 sigma of v', () => {
  const r = new StochasticRounder(seededRng(seed(3)));
  const N = 20000;
  for (const v of [0.5, 0.1, 0.999, 0.001, 7.25, -3.3, -0.75, 123456.875]) {
    let sum = 0;
    for (let i = 0; i < N; i++) {
      const q = r.round(v);
      assert.ok(q === Math.floor(v) || q === Math.floor(v) + 1);
      sum += q;
    }
    const f = v - Math.floor(v);
    const sigma = Math.sqrt((f * (1 - f)) / N);
    assert.ok(Math.abs(sum / N - v) <= 5 * sigma + 1e-12, `v = ${v}: mean ${sum / N}`);
  }
  // Integers never move.
  for (const v of [0, 5, -5]) assert.equal(r.round(v), v);
});

test('the bulk rounding in encodeUpdate draws the same bytes as round(), across refill blocks', () => {
  const p = quantizeParams({ bits: 20, maxClients: 7, elementClip: 3, maxWeight: 5 });
  const x = Array.from({ length: 10000 }, (_, i) => Math.sin(i) * 4);
  const encoded = encodeUpdate(x, 3, p, seededRng(seed(12)));
  const r = new StochasticRounder(seededRng(seed(12)));
  const clipped = clipVector(x, 3, null);
  for (let j = 0; j < x.length; j++) {
    const q = Math.max(-p.range, Math.min(p.range, r.round(clipped[j]! * (3 * p.scale))));
    assert.equal(encoded[j + 1], q < 0 ? q + 2 ** 20 : q, `coordinate ${j}`);
  }
});

test('uniform53 draws cover [0, 2^53) from the injected Rng, 8 bytes each', () => {
  let calls = 0;
  const rng = { fill(out: Uint8Array) { calls++; return seededRng(seed(9)).fill(out); } };
  const r = new StochasticRounder(rng);
  let max = 0;
  for (let i = 0; i < 5000; i++) max = Math.max(max, r.uniform53());
  assert.equal(calls, 2); // 4096 draws per 32 KiB refill
  assert.ok(max < 2 ** 53 && max > 2 ** 52);
});

test('encodeUpdate layout: weight at index 0, then two\'s complement of round(w x scale)', () => {
  const p = quantizeParams({ bits: 8, maxClients: 1, elementClip: 1, maxWeight: 2 });
  // R = 127, scale = 63.5: w = 2, x = [1, -1, 0, 0.5] -> [127, -127, 0, 63.5 rounded to 63 or 64].
  const e = encodeUpdate([1, -1, 0, 0.5], 2, p, seededRng(seed(1)));
  assert.equal(e.length, encodedLength(4));
  assert.equal(e[WEIGHT_INDEX], 2);
  assert.equal(e[1], 127);
  assert.equal(e[2], 256 - 127);
  assert.equal(e[3], 0);
  assert.ok(e[4] === 63 || e[4] === 64);
  assert.deepEqual(encodeUpdate([1, -1, 0, 0.5], 2, p, seededRng(seed(1))), e, 'deterministic under a seeded Rng');
});

test('property: the mod-2^b sum of n encodings decodes to sum(w_i clip(x_i)) within n steps, and sum(w_i) exactly', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 8, max: 32 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 16 }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      seededArb(),
      (bits, n, m, maxWeight, clip, s) => {
        fc.pre(n * maxWeight <= 2 ** bits - 1 && Math.floor((2 ** (bits - 1) - 1) / n) >= 1);
        const p = quantizeParams({ bits, maxClients: n, elementClip: clip, maxWeight });
        const rng = seededRng(s);
        const acc = new Uint32Array(m + 1);
        const expected = new Float64Array(m);
        let weights = 0;
        for (let i = 0; i < n; i++) {
          const x = Array.from({ length: m }, (_, j) => Math.sin(i * 31 + j * 7 + s[0]!) * clip * 1.5);
          const w = 1 + ((i * 7 + s[1]!) % maxWeight);
          weights += w;
          const clipped = clipVector(x, clip, null);
          for (let j = 0; j < m; j++) expected[j] = expected[j]! + w * clipped[j]!;
          addEncoded(acc, encodeUpdate(x, w, p, rng), bits);
        }
        const d = decodeAggregate(acc, p);
        assert.equal(d.totalWeight, weights);
        for (let j = 0; j < m; j++) {
          const tol = n * p.step + Math.abs(expected[j]!) * 2 ** -23;
          assert.ok(Math.abs(d.weightedSum[j]! - expected[j]!) <= tol, `coordinate ${j}: ${d.weightedSum[j]} vs ${expected[j]}`);
          assert.ok(Math.abs(d.mean[j]! - expected[j]! / weights) <= tol / weights + Math.abs(expected[j]! / weights) * 2 ** -22);
        }
      },
    ),
    { numRuns: 80 },
  );
});

function seededArb() {
  return fc.uint8Array({ minLength: 32, maxLength: 32 });
}

test('no wrap at the extremes: n clients all at +clip or all at -clip with the maximum weight', () => {
  for (const bits of [8, 12, 16, 24, 32]) {
    for (const n of [1, 3, 100]) {
      const maxWeight = bits === 8 ? 1 : 50;
      let p;
      try {
        p = quantizeParams({ bits, maxClients: n, elementClip: 0.25, maxWeight });
      } catch {
        continue; // b = 8 cannot hold 100 clients: rejected by quantizeParams, tested above.
      }
      for (const sign of [1, -1]) {
        const acc = new Uint32Array(4);
        const rng = seededRng(seed(bits + n));
        for (let i = 0; i < n; i++) addEncoded(acc, encodeUpdate([sign * 0.25, sign * 10, sign * 0.25 * (1 - 1e-15)], maxWeight, p, rng), bits);
        const d = decodeAggregate(acc, p);
        const want = sign * n * maxWeight * 0.25;
        for (const v of d.weightedSum) {
          assert.ok(Math.sign(v) === sign, `bits ${bits}, n ${n}: wrapped to ${v}`);
          assert.ok(Math.abs(v - want) <= n * p.step + Math.abs(want) * 2 ** -23, `bits ${bits}, n ${n}: ${v} vs ${want}`);
        }
        assert.equal(d.totalWeight, n * maxWeight);
      }
    }
  }
});

test('the headroom rule is tight: n + 1 clients at +clip can wrap a b = 8 modulus', () => {
  const p = quantizeParams({ bits: 8, maxClients: 127, elementClip: 1 });
  assert.equal(p.range, 1);
  const acc = new Uint32Array(2);
  const rng = seededRng(seed(5));
  for (let i = 0; i < 128; i++) addEncoded(acc, encodeUpdate([1], 1, p, rng), 8);
  assert.ok(decodeAggregate(acc, p).weightedSum[0]! < 0, '128 x (+1) wraps to negative in Z_256');
});

test('bad encode/decode arguments give typed errors', () => {
  const p = quantizeParams({ maxClients: 4, elementClip: 1, maxWeight: 10 });
  const rng = seededRng(seed(2));
  assert.throws(() => encodeUpdate([1], 0, p, rng), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /weight/.test(e.message));
  assert.throws(() => encodeUpdate([1], 11, p, rng), /maxWeight/);
  assert.throws(() => encodeUpdate([1], 2.5, p, rng), /weight/);
  assert.throws(() => encodeUpdate([Number.NaN], 1, p, rng), { code: 'ERR_NON_FINITE' });
  assert.throws(() => encodeUpdate(null as never, 1, p, rng), /x must be/);
  assert.throws(() => encodeUpdate([1], 1, {} as never, rng), /params/);
  assert.throws(() => decodeAggregate(new Uint32Array(0), p), /non-empty/);
  assert.throws(() => decodeAggregate(Uint32Array.of(0, 1), p), { code: 'ERR_ZERO_WEIGHT' });
  const q8 = quantizeParams({ bits: 8, maxClients: 2, elementClip: 1 });
  assert.throws(() => decodeAggregate(Uint32Array.of(1, 256), q8), /sum\[1\]/);
  assert.throws(() => addEncoded(new Uint32Array(2), new Uint32Array(3), 32), /length/);
});
