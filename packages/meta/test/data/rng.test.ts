import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataArgumentError } from '../../src/data/errors.js';
import { SeededRng } from '../../src/data/rng.js';

test('xoshiro128** matches the reference output for state {1,2,3,4} (Vigna v1.1, as in rand_xoshiro)', () => {
  const rng = new SeededRng(0).setState([1, 2, 3, 4]);
  const expected = [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804];
  assert.deepEqual(Array.from(expected, () => rng.nextUint32()), expected);
});

test('same seed and streams give the same sequence; any change gives another', () => {
  const draw = (r: SeededRng) => Array.from({ length: 8 }, () => r.nextUint32());
  assert.deepEqual(draw(new SeededRng(42)), draw(new SeededRng(42)));
  assert.deepEqual(draw(new SeededRng(42, 3)), draw(new SeededRng(42, 3)));
  const variants = [new SeededRng(42), new SeededRng(43), new SeededRng(42, 3), new SeededRng(42, 4),
    new SeededRng(-42), new SeededRng(42 + 2 ** 32), new SeededRng(0)];
  const seen = new Set(variants.map((r) => draw(r).join(',')));
  assert.equal(seen.size, variants.length);
});

test('bad seeds and ranges are typed errors', () => {
  for (const bad of [1.5, NaN, Infinity, 2 ** 60, '1' as unknown as number]) {
    assert.throws(() => new SeededRng(bad), DataArgumentError);
  }
  const rng = new SeededRng(1);
  assert.throws(() => rng.int(0), /n must be in/);
  assert.throws(() => rng.gamma(0), /shape must be > 0/);
  assert.throws(() => rng.dirichlet(-1, 3), /alpha/);
  assert.throws(() => rng.setState([0, 0, 0, 0]), /all zero/);
});

test('int(n) is uniform (chi-square, 6 bins, 60k draws) and floats are in [0,1)', () => {
  const rng = new SeededRng(7);
  const bins = new Array<number>(6).fill(0);
  for (let i = 0; i < 60000; i++) bins[rng.int(6)]! += 1;
  const chi2 = bins.reduce((a, b) => a + (b - 10000) ** 2 / 10000, 0);
  assert.ok(chi2 < 20.5, `chi2 = ${chi2} (p=0.001 critical value for 5 dof is 20.5)`);
  for (let i = 0; i < 10000; i++) {
    const u = rng.nextFloat();
    assert.ok(u >= 0 && u < 1);
  }
});

test('normal() has mean 0 and variance 1', () => {
  const rng = new SeededRng(11);
  let s = 0;
  let s2 = 0;
  const n = 40000;
  for (let i = 0; i < n; i++) {
    const v = rng.normal();
    s += v;
    s2 += v * v;
  }
  assert.ok(Math.abs(s / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.04);
});

test('Gamma draws have mean = shape and variance = shape (shapes 0.1, 0.5, 1, 3.5, 20)', () => {
  const rng = new SeededRng(5);
  for (const shape of [0.1, 0.5, 1, 3.5, 20]) {
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const g = rng.gamma(shape);
      assert.ok(g >= 0 && Number.isFinite(g));
      s += g;
      s2 += g * g;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // Standard error of the mean is sqrt(shape/n); allow 5 of them, and 10% on the variance.
    assert.ok(Math.abs(mean - shape) < 5 * Math.sqrt(shape / n), `shape ${shape}: mean ${mean}`);
    assert.ok(Math.abs(variance / shape - 1) < 0.1 + (shape < 1 ? 0.1 : 0), `shape ${shape}: var ${variance}`);
  }
});

test('Dirichlet draws sum to 1, are non-negative, and stay finite for tiny alpha', () => {
  const rng = new SeededRng(9);
  for (const alpha of [0.001, 0.1, 1, 50]) {
    for (let t = 0; t < 200; t++) {
      const p = rng.dirichlet(alpha, 10);
      const sum = p.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-12, `alpha ${alpha}: sum ${sum}`);
      assert.ok(p.every((v) => v >= 0 && Number.isFinite(v)));
    }
  }
  // Marginal p_1 ~ Beta(a, (k-1)a): mean 1/k, variance (1/k)(1-1/k)/(k*a+1).
  for (const alpha of [0.1, 1, 5]) {
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let t = 0; t < n; t++) {
      const p = rng.dirichlet(alpha, 10)[0]!;
      s += p;
      s2 += p * p;
    }
    const mean = s / n;
    const expectedVar = (0.1 * 0.9) / (10 * alpha + 1);
    assert.ok(Math.abs(mean - 0.1) < 5 * Math.sqrt(expectedVar / n), `alpha ${alpha}: mean ${mean}`);
    assert.ok(Math.abs((s2 / n - mean * mean) / expectedVar - 1) < 0.1, `alpha ${alpha}: variance`);
  }
  // Dir(1,...,1) is uniform on the simplex: E[max] = H_k / k (0.29290 for k = 10).
  const meanMax = (alpha: number, n = 4000) => {
    let m = 0;
    for (let t = 0; t < n; t++) m += Math.max(...rng.dirichlet(alpha, 10));
    return m / n;
  };
  let harmonic = 0;
  for (let i = 1; i <= 10; i++) harmonic += 1 / i;
  assert.ok(Math.abs(meanMax(1) - harmonic / 10) < 0.01);
  assert.ok(meanMax(0.01) > 0.9, 'tiny alpha puts nearly all mass on one coordinate');
  assert.ok(meanMax(1000) < 0.12, 'huge alpha is close to uniform');
});

test('permutation is a permutation and shuffles differ across seeds', () => {
  const a = new SeededRng(1).permutation(1000);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  const b = new SeededRng(2).permutation(1000);
  assert.notDeepEqual(a, b);
  assert.equal(new SeededRng(1).permutation(0).length, 0);
});
