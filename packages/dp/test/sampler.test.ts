import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom, cryptoRandom } from '../src/rng.js';
import { sampleDiscreteGaussian, discreteGaussianPmf, bernoulliExpRational, sampleDiscreteLaplace } from '../src/discrete-gaussian.js';
import { DpArgumentError } from '../src/errors.js';

const seed = (b: number) => new Uint8Array(32).fill(b);

test('discrete Gaussian: mean, variance and tail mass match the analytic pmf (fixed seed)', () => {
  for (const sigma of [0.8, 3, 20]) {
    const rng = seededRandom(seed(Math.round(sigma * 10)));
    const n = 100_000;
    let sum = 0, sumSq = 0, tail = 0;
    const tailAt = Math.ceil(2 * sigma);
    for (let i = 0; i < n; i++) {
      const x = sampleDiscreteGaussian(sigma, rng);
      assert.ok(Number.isInteger(x));
      sum += x;
      sumSq += x * x;
      if (Math.abs(x) >= tailAt) tail++;
    }
    let variance = 0, fourth = 0, tailP = 0;
    const bound = Math.ceil(40 * sigma) + 10;
    for (let k = -bound; k <= bound; k++) {
      const p = discreteGaussianPmf(sigma, k);
      variance += k * k * p;
      fourth += k ** 4 * p;
      if (Math.abs(k) >= tailAt) tailP += p;
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean) < 4.5 * Math.sqrt(variance / n), `sigma=${sigma} mean ${mean}`);
    const v = sumSq / n;
    const seV = Math.sqrt((fourth - variance * variance) / n);
    assert.ok(Math.abs(v - variance) < 4.5 * seV, `sigma=${sigma} var ${v} vs ${variance}`);
    const seT = Math.sqrt((tailP * (1 - tailP)) / n);
    assert.ok(Math.abs(tail / n - tailP) < 4.5 * seT, `sigma=${sigma} tail ${tail / n} vs ${tailP}`);
  }
});

test('discrete Gaussian: chi-square against the pmf on the central cells (sigma=2)', () => {
  const rng = seededRandom(seed(42));
  const sigma = 2, n = 50_000;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = sampleDiscreteGaussian(sigma, rng);
    const cell = Math.max(-6, Math.min(6, x));
    counts.set(cell, (counts.get(cell) ?? 0) + 1);
  }
  let chi = 0;
  for (let c = -6; c <= 6; c++) {
    let p = 0;
    if (c === -6 || c === 6) for (let k = 6; k < 100; k++) p += discreteGaussianPmf(sigma, k);
    else p = discreteGaussianPmf(sigma, c);
    const e = n * p;
    chi += ((counts.get(c) ?? 0) - e) ** 2 / e;
  }
  // 12 degrees of freedom: P(chi2 > 32.9) = 0.001
  assert.ok(chi < 32.9, `chi2=${chi}`);
});

test('Bernoulli(exp(-x/y)) is exact in distribution (frequency within 4.5 SE)', () => {
  const rng = seededRandom(seed(7));
  for (const [x, y] of [[1, 1], [3, 7], [5, 2], [0, 3]] as const) {
    const n = 40_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (bernoulliExpRational(x, y, rng)) hits++;
    const p = Math.exp(-x / y);
    assert.ok(Math.abs(hits / n - p) <= 4.5 * Math.sqrt((p * (1 - p)) / n) + 1e-12, `x=${x} y=${y}: ${hits / n} vs ${p}`);
  }
});

test('discrete Laplace is symmetric with the right mean |x|', () => {
  const rng = seededRandom(seed(9));
  const t = 3, n = 50_000;
  let abs = 0, sum = 0;
  for (let i = 0; i < n; i++) {
    const x = sampleDiscreteLaplace(t, rng);
    abs += Math.abs(x);
    sum += x;
  }
  // E|X| = 2 e^{-1/t} / (1 - e^{-2/t})
  const r = Math.exp(-1 / t);
  const expected = (2 * r) / (1 - r * r);
  assert.ok(Math.abs(abs / n - expected) < 0.05 * expected, `${abs / n} vs ${expected}`);
  assert.ok(Math.abs(sum / n) < 0.1);
});

test('seeded streams are reproducible and distinct per seed; samplers never call Math.random', () => {
  const a = seededRandom(seed(1)), b = seededRandom(seed(1)), c = seededRandom(seed(2));
  const xa = Array.from({ length: 20 }, () => sampleDiscreteGaussian(5, a));
  const xb = Array.from({ length: 20 }, () => sampleDiscreteGaussian(5, b));
  const xc = Array.from({ length: 20 }, () => sampleDiscreteGaussian(5, c));
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  const original = Math.random;
  Math.random = () => {
    throw new Error('Math.random used');
  };
  try {
    const rng = cryptoRandom();
    for (let i = 0; i < 1000; i++) sampleDiscreteGaussian(3, rng);
  } finally {
    Math.random = original;
  }
});

test('uniformInt is exact and bounded; bad arguments are typed errors', () => {
  const rng = seededRandom(seed(3));
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) counts[rng.uniformInt(3)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 450);
  for (let i = 0; i < 100; i++) {
    const v = rng.uniformInt(2 ** 40 + 7);
    assert.ok(v >= 0 && v < 2 ** 40 + 7 && Number.isInteger(v));
  }
  assert.throws(() => rng.uniformInt(0), DpArgumentError);
  assert.throws(() => sampleDiscreteGaussian(-1, rng), /sigma/);
  assert.throws(() => seededRandom(new Uint8Array(4)), /seed/);
});
