import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRecordLevel, planRecordLevelFederation } from '../src/record-level.js';
import { epsilonFor, MAX_NOISE_MULTIPLIER } from '../src/planner.js';
import { openSiteLedger } from '../src/ledger.js';
import { BudgetExceededError, DpArgumentError, PrivacyBudgetError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-record-'));
let n = 0;
const fresh = () => join(dir, `site-${n++}.jsonl`);

test('site ledger reproduces the reference values: q=0.01, sigma=0.7, T=120 charged per round (rdp 12 x 10, pld 2 x 60 steps) and q=1, sigma=0.7, T=2', () => {
  // dp_accounting / TF Privacy references (README "Accuracy"): RDP default grid 3.2391922, PLD (1e-4) 2.4612381;
  // q=1, T=2: RDP 10.8602036, PLD 10.1224946.
  // (the pld ledger recomputes PLD on every charge, so it charges 2 rounds of 60 steps)
  for (const [accountant, expected, rounds] of [['rdp', 3.2391922, 12], ['pld', 2.4612381, 2]] as const) {
    const ledger = openSiteLedger(fresh(), { site: 'hospital-a', budget: 100, delta: 1e-5, accountant, recordLevel: { mode: 'local', threshold: 1 } });
    for (let round = 1; round <= rounds; round++) ledger.charge({ mechanism: 'gaussian', q: 10 / 1000, sigma: 0.7, steps: 120 / rounds, round });
    assert.ok(Math.abs(ledger.spent() - expected) < 1e-6, `${accountant}: ${ledger.spent()}`);
    assert.equal(ledger.summary().steps, 120);
    ledger.close();
  }
  for (const [accountant, expected] of [['rdp', 10.8602036], ['pld', 10.1224946]] as const) {
    const ledger = openSiteLedger(fresh(), { site: 'b', budget: 100, delta: 1e-5, accountant, recordLevel: { mode: 'local', threshold: 1 } });
    ledger.charge({ mechanism: 'gaussian', q: 1, sigma: 0.7, steps: 2, round: 1 });
    assert.ok(Math.abs(ledger.spent() - expected) < 1e-6, `${accountant} q=1: ${ledger.spent()}`);
    ledger.close();
  }
});

test('planning a site for the reference epsilon recovers the reference sigma 0.7 (rdp and pld)', () => {
  const query = { records: 1000, batchSize: 10, rounds: 12, localSteps: 10, delta: 1e-5 };
  const rdp = planRecordLevel({ ...query, epsilon: 3.2391922 });
  assert.ok(Math.abs(rdp.sigma - 0.7) < 0.7 * 2e-4, `rdp sigma ${rdp.sigma}`);
  const pld = planRecordLevel({ ...query, epsilon: 2.4612381, accountant: 'pld', tolerance: 4e-3 });
  assert.ok(Math.abs(pld.sigma - 0.7) < 0.7 * 5e-3, `pld sigma ${pld.sigma}`);
  assert.ok(pld.epsilon <= 2.4612381);
});

test('record-level plan: sigma meets the target, is within the tolerance of the smallest that does, and its round event is the plan', () => {
  for (const [epsilon, records, batchSize, rounds, localSteps] of [[8, 1000, 32, 30, 10], [1, 60000, 256, 50, 20], [3, 500, 500, 5, 1]] as const) {
    const plan = planRecordLevel({ epsilon, delta: 1e-5, records, batchSize, rounds, localSteps });
    const q = batchSize / records;
    const steps = rounds * localSteps;
    assert.equal(plan.q, q);
    assert.equal(plan.steps, steps);
    assert.equal(plan.epsilon, epsilonFor({ q, sigma: plan.sigma, steps, delta: 1e-5 }));
    assert.ok(plan.epsilon <= epsilon, `${plan.epsilon} > ${epsilon}`);
    assert.ok(epsilonFor({ q, sigma: plan.sigma * (1 - 3e-4), steps, delta: 1e-5 }) > epsilon, 'sigma is not the smallest');
    assert.deepEqual(plan.roundEvent, { mechanism: 'gaussian', q, sigma: plan.sigma, steps: localSteps });
    assert.equal(plan.mode, 'local');
    assert.equal(plan.threshold, 1);
    assert.equal(plan.shareMultiplier, plan.sigma);
    assert.equal(plan.epsilonOwnShareOnly, undefined);
  }
});

test('a site that charges its plan every round ends within the target; the next round is a hard stop', () => {
  const plan = planRecordLevel({ epsilon: 4, delta: 1e-5, records: 2000, batchSize: 64, rounds: 15, localSteps: 8 });
  const ledger = openSiteLedger(fresh(), { site: 'x', budget: plan.targetEpsilon, delta: plan.delta, recordLevel: { mode: 'local', threshold: 1 } });
  let spent = 0;
  for (let round = 1; round <= plan.rounds; round++) spent = ledger.charge({ ...plan.roundEvent, round }).epsilon;
  assert.ok(Math.abs(spent - plan.epsilon) < 1e-9, `${spent} vs ${plan.epsilon}`);
  assert.throws(() => ledger.charge({ ...plan.roundEvent, round: plan.rounds + 1 }), BudgetExceededError);
  ledger.close();
});

test('distributed noise: t shares of sigma/sqrt(t) carry sigma; the own-share epsilon is reported; localSteps must be 1', () => {
  const plan = planRecordLevel({ epsilon: 6, delta: 1e-5, records: 1000, batchSize: 20, rounds: 200, mode: 'distributed', threshold: 4 });
  assert.equal(plan.threshold, 4);
  assert.ok(Math.abs(4 * plan.shareMultiplier ** 2 - plan.sigma ** 2) < 1e-12, 'four shares sum to variance sigma^2');
  const local = planRecordLevel({ epsilon: 6, delta: 1e-5, records: 1000, batchSize: 20, rounds: 200 });
  assert.equal(plan.sigma, local.sigma, 'the same accounting as local noise when the trust assumption holds');
  assert.equal(plan.epsilonOwnShareOnly, epsilonFor({ q: 0.02, sigma: plan.sigma / 2, steps: 200, delta: 1e-5, accountant: 'rdp' }));
  assert.ok(plan.epsilonOwnShareOnly! > 2 * plan.epsilon);
  assert.throws(
    () => planRecordLevel({ epsilon: 6, delta: 1e-5, records: 1000, batchSize: 20, rounds: 20, localSteps: 10, mode: 'distributed', threshold: 4 }),
    (e: unknown) => e instanceof DpArgumentError && /localSteps must be 1/.test((e as Error).message),
  );
  assert.throws(() => planRecordLevel({ epsilon: 6, delta: 1e-5, records: 1000, batchSize: 20, rounds: 20, mode: 'distributed' }), /threshold/);
  assert.throws(() => planRecordLevel({ epsilon: 6, delta: 1e-5, records: 1000, batchSize: 20, rounds: 20, threshold: 3 }), /distributed noise only/);
});

test('federation plan: distributed noise runs every site at the largest sigma any site needs, each within its target', () => {
  const sites = [
    { site: 'small', records: 400, batchSize: 20 }, // q = 0.05: needs the most noise
    { site: 'large', records: 5000, batchSize: 20 }, // q = 0.004
  ];
  const fed = planRecordLevelFederation({ epsilon: 3, delta: 1e-5, rounds: 100, mode: 'distributed', threshold: 2, sites });
  const own = sites.map((s) => planRecordLevel({ epsilon: 3, delta: 1e-5, rounds: 100, mode: 'distributed', threshold: 2, ...s }).sigma);
  assert.equal(fed.sigma, Math.max(...own));
  assert.equal(fed.sigma, own[0]);
  for (const p of fed.sites) {
    assert.equal(p.sigma, fed.sigma);
    assert.ok(p.epsilon <= 3);
    assert.equal(p.epsilon, epsilonFor({ q: p.q, sigma: fed.sigma!, steps: 100, delta: 1e-5 }));
  }
  assert.ok(fed.sites[1]!.epsilon < 0.5 * fed.sites[0]!.epsilon, 'the large site gets a much smaller epsilon');
  const local = planRecordLevelFederation({ epsilon: 3, delta: 1e-5, rounds: 10, localSteps: 10, sites });
  assert.equal(local.sigma, undefined);
  assert.ok(local.sites[0]!.sigma > local.sites[1]!.sigma, 'local noise: each site its own sigma');
  assert.throws(() => planRecordLevelFederation({ epsilon: 3, delta: 1e-5, rounds: 10, mode: 'distributed', threshold: 3, sites }), /threshold 3 exceeds/);
  assert.throws(() => planRecordLevelFederation({ epsilon: 3, delta: 1e-5, rounds: 10, sites: [sites[0]!, sites[0]!] }), /twice/);
  assert.throws(() => planRecordLevelFederation({ epsilon: 3, delta: 1e-5, rounds: 10, sites: [] }), DpArgumentError);
});

test('impossible budgets and invalid queries are typed errors', () => {
  assert.throws(
    () => planRecordLevel({ epsilon: 1e-4, delta: 1e-10, records: 10, batchSize: 10, rounds: 1000, localSteps: 10 }),
    (e: unknown) => e instanceof PrivacyBudgetError && e.code === 'DP_BUDGET_UNREACHABLE' && e.message.includes(String(MAX_NOISE_MULTIPLIER)),
  );
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10, batchSize: 11, rounds: 1 }), (e: unknown) => e instanceof DpArgumentError && /batchSize/.test((e as Error).message));
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 0, batchSize: 1, rounds: 1 }), /records/);
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10.5, batchSize: 1, rounds: 1 }), /records/);
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10, batchSize: 0, rounds: 1 }), /batchSize/);
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10, batchSize: 1, rounds: 0 }), /rounds/);
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10, batchSize: 1, rounds: 1, localSteps: 0 }), /localSteps/);
  assert.throws(() => planRecordLevel({ epsilon: 0, delta: 1e-5, records: 10, batchSize: 1, rounds: 1 }), (e: unknown) => e instanceof DpArgumentError && /epsilon/.test((e as Error).message));
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 2, records: 10, batchSize: 1, rounds: 1 }), /delta/);
  assert.throws(() => planRecordLevel({ epsilon: 1, delta: 1e-5, records: 10, batchSize: 1, rounds: 1, mode: 'central' as 'local' }), /mode/);
});
