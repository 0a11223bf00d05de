import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planNoiseMultiplier, planDdgNoiseMultiplier, epsilonFor, MAX_NOISE_MULTIPLIER } from '../src/planner.js';
import { createDdgEncoder } from '../src/ddg.js';
import { PrivacyBudgetError, DpArgumentError } from '../src/errors.js';

test('rdp plan: returned sigma meets the target and is (nearly) the smallest that does', () => {
  for (const [epsilon, q, steps] of [[1, 0.01, 1000], [8, 0.1, 100], [0.5, 1, 1]] as const) {
    const plan = planNoiseMultiplier({ epsilon, delta: 1e-5, q, steps });
    assert.ok(plan.epsilon <= epsilon, `${plan.epsilon} > ${epsilon}`);
    assert.equal(plan.epsilon, epsilonFor({ q, sigma: plan.sigma, steps, delta: 1e-5 }));
    const smaller = epsilonFor({ q, sigma: plan.sigma * (1 - 3e-4), steps, delta: 1e-5 });
    assert.ok(smaller > epsilon, `sigma not minimal: ${smaller} <= ${epsilon}`);
  }
});

test('pld plan: meets the target with less noise than rdp', () => {
  const rdp = planNoiseMultiplier({ epsilon: 2, delta: 1e-5, q: 0.05, steps: 20 });
  const pld = planNoiseMultiplier({ epsilon: 2, delta: 1e-5, q: 0.05, steps: 20, accountant: 'pld', tolerance: 5e-3 });
  assert.ok(pld.epsilon <= 2);
  assert.ok(pld.sigma < rdp.sigma);
  assert.ok(epsilonFor({ q: 0.05, sigma: pld.sigma * (1 - 1e-2), steps: 20, delta: 1e-5, accountant: 'pld' }) > 2);
});

test('impossible or invalid budgets are typed errors', () => {
  assert.throws(() => planNoiseMultiplier({ epsilon: 1e-4, delta: 1e-10, q: 1, steps: 10000 }), (e: unknown) => e instanceof PrivacyBudgetError && e.code === 'DP_BUDGET_UNREACHABLE' && e.message.includes(String(MAX_NOISE_MULTIPLIER)));
  assert.throws(() => planNoiseMultiplier({ epsilon: 0, delta: 1e-5, q: 0.1, steps: 10 }), (e: unknown) => e instanceof DpArgumentError && /epsilon/.test((e as Error).message));
  assert.throws(() => planNoiseMultiplier({ epsilon: -1, delta: 1e-5, q: 0.1, steps: 10 }), DpArgumentError);
  assert.throws(() => planNoiseMultiplier({ epsilon: 1, delta: 1, q: 0.1, steps: 10 }), /delta/);
  assert.throws(() => planNoiseMultiplier({ epsilon: 1, delta: 1e-5, q: 0, steps: 10 }), /q/);
  assert.throws(() => planNoiseMultiplier({ epsilon: 1, delta: 1e-5, q: 0.1, steps: 0 }), /steps/);
  assert.throws(() => epsilonFor({ q: 0.1, sigma: 1, steps: 1, delta: 1e-5, accountant: 'moments' as 'rdp' }), /accountant/);
});

test('ddg plan: the returned noise multiplier meets the target under the ledger\'s DDG accounting', () => {
  const cfg = { dim: 10000, numClients: 20, l2Clip: 1, bits: 20 };
  const plan = planDdgNoiseMultiplier({ ...cfg, epsilon: 3, delta: 1e-5, q: 0.1, steps: 200 });
  const enc = createDdgEncoder({ ...cfg, noiseMultiplier: plan.noiseMultiplier });
  assert.ok(enc.epsilon({ q: 0.1, steps: 200, delta: 1e-5 }) <= 3);
  const less = createDdgEncoder({ ...cfg, noiseMultiplier: plan.noiseMultiplier * 0.999 });
  assert.ok(less.epsilon({ q: 0.1, steps: 200, delta: 1e-5 }) > 3);
  // the DDG needs at least the continuous Gaussian's noise
  assert.ok(plan.noiseMultiplier >= planNoiseMultiplier({ epsilon: 3, delta: 1e-5, q: 0.1, steps: 200 }).sigma * 0.999);
  assert.throws(() => planDdgNoiseMultiplier({ ...cfg, bits: 4, epsilon: 1, delta: 1e-5, q: 1, steps: 10 }), PrivacyBudgetError);
});
