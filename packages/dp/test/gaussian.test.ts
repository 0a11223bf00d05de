import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianMechanism, addGaussianNoise, sampleStandardNormal } from '../src/gaussian.js';
import { clipL2 } from '../src/clip.js';
import { seededRandom } from '../src/rng.js';
import { createDdgEncoder, addModular } from '../src/ddg.js';
import { DpArgumentError } from '../src/errors.js';

const seed = (b: number) => new Uint8Array(32).fill(b);

test('clipL2 scales only updates above the bound', () => {
  const a = clipL2([3, 4], 10);
  assert.deepEqual([...a.clipped], [3, 4]);
  assert.equal(a.norm, 5);
  const b = clipL2(Float32Array.from([3, 4]), 1);
  assert.ok(Math.abs(b.clipped[0]! - 0.6) < 1e-15 && Math.abs(b.clipped[1]! - 0.8) < 1e-15);
  assert.throws(() => clipL2([Infinity], 1), /update\[0\]/);
  assert.throws(() => clipL2([1], 0), /l2Clip/);
});

test('standard normal sampler: mean 0, variance 1, kurtosis 3 (fixed seed)', () => {
  const rng = seededRandom(seed(21));
  const n = 200_000;
  let s1 = 0, s2 = 0, s4 = 0;
  for (let i = 0; i < n; i++) {
    const x = sampleStandardNormal(rng);
    s1 += x;
    s2 += x * x;
    s4 += x ** 4;
  }
  assert.ok(Math.abs(s1 / n) < 4.5 / Math.sqrt(n));
  assert.ok(Math.abs(s2 / n - 1) < 4.5 * Math.sqrt(2 / n));
  assert.ok(Math.abs(s4 / n - 3) < 4.5 * Math.sqrt(96 / n));
});

test('Gaussian mechanism: clips, then adds noise of std sigma*C/sqrt(shares)', () => {
  const rng = seededRandom(seed(22));
  const update = new Float64Array(50_000).fill(1); // norm 223.6 -> clipped to 2
  const out = gaussianMechanism(update, { l2Clip: 2, noiseMultiplier: 1.5, shares: 9 }, rng);
  const clippedValue = 2 / Math.sqrt(50_000);
  let s = 0, s2 = 0;
  for (const v of out) {
    s += v - clippedValue;
    s2 += (v - clippedValue) ** 2;
  }
  const std = Math.sqrt(s2 / out.length);
  assert.ok(Math.abs(std - (1.5 * 2) / 3) < 0.02, `${std}`);
  assert.ok(Math.abs(s / out.length) < 0.02);
  assert.throws(() => gaussianMechanism([1], { l2Clip: 1, noiseMultiplier: -1 }, rng), DpArgumentError);
  assert.throws(() => addGaussianNoise(new Float64Array(1), NaN, rng), /stddev/);
});

test('wraparound: worst-case aligned updates whose sum nearly fills the modulus never wrap', () => {
  // 20 clients send the same unit vector e_0 in dimension 4: after the rotation every
  // coordinate of the sum is +-10 in real units, dominating the (small) noise. A chooser
  // that ignored the n_c^2 c^2 / N signal term would pick gamma ~ 1e-3 and wrap every time
  // (10 / gamma >> 2^8); the chooser's gamma must leave room for it.
  const dim = 4, clients = 20, rounds = 60, bits = 9;
  const ddg = createDdgEncoder({ dim, numClients: clients, l2Clip: 1, noiseMultiplier: 1, bits, wrapProbability: 0.05 });
  assert.ok((10 + 4 * 1) / ddg.params.gamma < 2 ** (bits - 1) - clients);
  const rng = seededRandom(seed(23));
  const u = Float32Array.from([1, 0, 0, 0]);
  for (let r = 0; r < rounds; r++) {
    const roundSeed = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + r) & 255);
    let sum: Uint32Array = new Uint32Array(ddg.params.paddedDim);
    for (let c = 0; c < clients; c++) sum = addModular(sum, ddg.encode(u, roundSeed, rng), bits);
    const dec = ddg.decode(sum, roundSeed);
    assert.ok(Math.abs(dec[0]! - clients) < 8 * ddg.params.sumErrorStddev, `round ${r}: ${dec[0]}`);
    for (let i = 1; i < dim; i++) assert.ok(Math.abs(dec[i]!) < 8 * ddg.params.sumErrorStddev, `round ${r}: ${dec[i]}`);
  }
});
