/**
 * The bulk Gaussian sampler (fillGaussian, a ziggurat over bulk CSPRNG words) and the bulk word
 * draw under it (BufferedRandom.fillUint32). Every statistical bound is set so that a correct
 * sampler fails it with probability about 1e-9 (6 sd, or the KS / chi-square quantile at 1e-9);
 * the seeds are fixed, so the tests are deterministic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillGaussian, GAUSSIAN_ZIGGURAT } from '../src/gaussian.js';
import { BufferedRandom, cryptoRandom, keystream, seededRandom } from '../src/rng.js';
import { erfc, normalCdf } from '../src/math.js';
import { DpArgumentError } from '../src/errors.js';

const seed = (b: number) => new Uint8Array(32).fill(b);
/** Two-sided tail probability P(|Z| > z). */
const twoSided = (z: number) => erfc(z / Math.SQRT2);

test('fillUint32 returns exactly the words of as many uint32() calls, across the buffer, direct and tail paths', () => {
  for (const sizes of [[3, 10_000, 5], [4093, 4096, 1], [0, 70_000, 4095, 20_000], [1, 1, 16_385]]) {
    const bulk = seededRandom(seed(1));
    const one = seededRandom(seed(1));
    for (const n of sizes) {
      const got = new Uint32Array(n);
      bulk.fillUint32!(got);
      const want = Uint32Array.from({ length: n }, () => one.uint32());
      assert.deepEqual(got, want, `sizes ${sizes}: a draw of ${n}`);
    }
    // and the scalar stream continues where the bulk one stopped
    assert.equal(bulk.uint32(), one.uint32());
    assert.equal(bulk.uniform53(), one.uniform53());
  }
});

test('the ziggurat table: 256 layers of equal area v, R as published for 256 layers, widths decreasing to 0', () => {
  const z = GAUSSIAN_ZIGGURAT;
  assert.equal(z.layers, 256);
  // Marsaglia and Tsang (2000), 256 layers: R = 3.6541528853610088, v = 0.00492867323399
  assert.ok(Math.abs(z.r - 3.6541528853610088) < 1e-12, `R ${z.r}`);
  assert.ok(Math.abs(z.v - 0.00492867323399) < 1e-13, `v ${z.v}`);
  // the base strip (its part beyond R stands for the tail): x[0] f(R) = v, and v = R f(R) + tail
  assert.ok(Math.abs((z.x[0]! * z.f[1]!) / z.v - 1) < 1e-14);
  assert.ok(Math.abs((z.r * z.f[1]! + Math.sqrt(Math.PI / 2) * erfc(z.r / Math.SQRT2)) / z.v - 1) < 1e-14);
  for (let j = 1; j < z.layers; j++) {
    assert.ok(z.x[j]! > z.x[j + 1]!, `x[${j}] > x[${j + 1}]`);
    assert.ok(Math.abs(z.f[j]! / Math.exp(-0.5 * z.x[j]! ** 2) - 1) < 1e-12, `f[${j}] = f(x[${j}])`);
    const area = z.x[j]! * (z.f[j + 1]! - z.f[j]!);
    assert.ok(Math.abs(area / z.v - 1) < 1e-10, `layer ${j}: area ${area}, v ${z.v}`);
  }
  assert.equal(z.x[z.layers], 0);
  assert.equal(z.f[z.layers], 1);
});

/** A sample from one source in several calls of the given sizes (exercises refills and call boundaries). */
function draw(n: number, std: number, b: number, chunk = n): Float32Array {
  const rng = seededRandom(seed(b));
  const out = new Float32Array(n);
  for (let at = 0; at < n; at += chunk) fillGaussian(out.subarray(at, Math.min(n, at + chunk)), std, rng);
  return out;
}

test('fillGaussian: mean 0 and variance std^2 (6 sd bounds), for one large call and many small odd ones', () => {
  const std = 1.7;
  for (const chunk of [1 << 21, 997, 1]) {
    const n = chunk === 1 ? 1 << 16 : 1 << 21;
    const x = draw(n, std, 2, chunk);
    let s1 = 0;
    let s2 = 0;
    for (const v of x) {
      s1 += v;
      s2 += v * v;
    }
    const mean = s1 / n;
    const variance = s2 / n - mean * mean;
    assert.ok(Math.abs(mean) < (6 * std) / Math.sqrt(n), `chunk ${chunk}: mean ${mean}`);
    assert.ok(Math.abs(variance / (std * std) - 1) < 6 * Math.sqrt(2 / n), `chunk ${chunk}: variance ${variance}, want ${std * std}`);
  }
});

test('fillGaussian: Kolmogorov-Smirnov against the normal CDF (2^20 samples, failure probability 1e-9)', () => {
  const std = 0.37;
  const n = 1 << 20;
  const x = Float64Array.from(draw(n, std, 3), (v) => v / std).sort();
  let d = 0;
  for (let i = 0; i < n; i++) {
    const F = normalCdf(x[i]!);
    d = Math.max(d, (i + 1) / n - F, F - i / n);
  }
  // P(sqrt(n) D > t) <= 2 exp(-2 t^2) (Dvoretzky-Kiefer-Wolfowitz-Massart)
  const critical = Math.sqrt(Math.log(2 / 1e-9) / (2 * n));
  assert.ok(d < critical, `KS D = ${d}, critical ${critical}`);
});

test('fillGaussian: chi-square of |z| over 20 bins from 0 to beyond 4.5 sd, and the fraction beyond 4 sd', () => {
  const n = 1 << 22;
  const x = draw(n, 2.5, 4);
  const edges = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.65, 3.8, 4, 4.25, 4.5, Infinity];
  const bins = edges.length - 1;
  const counts = new Float64Array(bins);
  let beyond4 = 0;
  for (const v of x) {
    const a = Math.abs(v) / 2.5;
    if (a > 4) beyond4++;
    let k = 0;
    while (a >= edges[k + 1]!) k++;
    counts[k]!++;
  }
  let chi2 = 0;
  for (let k = 0; k < bins; k++) {
    const p = twoSided(edges[k]!) - (edges[k + 1] === Infinity ? 0 : twoSided(edges[k + 1]!));
    chi2 += (counts[k]! - n * p) ** 2 / (n * p);
  }
  // The chi-square quantile at 1 - 1e-9 with bins - 1 degrees of freedom (Wilson-Hilferty; z = 6.0).
  const df = bins - 1;
  const critical = df * (1 - 2 / (9 * df) + 6.0 * Math.sqrt(2 / (9 * df))) ** 3;
  assert.ok(chi2 < critical, `chi-square ${chi2.toFixed(1)} on ${df} df, critical ${critical.toFixed(1)}`);
  const p4 = twoSided(4); // 6.334e-5: ~266 of 2^22
  assert.ok(Math.abs(beyond4 - n * p4) < 6 * Math.sqrt(n * p4), `beyond 4 sd: ${beyond4}, expected ${(n * p4).toFixed(1)}`);
});

test('fillGaussian: the tail beyond R (the ziggurat\'s tail step) follows the normal tail: KS of |z| given |z| > R (2^25 samples)', () => {
  const R = GAUSSIAN_ZIGGURAT.r;
  const rng = seededRandom(seed(10));
  const out = new Float32Array(1 << 20);
  const tail: number[] = [];
  for (let k = 0; k < 32; k++) {
    fillGaussian(out, 1, rng);
    for (const v of out) if (Math.abs(v) > R) tail.push(Math.abs(v));
  }
  tail.sort((a, b) => a - b);
  const m = tail.length; // ~8,700
  const qR = twoSided(R);
  let d = 0;
  for (let i = 0; i < m; i++) {
    const F = 1 - twoSided(tail[i]!) / qR;
    d = Math.max(d, (i + 1) / m - F, F - i / m);
  }
  const expected = (1 << 25) * qR;
  assert.ok(Math.abs(m - expected) < 6 * Math.sqrt(expected), `beyond R: ${m}, expected ${expected.toFixed(0)}`);
  assert.ok(d < Math.sqrt(Math.log(2 / 1e-9) / (2 * m)), `KS D of the tail = ${d} over ${m}`);
});

test('fillGaussian: no dependence between neighbours or between calls (lag correlations of z and z^2, 6 sd)', () => {
  const n = 1 << 20;
  const chunk = 997;
  const x = draw(n, 1, 5, chunk);
  const bound = 6 / Math.sqrt(n);
  for (const lag of [1, 2, 4, chunk]) {
    let sxy = 0;
    let sqq = 0;
    for (let i = 0; i + lag < n; i++) {
      sxy += x[i]! * x[i + lag]!;
      sqq += (x[i]! ** 2 - 1) * (x[i + lag]! ** 2 - 1);
    }
    const m = n - lag;
    assert.ok(Math.abs(sxy / m) < bound, `lag ${lag}: E[z_i z_i+lag] = ${sxy / m}`);
    // Var(z^2) = 2, so (z^2 - 1)(z'^2 - 1) has variance 4
    assert.ok(Math.abs(sqq / m / 2) < bound, `lag ${lag}: corr(z_i^2, z_i+lag^2) = ${sqq / m / 2}`);
  }
  // the sign is a fair coin independent of the magnitude
  let pos = 0;
  for (const v of x) if (v > 0) pos++;
  assert.ok(Math.abs(pos - n / 2) < 6 * Math.sqrt(n / 4), `positive ${pos} of ${n}`);
});

test('fillGaussian over the OS CSPRNG and over a raw keystream source without fillUint32: the same law (variance, KS)', () => {
  const ks = keystream(seed(6), 'fill-gaussian-test');
  const plain = { inner: new BufferedRandom(ks), uint32() { return this.inner.uint32(); }, uniformInt(k: number) { return this.inner.uniformInt(k); }, uniform53() { return this.inner.uniform53(); } };
  for (const [name, rng] of [['cryptoRandom', cryptoRandom()], ['uint32 only', plain]] as const) {
    const n = 1 << 18;
    const out = new Float32Array(n);
    fillGaussian(out, 1, rng);
    let s2 = 0;
    for (const v of out) s2 += v * v;
    assert.ok(Math.abs(s2 / n - 1) < 6 * Math.sqrt(2 / n), `${name}: variance ${s2 / n}`);
    const x = Float64Array.from(out).sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      const F = normalCdf(x[i]!);
      d = Math.max(d, (i + 1) / n - F, F - i / n);
    }
    assert.ok(d < Math.sqrt(Math.log(2 / 1e-9) / (2 * n)), `${name}: KS D = ${d}`);
  }
});

test('fillGaussian: seeded sources are reproducible; std 0 fills zeros; bad arguments are typed errors', () => {
  assert.deepEqual(draw(5000, 1, 7), draw(5000, 1, 7));
  assert.notDeepEqual(draw(5000, 1, 7), draw(5000, 1, 8));
  const out = new Float32Array(10).fill(3);
  fillGaussian(out, 0, seededRandom(seed(9)));
  assert.deepEqual(Array.from(out), new Array(10).fill(0));
  const rng = seededRandom(seed(9));
  assert.throws(() => fillGaussian(new Float32Array(2), -1, rng), DpArgumentError);
  assert.throws(() => fillGaussian(new Float32Array(2), NaN, rng), DpArgumentError);
  assert.throws(() => fillGaussian(new Float64Array(2) as unknown as Float32Array, 1, rng), DpArgumentError);
  fillGaussian(new Float32Array(0), 1, rng);
});
