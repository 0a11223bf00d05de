/**
 * Continuing a finished federation: the same checkpoint directory, `rounds` raised. Real
 * coordinators one after another on one checkpoint and DP ledger, three real clients each
 * time. Only rounds and the DP noise multiplier may change; the ledger's budget holds across
 * the runs; any other change is refused naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epsilonOfEvents, openLedger, type LedgerRecord } from '@fedmeta/dp';
import { runClient } from '@fedmeta/client';
import { ServerError, startServer, type FederationSummary, type ServerOptions } from '@fedmeta/server';
import { baseServerOptions, EventLog, institutions, mnistFederation, type Institution } from '../src/harness.js';

const insts = institutions(3, 'ext');
const fed = mnistFederation(3, 17, 120);

async function runOnce(extra: Partial<ServerOptions>): Promise<{ summary: FederationSummary; log: EventLog }> {
  const log = new EventLog();
  const server = await startServer(baseServerOptions(insts, { aggregation: { mode: 'secagg' }, cohort: { minClients: 3 }, logger: log.logger, ...extra }));
  const clients = insts.map((inst: Institution, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu' }));
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  return { summary, log };
}

function ledgerRecords(dir: string): readonly LedgerRecord[] {
  const l = openLedger(join(dir, 'ledger.json'), { readOnly: true });
  try {
    return [...l.events];
  } finally {
    l.close();
  }
}

test('raising rounds continues a finished federation from its checkpoint, with a new noise multiplier, and stops at the ledger budget; a changed model size is refused naming model.config.hidden', { timeout: 120_000 }, async () => {
  const a = mkdtempSync(join(tmpdir(), 'fedmeta-extend-a-'));
  const b = mkdtempSync(join(tmpdir(), 'fedmeta-extend-b-'));
  try {
    // A: 1 round, then continued to 2 with more noise (a budget that is no constraint).
    const dpA = { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 1000 };
    const a1 = await runOnce({ rounds: 1, checkpointDir: a, dp: dpA });
    assert.equal(a1.summary.endReason, 'completed');
    const a2 = await runOnce({ rounds: 2, checkpointDir: a, dp: { ...dpA, noiseMultiplier: 1.5 } });
    assert.equal(a2.log.named('checkpoint.resumed')[0]!['nextRound'], 2, 'resumed after round 1');
    assert.deepEqual(a2.summary.rounds.map((r) => [r.round, r.status]), [[1, 'completed'], [2, 'completed']], 'round 1 from the checkpoint, round 2 run now');
    assert.equal(a2.log.named('round.started').length, 1, 'only round 2 ran');
    const recA = ledgerRecords(a);
    assert.equal(recA.length, 2);
    assert.ok(recA[1]!.mechanism === 'ddg' && recA[0]!.mechanism === 'ddg' && recA[1]!.localSigma > recA[0]!.localSigma, 'round 2 is charged with its own, larger noise');

    // B: a budget that holds three rounds of A's first kind but not four.
    const one = recA[0]!;
    const three = epsilonOfEvents([one, one, one], 1e-5);
    const four = epsilonOfEvents([one, one, one, one], 1e-5);
    const budget = (three + four) / 2;
    const dpB = { ...dpA, epsilonBudget: budget };
    const b1 = await runOnce({ rounds: 2, checkpointDir: b, dp: dpB });
    assert.equal(b1.summary.roundsCompleted, 2);
    const b2 = await runOnce({ rounds: 6, checkpointDir: b, dp: dpB });
    assert.equal(b2.summary.endReason, 'budget-exhausted');
    assert.equal(b2.summary.roundsCompleted, 3, 'one more round fitted in what was left of the budget');
    assert.ok(b2.summary.epsilon! <= budget && Math.abs(b2.summary.epsilon! - three) < 1e-9, `spent ${b2.summary.epsilon} of ${budget}`);
    assert.equal(ledgerRecords(b).length, 3, 'the refused round was never charged');

    // A model of another size is another federation.
    const wider = baseServerOptions(insts, { rounds: 8, checkpointDir: b, dp: dpB, aggregation: { mode: 'secagg' }, cohort: { minClients: 3 } });
    wider.model = { config: { ...wider.model.config, hidden: [32] } };
    await assert.rejects(startServer(wider), (e: unknown) => {
      assert.ok(e instanceof ServerError && e.code === 'ERR_CHECKPOINT_MISMATCH', String(e));
      assert.match(e.message, /model\.config\.hidden is \[16\] in the checkpoint and \[32\] now/);
      assert.doesNotMatch(e.message, /rounds is /, 'rounds is not what differs');
      return true;
    });
    // So is one with another privacy budget (the ledger's would not change anyway).
    await assert.rejects(startServer(baseServerOptions(insts, { rounds: 8, checkpointDir: b, dp: { ...dpB, epsilonBudget: budget * 2 }, aggregation: { mode: 'secagg' }, cohort: { minClients: 3 } })), /dp\.epsilonBudget is /);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
