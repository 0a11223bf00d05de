// Continuing a finished DP federation with more rounds: the planned noise multiplier covers
// only the rounds left, within what the ledger has left of the budget, as the ledger will
// recompute it; a spent budget is refused naming dp.epsilon. A real ledger and a real
// checkpoint file (the dp and server packages' own writers); no federation is run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDdgEncoder, epsilonOfEvents, openLedger, planDdgNoiseMultiplier } from '@fedmeta/dp';
import { saveCheckpoint } from '@fedmeta/server';
import { validate } from '../src/config/schema.js';
import { fedmetaSchema } from '../src/config/fedmeta-schema.js';
import { planNoise, serverOptionsFromConfig } from '../src/config/options.js';
import { CliError } from '../src/errors.js';

const dim = 500;
const config = (rounds: number, checkpointDir: string, epsilon = 8) =>
  validate(fedmetaSchema, { server: { rounds, minClients: 3, checkpointDir }, simulate: { clients: 3 }, secagg: { mode: 'secagg' }, dp: { epsilon, delta: 1e-5, l2Clip: 1 } });

/** A federation that ran `rounds` rounds at noise multiplier z: its checkpoint and ledger. */
function finished(dir: string, rounds: number, z: number, numClients: number, budget = 8): void {
  const ledger = openLedger(join(dir, 'ledger.json'), { budget, delta: 1e-5 });
  try {
    const ev = createDdgEncoder({ dim, numClients, l2Clip: 1, noiseMultiplier: z, bits: 32 }).privacyEvent(1);
    for (let r = 1; r <= rounds; r++) ledger.charge({ ...ev, round: r });
  } finally {
    ledger.close();
  }
  saveCheckpoint(dir, { federationId: 'fedmeta', configHash: 'x', nextRound: rounds + 1, arrays: { params: new Float32Array(dim) }, meta: {} });
}

test('raising server.rounds plans the smallest noise multiplier for the rounds left within the budget left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-plan-'));
  try {
    const four = await planNoise(config(4, dir), dim);
    const ten = await planNoise(config(10, dir), dim);
    // The first run used more noise than a 4-round plan needs (budget is left), less than a 10-round one.
    finished(dir, 4, (four.noiseMultiplier + ten.noiseMultiplier) / 2, four.numClients);
    const c = config(10, dir);
    const plan = await planNoise(c, dim, dir);
    assert.deepEqual(plan.resumed && { done: plan.resumed.roundsDone, remaining: plan.resumed.remaining }, { done: 4, remaining: 6 });
    const spent = openLedger(join(dir, 'ledger.json'), { readOnly: true });
    const before = [...spent.events];
    spent.close();
    const total = (z: number) => epsilonOfEvents([...before, ...Array.from({ length: 6 }, () => createDdgEncoder({ dim, numClients: plan.numClients, l2Clip: 1, noiseMultiplier: z, bits: 32 }).privacyEvent(1))], 1e-5);
    assert.ok(total(plan.noiseMultiplier) <= 8, `all ten rounds within the budget: ${total(plan.noiseMultiplier)}`);
    assert.ok(total(plan.noiseMultiplier * 0.999) > 8, 'and it is the smallest such noise multiplier');
    // Planning all ten rounds from scratch would have ignored what was spent and overspent.
    const naive = planDdgNoiseMultiplier({ dim, numClients: plan.numClients, l2Clip: 1, bits: 32, epsilon: 8, delta: 1e-5, q: 1, steps: 10 }).noiseMultiplier;
    assert.ok(naive < plan.noiseMultiplier && total(naive) > 8, `a fresh plan (z ${naive}) would overspend`);
    // The server options carry it by default; simulate (resumeFrom null) plans fresh.
    assert.equal((await serverOptionsFromConfig(c, dim)).dp!.noiseMultiplier, plan.noiseMultiplier);
    assert.equal((await serverOptionsFromConfig(c, dim, null)).dp!.noiseMultiplier, naive);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the budget spent, more rounds are refused naming dp.epsilon and what the ledger holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-spent-'));
  try {
    const plan = await planNoise(config(4, dir), dim);
    // A budget of exactly what four rounds cost: all of it is spent.
    const ev = createDdgEncoder({ dim, numClients: plan.numClients, l2Clip: 1, noiseMultiplier: plan.noiseMultiplier, bits: 32 }).privacyEvent(1);
    const budget = epsilonOfEvents([ev, ev, ev, ev], 1e-5);
    finished(dir, 4, plan.noiseMultiplier, plan.numClients, budget);
    await assert.rejects(planNoise(config(6, dir, budget), dim, dir), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.match(e.message, new RegExp(`^dp\\.epsilon: the ledger .*ledger\\.json has spent epsilon ${budget.toFixed(4).replace('.', '\\.')} of ${String(budget).replace('.', '\\.')} in 4 round\\(s\\); 2 more round\\(s\\) do not fit`));
      assert.match(e.message, /lower server\.rounds to 4, or start a new federation in an empty server\.checkpointDir/);
      return true;
    });
    // The same rounds as before: nothing is left to run, nothing to plan for.
    assert.equal((await planNoise(config(4, dir, budget), dim, dir)).resumed, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
