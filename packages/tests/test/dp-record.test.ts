/**
 * Record-level DP end to end: the real coordinator and 3 real clients over loopback
 * WebSockets, classic SecAgg, DP-SGD at every site on breast_cancer.csv (Debian's
 * python3-sklearn), each site charging its own fsync'd ledger before its input leaves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@fedmeta/server';
import { runClient, type ClientDataOptions } from '@fedmeta/client';
import { runClientWithHooks } from '@fedmeta/client/testing';
import { openSiteLedger, planRecordLevelSettings, recordLevelEpsilon } from '@fedmeta/dp';
import { institutions, rosterOf } from '../src/harness.js';
import { fedmetaSync } from '../src/cli-process.js';

const SOURCE = '/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv';
const skip = existsSync(SOURCE) ? false : `${SOURCE} not found (Debian python3-sklearn; .ci/run installs it)`;
const F = 30;
const ROUNDS = 3;
const MODEL = { kind: 'mlp', inputShape: [F], hidden: [] as number[], numClasses: 2 };
const PARAMS = F * 2 + 2;

function table(rows: number[][]) {
  const x = Float32Array.from(rows.flatMap((r) => r.slice(0, F)));
  const y = Int32Array.from(rows.map((r) => r[F]!));
  return { x, y, count: rows.length, shape: [F], numClasses: 2 };
}

function sites(): ClientDataOptions[] {
  const rows = readFileSync(SOURCE, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  const cuts = [0, 150, 350, rows.length];
  return [0, 1, 2].map((k) => {
    const own = rows.slice(cuts[k], cuts[k + 1]);
    return { id: k, support: table(own), query: table(own.slice(0, 20)), standardise: 'local' as const };
  });
}

for (const mode of ['local', 'distributed'] as const) {
  test(`record-level DP (${mode}): 3 sites over SecAgg complete the run and every site ledger holds the planned epsilon, charged before its input left`, { timeout: 180_000, skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), `fedmeta-dp-record-${mode}-`));
    try {
      const q = 0.1;
      const localSteps = mode === 'local' ? 2 : 1;
      const query = { mode, epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: q, rounds: ROUNDS, localSteps, threshold: 3, dim: PARAMS };
      const plan = planRecordLevelSettings(query);
      const insts = institutions(3, `rec-${mode}`);
      const server = await startServer({
        port: 0,
        insecure: true,
        federationId: `record-${mode}`,
        roster: rosterOf(insts),
        rounds: ROUNDS,
        model: { config: MODEL },
        algorithm: { name: 'fedavg', hyper: { localSteps, batchSize: 16, lr: 0.5 } },
        cohort: { minClients: 3 },
        aggregation: { mode: 'secagg' },
        checkpointDir: dir,
        dp: {
          unit: 'record',
          epsilonBudget: 4,
          delta: 1e-5,
          l2Clip: 1,
          noiseMultiplier: plan.sigma,
          record: { mode, sampleRate: q, ...(mode === 'distributed' ? { expectedBatchSize: 45 } : {}) },
        },
        backend: 'cpu',
      });
      const data = sites();
      const ledgers = insts.map((_, k) => join(dir, `site-${k}`, 'ledger.jsonl'));
      // Between the charge and the send: the encoded input is final, nothing has left yet.
      const heldAtEncode: Array<Array<{ round: number; steps: number }>> = [[], [], []];
      const clients = insts.map((inst, k) =>
        runClientWithHooks(
          { url: server.url, identity: inst.keys, data: data[k]!, backend: 'cpu', dp: { ledger: ledgers[k]! } },
          {
            onEncodedInput: (round: number) => {
              const l = openSiteLedger(ledgers[k]!, { site: inst.name, readOnly: true });
              heldAtEncode[k]!.push({ round, steps: l.events.filter((e) => e.round === round).length });
              l.close();
            },
          },
        ),
      );
      const summary = await server.done;
      const ends = await Promise.all(clients.map((c) => c.done));
      assert.deepEqual(summary.rounds.map((r) => r.status), Array(ROUNDS).fill('completed'));
      for (const e of ends) assert.equal(e.endReason, 'federation-done', `${e.name}: ${e.error?.code} ${e.error?.message}`);
      const expected = recordLevelEpsilon(query, plan.sigma);
      assert.ok(expected <= 4);
      for (let k = 0; k < 3; k++) {
        const l = openSiteLedger(ledgers[k]!, { site: insts[k]!.name, readOnly: true });
        const s = l.summary();
        assert.equal(s.unit, 'record');
        assert.equal(s.events, ROUNDS);
        assert.ok(Math.abs(s.epsilon - expected) <= 1e-9 * expected, `site ${k}: ledger epsilon ${s.epsilon}, planned ${expected}`);
        assert.equal(s.recordLevel?.mode, mode);
        l.close();
        assert.deepEqual(heldAtEncode[k], Array.from({ length: ROUNDS }, (_, i) => ({ round: i + 1, steps: 1 })));
      }
      assert.ok(summary.finalParams.every(Number.isFinite));
      // `fedmeta status` on the coordinator's checkpoint: record-level DP, not "DP off".
      const status = fedmetaSync(dir, 'status', '--checkpoint', dir, '--json');
      const st = JSON.parse(status) as { privacy: unknown; recordDp?: { mode: string; epsilonBudget: number; epsilonPerSite: number } };
      assert.equal(st.privacy, null, 'the coordinator keeps no ledger for record-level DP');
      assert.equal(st.recordDp?.mode, mode);
      assert.equal(st.recordDp?.epsilonBudget, 4);
      assert.ok(Math.abs(st.recordDp!.epsilonPerSite - expected) <= 1e-9 * expected, `status says ${st.recordDp?.epsilonPerSite} per site, the ledgers ${expected}`);
      // Its report carries the record-level budget (the page says per site), not "DP off".
      const report = join(dir, 'report.html');
      fedmetaSync(dir, 'status', '--checkpoint', dir, '--report', report);
      const embedded = /<script type="application\/json" id="fedmeta-data">([\s\S]*?)<\/script>/.exec(readFileSync(report, 'utf8'));
      const snap = JSON.parse(embedded![1]!.replace(/\\u003c/g, '<')) as { privacy: { unit?: string; budget: number; spent: number } | null };
      assert.equal(snap.privacy?.unit, 'record');
      assert.equal(snap.privacy?.budget, 4);
      assert.ok(Math.abs(snap.privacy!.spent - expected) <= 1e-9 * expected);
      assert.match(fedmetaSync(dir, 'status', '--checkpoint', dir), /privacy +record-level DP-SGD \((local|distributed) noise\): epsilon [\d.]+ of 4 per site .*each site's own ledger/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('record-level DP: a site whose client.policy.maxEpsilon is below the announced record-level epsilon refuses before round 1 and charges nothing', { timeout: 60_000, skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dp-record-refuse-'));
  try {
    const plan = planRecordLevelSettings({ mode: 'local', epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: 0.1, rounds: ROUNDS });
    const insts = institutions(3, 'rec-refuse');
    const server = await startServer({
      port: 0,
      insecure: true,
      federationId: 'record-refuse',
      roster: rosterOf(insts),
      rounds: ROUNDS,
      model: { config: MODEL },
      algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 16, lr: 0.5 } },
      cohort: { minClients: 3 },
      aggregation: { mode: 'secagg' },
      checkpointDir: dir,
      dp: { unit: 'record', epsilonBudget: 4, delta: 1e-5, l2Clip: 1, noiseMultiplier: plan.sigma, record: { mode: 'local', sampleRate: 0.1 } },
      backend: 'cpu',
    });
    const ledger = join(dir, 'site.jsonl');
    const c = runClient({ url: server.url, identity: insts[0]!.keys, data: sites()[0]!, backend: 'cpu', dp: { ledger }, policy: { maxEpsilon: 2 }, reconnect: { maxAttempts: 1 } });
    const end = await c.done;
    await server.close();
    assert.equal(end.endReason, 'failed');
    assert.equal(end.error?.code, 'ERR_POLICY_REFUSED');
    assert.match(end.error!.message, /maxEpsilon 2/);
    assert.equal(existsSync(ledger), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
