// The record-level planner of a continued federation: the noise multiplier of the rounds
// left, composed with the rounds released before them as every site's ledger composes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRecordLevelSettings, recordLevelEpsilon, recordLevelRoundEvent, type RecordLevelSettingsQuery } from '../src/record-ddg.js';
import { planRemainingRecordLevelSettings, RecordBudgetSpentError, remainingRecordLevelEpsilon, type RemainingRecordLevelQuery } from '../src/record-remaining.js';
import { epsilonOfEvents, openSiteLedger } from '../src/ledger.js';
import { DpArgumentError, PrivacyBudgetError } from '../src/errors.js';

const DIM = 62;
const settings = {
  local: { mode: 'local', epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: 0.1, localSteps: 2, threshold: 1 },
  distributed: { mode: 'distributed', epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: 0.1, localSteps: 1, threshold: 3, dim: DIM },
} satisfies Record<string, Omit<RecordLevelSettingsQuery, 'rounds'>>;

for (const mode of ['local', 'distributed'] as const) {
  const base = settings[mode];

  test(`${mode}: 3 rounds at the 3-round plan, raised by 2 rounds: the planned sigma is the smallest whose composition with the past stays within epsilon`, () => {
    const first = planRecordLevelSettings({ ...base, rounds: 3 });
    const past = Array.from({ length: 3 }, () => recordLevelRoundEvent({ ...base, rounds: 3 }, first.sigma));
    const query: RemainingRecordLevelQuery = { ...base, past, remainingRounds: 2 };
    const plan = planRemainingRecordLevelSettings(query);
    assert.equal(plan.boundBy, 'budget');
    assert.ok(plan.sigma > first.sigma, `the 2 extra rounds need more noise (${plan.sigma} vs ${first.sigma})`);
    const composed = (sigma: number) => epsilonOfEvents([...past, ...Array.from({ length: 2 }, () => recordLevelRoundEvent({ ...base, rounds: 5 }, sigma))], base.delta);
    assert.ok(composed(plan.sigma) <= base.epsilon, `composed epsilon ${composed(plan.sigma)} <= ${base.epsilon}`);
    assert.ok(composed(plan.sigma * (1 - 2e-4)) > base.epsilon, 'a slightly smaller sigma exceeds the target');
    assert.equal(plan.epsilon, composed(plan.sigma));
    assert.equal(remainingRecordLevelEpsilon(query, plan.sigma), plan.epsilon);
    assert.equal(plan.epsilonPast, epsilonOfEvents(past, base.delta));
    // Its naive counterpart, a fresh 5-round plan, does not fit after the 3 rounds spent.
    const naive = planRecordLevelSettings({ ...base, rounds: 5 }).sigma;
    assert.ok(composed(naive) > base.epsilon, `the fresh 5-round sigma ${naive} composed with the past exceeds the target`);
    // The past given as the sigmas of rounds of this setting is the same past.
    assert.equal(planRemainingRecordLevelSettings({ ...base, past: [first.sigma, first.sigma, first.sigma], remainingRounds: 2 }).sigma, plan.sigma);
    // A site's ledger that charged the 3 rounds accepts the 2 at the planned sigma and ends within its budget.
    const dir = mkdtempSync(join(tmpdir(), 'dp-record-remaining-'));
    try {
      const ledger = openSiteLedger(join(dir, 'site.jsonl'), { site: 's', budget: base.epsilon, delta: base.delta, recordLevel: { mode, threshold: base.threshold } });
      for (const [i, e] of past.entries()) ledger.charge({ ...e, round: i + 1 });
      for (const round of [4, 5]) ledger.charge({ ...plan.roundEvent, round });
      assert.ok(Math.abs(ledger.spent() - plan.epsilon) <= 1e-12 * plan.epsilon);
      assert.ok(ledger.spent() <= base.epsilon);
      ledger.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${mode}: with no past the plan is planRecordLevelSettings over the remaining rounds`, () => {
    const plan = planRemainingRecordLevelSettings({ ...base, past: [], remainingRounds: 4 });
    const fresh = planRecordLevelSettings({ ...base, rounds: 4 });
    assert.equal(plan.sigma, fresh.sigma);
    assert.deepEqual(plan.roundEvent, fresh.roundEvent);
    assert.ok(plan.epsilon <= base.epsilon);
  });

  test(`${mode}: announcedRounds keeps every announced round at sigma within the target (what a site checks), so a resumed run of unchanged rounds keeps its sigma`, () => {
    const first = planRecordLevelSettings({ ...base, rounds: 5 });
    // 2 of 5 rounds released, the coordinator restarted with the same 5 rounds.
    const resumed = planRemainingRecordLevelSettings({ ...base, past: [first.sigma, first.sigma], remainingRounds: 3, announcedRounds: 5 });
    assert.equal(resumed.sigma, first.sigma);
    assert.equal(resumed.boundBy, 'announced');
    // Raised to 7: the budget binds, and the announced 7 rounds at sigma also fit.
    const raised = planRemainingRecordLevelSettings({ ...base, past: Array(5).fill(first.sigma), remainingRounds: 2, announcedRounds: 7 });
    assert.equal(raised.boundBy, 'budget');
    assert.ok(recordLevelEpsilon({ ...base, rounds: 7 }, raised.sigma) <= base.epsilon);
    assert.ok(raised.epsilon <= base.epsilon);
  });

  test(`${mode}: a past that already spent the target throws RecordBudgetSpentError (DP_BUDGET_UNREACHABLE)`, () => {
    const sigma = planRecordLevelSettings({ ...base, rounds: 3 }).sigma;
    const spentPast = epsilonOfEvents(Array.from({ length: 3 }, () => recordLevelRoundEvent({ ...base, rounds: 3 }, sigma)), base.delta);
    assert.throws(
      () => planRemainingRecordLevelSettings({ ...base, epsilon: spentPast * 0.9, past: [sigma, sigma, sigma], remainingRounds: 2 }),
      (e: unknown) => {
        assert.ok(e instanceof RecordBudgetSpentError && e instanceof PrivacyBudgetError, String(e));
        assert.equal(e.code, 'DP_BUDGET_UNREACHABLE');
        assert.equal(e.name, 'RecordBudgetSpentError');
        assert.equal(e.epsilonPast, spentPast);
        assert.equal(e.pastRounds, 3);
        assert.equal(e.remainingRounds, 2);
        return true;
      },
    );
    // Exactly spent: nothing is left for another round either.
    assert.throws(() => planRemainingRecordLevelSettings({ ...base, epsilon: spentPast, past: [sigma, sigma, sigma], remainingRounds: 1 }), RecordBudgetSpentError);
  });
}

test('distributed: mixed past sigmas compose as the ledger composes them, and the own-share-only epsilon covers every round', () => {
  const base = settings.distributed;
  const past = [2, 2, 3].map((s) => recordLevelRoundEvent({ ...base, rounds: 1 }, s));
  const plan = planRemainingRecordLevelSettings({ ...base, past, remainingRounds: 3 });
  assert.ok(plan.epsilon <= base.epsilon);
  assert.equal(plan.epsilon, epsilonOfEvents([...past, plan.roundEvent, plan.roundEvent, plan.roundEvent], base.delta));
  assert.ok(plan.epsilonOwnShareOnly! > plan.epsilon);
});

test('bad arguments are DpArgumentErrors naming the field', () => {
  const base = settings.distributed;
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, past: [], remainingRounds: 0 }), (e: unknown) => e instanceof DpArgumentError && /remainingRounds/.test(e.message));
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, past: [-1], remainingRounds: 2 }), (e: unknown) => e instanceof DpArgumentError && /past\[0\]/.test(e.message));
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, past: [{ mechanism: 'laplace' } as never], remainingRounds: 2 }), (e: unknown) => e instanceof DpArgumentError && /past\[0\]/.test(e.message));
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, past: 'x' as never, remainingRounds: 2 }), (e: unknown) => e instanceof DpArgumentError && /past/.test(e.message));
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, dim: undefined, past: [], remainingRounds: 2 }), (e: unknown) => e instanceof DpArgumentError && /dim/.test(e.message));
  assert.throws(() => planRemainingRecordLevelSettings({ ...base, past: [], remainingRounds: 2, announcedRounds: 1.5 }), (e: unknown) => e instanceof DpArgumentError && /announcedRounds/.test(e.message));
});
