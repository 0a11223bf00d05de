import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rdpEpsilon, computeRdp, rdpSubsampledGaussian, logAByIntegration } from '../src/accountant/rdp.js';
import { DEFAULT_RDP_ORDERS } from '../src/accountant/orders.js';
import { rdpToEpsilon } from '../src/accountant/convert.js';
import { logAddExp, logBinomial } from '../src/math.js';
import { DpArgumentError } from '../src/errors.js';
import { logASignedSeries } from './support/rdp-series.js';

const TFP_ORDERS = [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, ...Array.from({ length: 59 }, (_, i) => i + 5), 128, 256, 512];

test('TF Privacy reference: q=150/60000, sigma=1.3, T=6000, delta=1e-5 -> 0.7242234 at order 19', () => {
  const r = rdpEpsilon({ q: 150 / 60000, sigma: 1.3, steps: 6000, delta: 1e-5, orders: TFP_ORDERS });
  assert.equal(r.order, 19); // integer order: exact in both libraries, so 7 digits must agree
  assert.ok(Math.abs(r.epsilon - 0.7242234) < 5e-8, `${r.epsilon}`);
});

test('dp_accounting reference: default grid, q=0.01, sigma=0.7, T=120 -> <= 3.2392676 and = exact value', () => {
  const r = rdpEpsilon({ q: 0.01, sigma: 0.7, steps: 120, delta: 1e-5 });
  // The optimum is the fractional order 4.4, where dp_accounting's bound is loose: ours may be lower...
  assert.equal(r.order, 4.4);
  assert.ok(r.epsilon <= 3.2392676 + 5e-8, `${r.epsilon}`);
  assert.ok(r.epsilon > 3.2392676 * 0.995, `${r.epsilon}`);
  // ...but never below the exact RDP value (independent signed series at the same order).
  const exact = (120 * logASignedSeries(0.01, 0.7, 4.4)) / 3.4 + Math.log1p(-1 / 4.4) - Math.log(1e-5 * 4.4) / 3.4;
  assert.ok(r.epsilon >= exact, `${r.epsilon} < exact ${exact}`);
  assert.ok(r.epsilon - exact < 1e-7);
});

test('dp_accounting reference: default grid, q=1, sigma=0.7, T=2 -> 10.8602036', () => {
  const r = rdpEpsilon({ q: 1, sigma: 0.7, steps: 2, delta: 1e-5 });
  assert.ok(Math.abs(r.epsilon - 10.8602036) < 5e-8, `${r.epsilon}`);
});

test('integration agrees with the exact binomial sum at integer orders (1e-9 relative)', () => {
  for (const q of [0.004, 0.01, 0.1, 0.5]) {
    for (const sigma of [0.8, 1.3, 5]) {
      for (const a of [2, 3, 7, 20]) {
        let exact = -Infinity;
        for (let i = 0; i <= a; i++) exact = logAddExp(exact, logBinomial(a, i) + i * Math.log(q) + (a - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma));
        const num = logAByIntegration(q, sigma, a);
        assert.ok(Math.abs(num - exact) <= 1e-9 * exact, `q=${q} s=${sigma} a=${a}: ${num} vs ${exact}`);
      }
    }
  }
});

test('fractional orders match the independent signed series to 1e-6 relative', () => {
  for (const q of [0.004, 0.01, 0.05, 0.1]) {
    for (const sigma of [0.8, 1.5, 5]) {
      for (const a of [1.1, 1.5, 2.5, 4.4, 7.3, 10.9]) {
        const series = logASignedSeries(q, sigma, a) / (a - 1);
        const ours = rdpSubsampledGaussian(q, sigma, a);
        assert.ok(Math.abs(ours - series) <= 1e-6 * series, `q=${q} s=${sigma} a=${a}: ${ours} vs ${series}`);
      }
    }
  }
});

// Exact r_a computed with mpmath (40 digits, adaptive quadrature of E_mu0[(mu/mu0)^a]) by:
//   python3 -c "import mpmath as mp; mp.mp.dps=40; ... mp.log(mp.quad(f, breakpoints))/(a-1)"
// (q, sigma, a, r_a) - an external high-precision reference, not our own output.
const MPMATH_RDP: Array<[number, number, number, number]> = [
  [0.004, 0.8, 1.1, 0.000032306593083883940254],
  [0.004, 0.8, 1.5, 0.000044566467055641516269],
  [0.01, 0.7, 4.4, 0.0045552733011905944257],
  [0.1, 0.8, 1.1, 0.015238073389379313695],
  [0.05, 5.0, 2.5, 0.00012765234472248810725],
  [0.1, 1.5, 10.9, 0.12480991718818226017],
];

test('fractional orders: never below the 40-digit exact value, and within 1e-9 relative of it', () => {
  for (const [q, sigma, a, exact] of MPMATH_RDP) {
    const ours = rdpSubsampledGaussian(q, sigma, a);
    assert.ok(ours >= exact, `q=${q} s=${sigma} a=${a}: ${ours} < ${exact}`);
    assert.ok((ours - exact) / exact < 1e-9, `q=${q} s=${sigma} a=${a}: ${ours} vs ${exact}`);
  }
});

test('the |binomial| bound is looser than the exact value at small orders (why we do not use it)', () => {
  const q = 0.1, sigma = 0.8, a = 1.1;
  const s2 = sigma * sigma;
  const z0 = s2 * Math.log(1 / q - 1) + 0.5;
  // same series with every coefficient made positive
  let loose = -Infinity;
  let logC = 0;
  for (let i = 0; i < 100000; i++) {
    if (i > 0) logC += Math.log(Math.abs((a - i + 1) / i));
    const j = a - i;
    const l0 = logC + i * Math.log(q) + j * Math.log1p(-q) + (i * i - i) / (2 * s2) + Math.log(0.5 * erfcApprox((i - z0) / (Math.SQRT2 * sigma)));
    const l1 = logC + j * Math.log(q) + i * Math.log1p(-q) + (j * j - j) / (2 * s2) + Math.log(0.5 * erfcApprox((z0 - j) / (Math.SQRT2 * sigma)));
    loose = logAddExp(loose, logAddExp(l0, l1));
    if (i > 5 && Math.max(l0, l1) < -40) break;
  }
  const exact = rdpSubsampledGaussian(q, sigma, a) * (a - 1);
  assert.ok(loose > exact * 1.05, `loose ${loose} vs exact ${exact}`);
});

import { erfc as erfcApprox } from '../src/math.js';

test('RDP grows with T and shrinks with sigma; q=0 and T=0 cost nothing', () => {
  let prev = 0;
  for (const T of [1, 10, 100, 1000, 10000]) {
    const e = rdpEpsilon({ q: 0.02, sigma: 1.1, steps: T, delta: 1e-5 }).epsilon;
    assert.ok(e >= prev, `T=${T}`);
    prev = e;
  }
  prev = Infinity;
  for (const sigma of [0.8, 1, 2, 5]) {
    const e = rdpEpsilon({ q: 0.02, sigma, steps: 100, delta: 1e-6 }).epsilon;
    assert.ok(e < prev, `sigma=${sigma}`);
    prev = e;
  }
  assert.equal(rdpEpsilon({ q: 0, sigma: 1, steps: 10, delta: 1e-5 }).epsilon, 0);
  assert.equal(rdpEpsilon({ q: 0.1, sigma: 1, steps: 0, delta: 1e-5 }).epsilon, 0);
});

test('default grid is dp_accounting\'s wide grid', () => {
  assert.equal(DEFAULT_RDP_ORDERS.length, 99 + 53 + 4);
  assert.equal(DEFAULT_RDP_ORDERS[0], 1.1);
  assert.equal(DEFAULT_RDP_ORDERS[98], 10.9);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(-5), [63, 128, 256, 512, 1024]);
});

test('conversion: tight formula, KL shortcut to 0, typed errors', () => {
  const r = rdpToEpsilon([2, 4], [1, 3], 1e-5);
  const manual = Math.min(1 + Math.log1p(-1 / 2) - Math.log(2e-5), 3 + Math.log1p(-1 / 4) - Math.log(4e-5) / 3);
  assert.ok(Math.abs(r.epsilon - manual) < 1e-12);
  assert.equal(rdpToEpsilon([2], [1e-12], 0.5).epsilon, 0);
  assert.throws(() => rdpToEpsilon([2], [1, 2], 1e-5), DpArgumentError);
  assert.throws(() => computeRdp(1.5, 1, 1), (e: unknown) => e instanceof DpArgumentError && e.code === 'DP_INVALID_ARGUMENT' && /q/.test(e.message));
  assert.throws(() => computeRdp(0.1, 0, 1), /sigma/);
  assert.throws(() => rdpEpsilon({ q: 0.1, sigma: 1, steps: 1, delta: 1 }), /delta/);
  assert.throws(() => computeRdp(0.1, 1, 1.5), /steps/);
});
