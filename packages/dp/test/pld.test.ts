import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pldEpsilon, gaussianHockeyStick, gaussianPld, selfComposePld, composePld, pldEpsilonForDelta, pldDeltaForEpsilon } from '../src/accountant/pld.js';
import { rdpEpsilon } from '../src/accountant/rdp.js';
import { analyticGaussianEpsilon } from '../src/accountant/analytic-gaussian.js';
import { bisect, normalCdf } from '../src/math.js';
import { optimisticRemovePld } from './support/optimistic-pld.js';

test('dp_accounting reference: q=0.01, sigma=0.7, T=120, delta=1e-5 -> PLD 2.4612381 (1e-4 grid)', () => {
  const r = pldEpsilon({ q: 0.01, sigma: 0.7, steps: 120, delta: 1e-5 });
  assert.equal(r.interval, 1e-4);
  assert.ok(Math.abs(r.epsilon - 2.4612381) < 1e-6, `${r.epsilon}`);
});

test('dp_accounting reference: q=1, sigma=0.7, T=2 -> PLD 10.1224946, = Balle-Wang exact within 1e-3, never below', () => {
  const r = pldEpsilon({ q: 1, sigma: 0.7, steps: 2, delta: 1e-5 });
  assert.ok(Math.abs(r.epsilon - 10.1224946) < 1e-6, `${r.epsilon}`);
  const exact = analyticGaussianEpsilon({ sigma: 0.7, steps: 2, delta: 1e-5 });
  assert.ok(Math.abs(exact - 10.1224946) < 1e-6, `${exact}`);
  assert.ok(r.epsilon >= exact - 1e-9 && r.epsilon - exact < 1e-3);
});

test('Balle-Wang: delta(eps) is what the closed form says, computed with an accurate normal CDF', () => {
  // delta = Phi(1/(2s) - eps s) - e^eps Phi(-1/(2s) - eps s)
  for (const s of [0.5, 1, 3]) {
    for (const eps of [0, 0.5, 2]) {
      const direct = normalCdf(1 / (2 * s) - eps * s) - Math.exp(eps) * normalCdf(-1 / (2 * s) - eps * s);
      assert.ok(Math.abs(gaussianHockeyStick(s, 1, 'remove', eps) - direct) < 1e-15);
    }
  }
  assert.ok(Math.abs(normalCdf(-5) - 2.866515718791939e-7) < 1e-20);
  assert.ok(Math.abs(normalCdf(-10) - 7.619853024160527e-24) < 1e-36);
});

/** Exact one-step epsilon of the subsampled Gaussian (continuous, both adjacencies). */
function exactOneStep(q: number, sigma: number, delta: number): number {
  const d = (e: number) => Math.max(gaussianHockeyStick(sigma, q, 'remove', e), gaussianHockeyStick(sigma, q, 'add', e));
  if (d(0) <= delta) return 0;
  let hi = 1;
  while (d(hi) > delta) hi *= 2;
  return bisect((e) => d(e) - delta, 0, hi, 1e-13);
}

test('one step: PLD is within 1e-3 above the exact continuous value', () => {
  for (const [q, sigma] of [[0.004, 0.8], [0.05, 2], [0.3, 1], [0.9, 5]] as const) {
    const exact = exactOneStep(q, sigma, 1e-5);
    const pld = pldEpsilon({ q, sigma, steps: 1, delta: 1e-5 }).epsilon;
    assert.ok(pld >= exact - 1e-9, `q=${q} s=${sigma}: ${pld} < ${exact}`);
    assert.ok(pld - exact < 1e-3, `q=${q} s=${sigma}: ${pld} vs ${exact}`);
  }
});

test('connect-the-dots PLD reproduces the exact delta at grid points and lies above it between', () => {
  const pld = gaussianPld(1, 0.2, 'remove', 1e-2);
  for (const eps of [0.1, 0.37, 0.5, 1.234]) {
    const exact = gaussianHockeyStick(1, 0.2, 'remove', eps);
    const ours = pldDeltaForEpsilon(pld, eps);
    assert.ok(ours >= exact - 1e-15, `eps=${eps}`);
    assert.ok(ours - exact < 1e-5, `eps=${eps}: ${ours} vs ${exact}`);
  }
});

// A grid over the checked ranges (subset, to keep the suite fast).
const GRID: Array<[number, number, number, number]> = [
  [0.004, 0.8, 3000, 1e-5], [0.004, 5, 1000, 1e-6], [0.01, 1.1, 10, 1e-5], [0.05, 0.8, 100, 1e-6],
  [0.1, 2, 1000, 1e-5], [0.3, 1, 50, 1e-5], [0.5, 5, 1000, 1e-6], [1, 0.8, 100, 1e-5], [1, 3, 10000, 1e-6],
];

test('grid: PLD <= RDP, PLD >= exact one-step and >= the exact Gaussian value when q = 1', () => {
  for (const [q, sigma, T, delta] of GRID) {
    const pld = pldEpsilon({ q, sigma, steps: T, delta }).epsilon;
    const rdp = rdpEpsilon({ q, sigma, steps: T, delta }).epsilon;
    assert.ok(pld <= rdp * 1.001 + 1e-9, `q=${q} s=${sigma} T=${T}: pld ${pld} > rdp ${rdp}`);
    assert.ok(pld >= exactOneStep(q, sigma, delta) - 1e-9, `q=${q} s=${sigma} T=${T}`);
    if (q === 1) {
      const exact = analyticGaussianEpsilon({ sigma, steps: T, delta });
      assert.ok(pld >= exact - 1e-9 && pld - exact < 1e-3, `q=1 s=${sigma} T=${T}: ${pld} vs ${exact}`);
    }
  }
});

test('large epsilon (> 709, where e^eps overflows): PLD and Balle-Wang stay correct and above RDP-free bounds', () => {
  // q = 1, sigma = 0.8, T = 1000: mu = sqrt(T)/sigma, the loss is N(mu^2/2, mu^2); eps must exceed mu^2/2 = 781.25
  const exact = analyticGaussianEpsilon({ sigma: 0.8, steps: 1000, delta: 1e-5 });
  assert.ok(exact > 781.25, `${exact}`);
  const pld = pldEpsilon({ q: 1, sigma: 0.8, steps: 1000, delta: 1e-5 }).epsilon;
  assert.ok(pld >= exact - 1e-9 && pld - exact < 1e-2, `${pld} vs ${exact}`);
  assert.ok(pld <= rdpEpsilon({ q: 1, sigma: 0.8, steps: 1000, delta: 1e-5 }).epsilon);
  // the same through T-fold self-composition of the one-step PLD (the q < 1 code path)
  const composed = pldEpsilonForDelta(selfComposePld(gaussianPld(0.8, 1, 'remove', 4e-3), 1000), 1e-5);
  assert.ok(composed >= exact - 1e-9 && composed - exact < 1e-2, `${composed} vs ${exact}`);
});

test('grid: PLD is sandwiched by an independent optimistic lower bound (within 1%)', () => {
  // Rounding down biases the lower bound by up to T * interval / 2, so a fine grid and moderate T.
  for (const [q, sigma, T, delta] of [[0.004, 0.8, 100, 1e-5], [0.05, 1, 30, 1e-6], [0.2, 2, 50, 1e-5], [0.01, 0.7, 120, 1e-5]] as const) {
    const pld = pldEpsilon({ q, sigma, steps: T, delta }).epsilon;
    const lower = pldEpsilonForDelta(selfComposePld(optimisticRemovePld(sigma, q, 3e-5), T), delta);
    assert.ok(pld >= lower, `q=${q} s=${sigma} T=${T}: ${pld} < lower bound ${lower}`);
    assert.ok((pld - lower) / pld < 0.01, `q=${q} s=${sigma} T=${T}: ${pld} vs lower ${lower}`);
  }
});

// Exact epsilon of T Gaussian steps from mpmath (60 digits, bisection on the Balle-Wang delta):
//   mp.findroot(lambda e: ncdf(1/(2s)-e s) - e^e ncdf(-1/(2s)-e s) - delta, (lo, hi), solver='bisect'), s = sigma/sqrt(T)
const MPMATH_GAUSSIAN: Array<[number, number, number, number]> = [
  [1, 1000, 1e-6, 649.385089471481],
  [0.8, 10000, 1e-5, 8344.62804995948],
  [0.8, 1000, 1e-5, 948.885129341668],
];

test('Balle-Wang exact epsilon matches 60-digit references, also beyond e^709', () => {
  for (const [sigma, steps, delta, exact] of MPMATH_GAUSSIAN) {
    const ours = analyticGaussianEpsilon({ sigma, steps, delta });
    assert.ok(ours >= exact - 1e-9 && (ours - exact) / exact < 1e-9, `${sigma} ${steps}: ${ours} vs ${exact}`);
  }
});

test('PLD is monotone in T and in sigma', () => {
  let prev = 0;
  for (const T of [1, 3, 30, 300]) {
    const e = pldEpsilon({ q: 0.05, sigma: 1, steps: T, delta: 1e-5 }).epsilon;
    assert.ok(e > prev, `T=${T}`);
    prev = e;
  }
  prev = Infinity;
  for (const sigma of [0.8, 1.2, 2, 4]) {
    const e = pldEpsilon({ q: 0.05, sigma, steps: 100, delta: 1e-5 }).epsilon;
    assert.ok(e < prev, `sigma=${sigma}`);
    prev = e;
  }
});

test('self-composition by FFT equals repeated direct evaluation on a small case', () => {
  const one = gaussianPld(2, 0.1, 'remove', 1e-3);
  const four = selfComposePld(one, 4);
  const eps4 = pldEpsilonForDelta(four, 1e-5);
  // Composition of 4 = composition of 2 with itself (both through the FFT path).
  const two = selfComposePld(one, 2);
  const mass = two.probs.reduce((s, p) => s + p, 0) + two.infinityMass;
  assert.ok(Math.abs(mass - 1) < 1e-9);
  assert.ok(eps4 > pldEpsilonForDelta(two, 1e-5));
  assert.ok(Number.isFinite(eps4));
});

test('composing two different Gaussians by FFT convolution equals one Gaussian with 1/s^2 = 1/s1^2 + 1/s2^2', () => {
  const a = gaussianPld(2, 1, 'remove', 1e-3);
  const b = gaussianPld(3, 1, 'remove', 1e-3);
  const eps = pldEpsilonForDelta(composePld(a, b), 1e-5);
  const exact = analyticGaussianEpsilon({ sigma: 1 / Math.sqrt(1 / 4 + 1 / 9), delta: 1e-5 });
  assert.ok(eps >= exact - 1e-9 && eps - exact < 1e-3, `${eps} vs ${exact}`);
  // and mixing intervals coarsens the finer one
  const c = composePld(gaussianPld(2, 1, 'remove', 1e-3), gaussianPld(3, 1, 'remove', 2e-3));
  assert.equal(c.interval, 2e-3);
  assert.ok(pldEpsilonForDelta(c, 1e-5) >= exact - 1e-9);
});
