// The CLI plans the DP noise multiplier with the numClients the server charges: a
// planned federation's rounds, charged to the dp ledger exactly as the server's Privacy
// does (a DDG encoder for the round's numClients, its q = 1 event, ledger.charge), fit
// the budget whatever cohort sizes occur; a plan for fewer clients per sum does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BudgetExceededError, createDdgEncoder, openLedger, planDdgNoiseMultiplier } from '@fedmeta/dp';
import { dpNumClients, plannedDpNumClients } from '@fedmeta/server';
import { validate } from '../src/config/schema.js';
import { fedmetaSchema } from '../src/config/fedmeta-schema.js';
import { aggregationOptions, cohortRange, noiseMultiplier, planNoise, serverOptionsFromConfig } from '../src/config/options.js';
import { generateIdentity, rosterToJson } from '../src/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dp-plan-'));
const dim = 200;

/**
 * A small ring (10 bits) and model make the DDG accounting's dependence on numClients
 * visible (at 32 bits it is below the planner's tolerance), so a mismatch shows.
 */
const config = (extra: Record<string, unknown> = {}) =>
  validate(fedmetaSchema, {
    server: { rounds: 6, minClients: 3 },
    simulate: { clients: 20 },
    secagg: { mode: 'secagg', bits: 10 },
    dp: { epsilon: 8, delta: 1e-5, l2Clip: 1 },
    ...extra,
  });

/** Charges one round per cohort size to a fresh ledger as the server does; returns where it stopped. */
function chargeAsServer(c: ReturnType<typeof config>, z: number, cohortSizes: number[], name: string): { rounds: number; epsilon: number; stopped: boolean } {
  const ledger = openLedger(join(dir, `${name}.json`), { budget: c.dp.epsilon, delta: c.dp.delta });
  let epsilon = 0;
  try {
    for (const [i, n] of cohortSizes.entries()) {
      // packages/server/src/privacy.ts: encoding(round, accountedClients(plan, n)) then charge(round).
      const encoder = createDdgEncoder({ dim, numClients: dpNumClients(n, aggregationOptions(c)), l2Clip: c.dp.l2Clip, noiseMultiplier: z, bits: c.secagg.bits ?? 32 });
      try {
        epsilon = ledger.charge({ ...encoder.privacyEvent(1), round: i + 1 }).epsilon;
      } catch (err) {
        if (err instanceof BudgetExceededError) return { rounds: i, epsilon: err.epsilonIfCharged, stopped: true };
        throw err;
      }
    }
    return { rounds: cohortSizes.length, epsilon, stopped: false };
  } finally {
    ledger.close();
  }
}

test('the planned noise multiplier carries every planned round within the budget, at every cohort size the server may run', async () => {
  const c = config();
  assert.deepEqual(cohortRange(c), { minClients: 3, maxClients: 20 });
  const plan = await planNoise(c, dim);
  // Classic SecAgg: t = floor(2n/3) + 1, largest at the full 20 clients.
  assert.equal(plan.numClients, 14);
  assert.equal(plan.numClients, plannedDpNumClients({ minClients: 3, maxClients: 20 }, aggregationOptions(c)));
  assert.ok(plan.epsilon <= c.dp.epsilon);
  assert.equal(await noiseMultiplier(c, dim), plan.noiseMultiplier);
  const full = chargeAsServer(c, plan.noiseMultiplier, Array(6).fill(20), 'full');
  assert.deepEqual({ rounds: full.rounds, stopped: full.stopped }, { rounds: 6, stopped: false });
  assert.ok(full.epsilon <= c.dp.epsilon && full.epsilon > 0.99 * c.dp.epsilon, `spent ${full.epsilon}: close to the budget, within it`);
  const mixed = chargeAsServer(c, plan.noiseMultiplier, [20, 3, 11, 7, 19, 4], 'mixed');
  assert.deepEqual({ rounds: mixed.rounds, stopped: mixed.stopped }, { rounds: 6, stopped: false });
  assert.ok(mixed.epsilon < full.epsilon, 'smaller cohorts (smaller t) spend less per round');
});

test('a plan with fewer clients per sum than the server charges (the old max(2, minClients)) hits the hard stop', async () => {
  const c = config();
  const old = planDdgNoiseMultiplier({ dim, numClients: Math.max(2, c.server.minClients), l2Clip: 1, bits: 10, epsilon: c.dp.epsilon, delta: c.dp.delta, q: 1, steps: c.server.rounds });
  const run = chargeAsServer(c, old.noiseMultiplier, Array(6).fill(20), 'old');
  assert.equal(run.stopped, true, `epsilon would be ${run.epsilon}`);
  assert.ok(run.rounds < 6 && run.epsilon > c.dp.epsilon);
  // and that noise multiplier is smaller than the one planned for the server's numClients
  assert.ok(old.noiseMultiplier < (await planNoise(c, dim)).noiseMultiplier);
});

test('the cohort range follows the roster (active entries), clientsPerRound and simulate.clients', () => {
  const rosterFile = join(dir, 'roster.json');
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => generateIdentity(n));
  writeFileSync(rosterFile, rosterToJson({ clients: ids.map((id, i) => ({ name: id.name, publicKey: id.publicKey, revoked: i === 5 })) }));
  assert.deepEqual(cohortRange(config({ server: { rounds: 6, minClients: 3, roster: rosterFile } })), { minClients: 3, maxClients: 5 });
  assert.deepEqual(cohortRange(config({ server: { rounds: 6, minClients: 3, clientsPerRound: 8 } })), { minClients: 3, maxClients: 8 });
  assert.deepEqual(cohortRange(config({ server: { rounds: 6, minClients: 4, clientsPerRound: 2 } })), { minClients: 4, maxClients: 4 });
});

test('plannedDpNumClients: the largest numClients over the range, also where t is not monotone in the cohort size', () => {
  const auto = { mode: 'auto' as const, plusFromClients: 16 };
  // SecAgg+ from 16 clients on has a much smaller t than the complete graph at 15.
  assert.ok(dpNumClients(16, auto) < dpNumClients(15, auto), `${dpNumClients(16, auto)} vs ${dpNumClients(15, auto)}`);
  assert.equal(plannedDpNumClients({ minClients: 3, maxClients: 40 }, auto), Math.max(...Array.from({ length: 38 }, (_, i) => dpNumClients(i + 3, auto))));
  assert.equal(plannedDpNumClients({ minClients: 3, maxClients: 40 }, auto), dpNumClients(15, auto));
  // Plaintext: a released sum may hold as few inputs as the floor (minAggregate, default minClients).
  assert.equal(plannedDpNumClients({ minClients: 4, maxClients: 9 }, { mode: 'plaintext' }), 4);
  assert.equal(plannedDpNumClients({ minClients: 4, maxClients: 9, minAggregate: 6 }, { mode: 'plaintext' }), 6);
  assert.equal(plannedDpNumClients({ minClients: 4, maxClients: 9 }, { mode: 'secagg', threshold: 3 }), 3);
  assert.throws(() => plannedDpNumClients({ minClients: 1, maxClients: 9 }), /cohort\.minClients/);
  assert.throws(() => plannedDpNumClients({ minClients: 5, maxClients: 4 }), /cohort\.maxClients/);
});

test('the server options carry the planned noise multiplier and the same aggregation the plan used', async () => {
  const c = config({ dp: { epsilon: 8, delta: 1e-5, l2Clip: 1, enabled: true } });
  const o = await serverOptionsFromConfig(c, dim);
  assert.equal(o.dp?.noiseMultiplier, (await planNoise(c, dim)).noiseMultiplier);
  assert.deepEqual(o.aggregation, aggregationOptions(c));
  const fixed = config({ dp: { epsilon: 8, delta: 1e-5, l2Clip: 1, noiseMultiplier: 1.7 } });
  assert.equal(await noiseMultiplier(fixed, dim), 1.7);
});
