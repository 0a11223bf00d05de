import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDdgEncoder, chooseDdgParams, chooseDdgBits, addModular } from '../src/ddg.js';
import { rotate, unrotate, fwht, rotationSigns } from '../src/hadamard.js';
import { seededRandom } from '../src/rng.js';
import { DpError, DpArgumentError } from '../src/errors.js';
import { ddgEpsilon } from '../src/accountant/ddg.js';
import { rdpEpsilon } from '../src/accountant/rdp.js';

const seed = (b: number) => new Uint8Array(32).fill(b);

test('fwht matches the Hadamard matrix; rotation is orthogonal and inverted by unrotate', () => {
  const x = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const h = Float64Array.from(x);
  fwht(h);
  for (let i = 0; i < 8; i++) {
    let s = 0;
    for (let j = 0; j < 8; j++) s += (popcount(i & j) % 2 ? -1 : 1) * x[j]!;
    assert.equal(h[i], s);
  }
  const rng = seededRandom(seed(5));
  const v = Float64Array.from({ length: 1024 }, () => rng.uniform53() - 0.5);
  const orig = Float64Array.from(v);
  const signs = rotationSigns(seed(9), 1024);
  rotate(v, signs);
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, t) => s + t * t, 0));
  assert.ok(Math.abs(norm(v) - norm(orig)) < 1e-12);
  unrotate(v, signs);
  for (let i = 0; i < 1024; i++) assert.ok(Math.abs(v[i]! - orig[i]!) < 1e-12);
  assert.notDeepEqual(rotationSigns(seed(9), 64), rotationSigns(seed(10), 64));
  assert.deepEqual(rotationSigns(seed(9), 64), rotationSigns(seed(9), 64));
});

test('rotation-sign derivation matches an independent implementation (spec 08 section 3 step 4)', () => {
  // Computed with Python's `cryptography` package: HKDF-SHA256(ikm=00..1f, no salt,
  // info="fedmeta/dp/ddg/rotation-signs/v1", L=48) -> AES-256-CTR(key=okm[0:32], iv=okm[32:48]) over 8 zero bytes.
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(Buffer.from(rotationSigns(seed, 64)).toString('hex'), '1294d29434aa5c42');
  // unrotate(all ones) = D (1/8) H 1 = D (8, 0, ..., 0): entry 0 carries sign bit 0 of 0x12 (= +)
  const x = new Float64Array(64).fill(1);
  unrotate(x, rotationSigns(seed, 64));
  assert.equal(x[0], 8);
  for (let i = 1; i < 64; i++) assert.equal(Math.abs(x[i]!), 0);
});

function popcount(n: number): number {
  let c = 0;
  for (; n; n &= n - 1) c++;
  return c;
}

test('encode -> modular sum -> decode returns the true sum within the predicted noise', () => {
  const dim = 3000, clients = 20;
  const ddg = createDdgEncoder({ dim, numClients: clients, l2Clip: 1, noiseMultiplier: 0.5, bits: 20 });
  const rng = seededRandom(seed(11));
  const roundSeed = seed(12);
  const truth = new Float64Array(dim);
  let sum: Uint32Array = new Uint32Array(ddg.params.paddedDim);
  for (let c = 0; c < clients; c++) {
    const u = Float32Array.from({ length: dim }, () => (rng.uniform53() - 0.5) * 0.03);
    const out = ddg.encode(u, roundSeed, rng);
    assert.equal(out.length, 4096);
    for (const w of out) assert.ok(w < 2 ** 20);
    // clipping: ||u|| ~ 0.47 < 1, so the true sum is the plain sum
    for (let i = 0; i < dim; i++) truth[i]! += u[i]!;
    sum = addModular(sum, out, 20);
  }
  const decoded = ddg.decode(sum, roundSeed);
  assert.equal(decoded.length, dim);
  let se = 0;
  for (let i = 0; i < dim; i++) se += (decoded[i]! - truth[i]!) ** 2;
  const rms = Math.sqrt(se / dim);
  const predicted = ddg.params.sumErrorStddev; // gamma * sqrt(n (s^2 + 1/4)), an upper bound
  const noiseOnly = ddg.params.gamma * Math.sqrt(clients) * ddg.params.localSigma;
  assert.ok(rms <= predicted * 1.08, `rms ${rms} > predicted ${predicted}`);
  assert.ok(rms >= noiseOnly * 0.92, `rms ${rms} < noise ${noiseOnly}`);
  // central noise std ~ noiseMultiplier * clip
  assert.ok(Math.abs(noiseOnly - 0.5) < 0.02);
});

test('negative sums are centred correctly (two\'s complement mod 2^b) and clipping applies', () => {
  const ddg = createDdgEncoder({ dim: 4, numClients: 1, l2Clip: 1, localNoiseStddev: 1e-3, bits: 24 });
  const rng = seededRandom(seed(13));
  const u = Float32Array.from([-3, 0, 4, 0]); // norm 5 -> clipped to (-0.6, 0, 0.8, 0)
  const dec = ddg.decode(ddg.encode(u, seed(1), rng), seed(1));
  assert.ok(Math.abs(dec[0]! + 0.6) < 0.01 && Math.abs(dec[2]! - 0.8) < 0.01, `${dec}`);
});

test('conditional rounding keeps the scaled norm within the DDG sensitivity', () => {
  const ddg = createDdgEncoder({ dim: 256, numClients: 1, l2Clip: 1, localNoiseStddev: 0.05, bits: 16 });
  const p = ddg.params;
  const c = p.l2Clip / p.gamma;
  assert.ok(p.l2Sensitivity >= c && p.l2Sensitivity <= c + Math.sqrt(p.paddedDim));
});

test('chooser: wrap bound formula, too few bits and bad arguments are typed errors', () => {
  const p = chooseDdgParams({ dim: 1000, numClients: 10, l2Clip: 1, noiseMultiplier: 1 });
  const V = (100 * 1) / 1024 + 10 * (1 / 10);
  const bound = 2 * 1024 * Math.exp(-((2 ** 15 - 10) ** 2) * p.gamma ** 2 / (2 * V));
  assert.ok(Math.abs(bound - 1e-9) < 1e-12, `${bound}`);
  assert.throws(() => chooseDdgParams({ dim: 10, numClients: 300, l2Clip: 1, noiseMultiplier: 1, bits: 8 }), (e: unknown) => e instanceof DpError && e.code === 'DP_WRAPAROUND_BOUND');
  assert.throws(() => chooseDdgParams({ dim: 10, numClients: 3, l2Clip: 1 }), DpArgumentError);
  assert.throws(() => chooseDdgParams({ dim: 0, numClients: 3, l2Clip: 1, noiseMultiplier: 1 }), /dim/);
  const enc = createDdgEncoder({ dim: 8, numClients: 2, l2Clip: 1, noiseMultiplier: 1 });
  assert.throws(() => enc.encode(new Float32Array(7), seed(1)), /length 8/);
  assert.throws(() => enc.encode(Float32Array.from([NaN, 0, 0, 0, 0, 0, 0, 0]), seed(1)), /update\[0\]/);
  assert.throws(() => enc.decode(new Uint32Array(3), seed(1)), /length/);
  assert.throws(() => enc.encode(new Float32Array(8), new Uint8Array(3)), /roundSeed/);
});

test('DDG accounting: tau ~ 0 for large local noise, close to (but above) the Gaussian; event for the ledger', () => {
  const ddg = createDdgEncoder({ dim: 1000, numClients: 50, l2Clip: 1, noiseMultiplier: 1.2 });
  assert.ok(ddg.params.tau < 1e-100);
  const eps = ddg.epsilon({ q: 1, steps: 10, delta: 1e-5 });
  const gauss = rdpEpsilon({ q: 1, sigma: 1.2, steps: 10, delta: 1e-5 }).epsilon;
  assert.ok(eps >= gauss && eps < gauss * 1.05, `${eps} vs ${gauss}`);
  const sub = ddg.epsilon({ q: 0.1, steps: 10, delta: 1e-5 });
  assert.ok(sub < eps);
  const ev = ddg.privacyEvent(0.1);
  assert.equal(ev.mechanism, 'ddg');
  assert.equal(ddgEpsilon({ ...ev, steps: 10, delta: 1e-5 }).epsilon, sub);
  // small local noise: tau (sum of discrete Gaussians is not one) makes it much worse
  const tight = ddgEpsilon({ l2Sensitivity: 10, localSigma: 0.6, numClients: 100, dim: 1024, q: 1, steps: 1, delta: 1e-5 }).epsilon;
  const loose = ddgEpsilon({ l2Sensitivity: 10, localSigma: 0.6, numClients: 100, dim: 1, q: 1, steps: 1, delta: 1e-5 }).epsilon;
  assert.ok(tight > loose);
});

test('bit-width chooser: smallest bits whose rounding inflates the sensitivity by <= the tolerance', () => {
  const cfg = { dim: 100_000, numClients: 50, l2Clip: 1, noiseMultiplier: 1 };
  const p = chooseDdgBits(cfg, 0.05);
  assert.ok((p.l2Sensitivity * p.gamma) / p.l2Clip - 1 <= 0.05);
  const fewer = chooseDdgParams({ ...cfg, bits: p.bits - 1 });
  assert.ok((fewer.l2Sensitivity * fewer.gamma) / fewer.l2Clip - 1 > 0.05);
  assert.ok(chooseDdgBits(cfg, 0.01).bits >= p.bits);
  assert.throws(() => chooseDdgBits({ ...cfg, numClients: 2 ** 31 + 5 }, 0.05), (e: unknown) => e instanceof DpError && e.code === 'DP_WRAPAROUND_BOUND');
});
