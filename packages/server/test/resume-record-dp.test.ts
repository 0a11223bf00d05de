// Record-level DP across coordinator restarts: the real coordinator on loopback, one
// checkpoint directory, two sites that speak the real framing (./resume-sites.ts: they
// answer every plaintext round with a quantised zero update of weight 1). The sites'
// own DP-SGD is not exercised here (the end-to-end tests do that): what is tested is the
// coordinator's accounting of the rounds it released, which is what its round summaries,
// status, GET /status and checkpoint report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epsilonOfEvents, recordLevelEpsilon, recordLevelRoundEvent } from '@fedmeta/dp';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { loadCheckpoint } from '../src/checkpoint.js';
import { readRecordReleases, recordReleasesPath } from '../src/privacy.js';
import { ServerError } from '../src/errors.js';
import { startServer } from '../src/server.js';
import { site } from './resume-sites.js';
import type { FederationSummary, ServerEvent, ServerHandle, ServerOptions } from '../src/options.js';

const keys = [ed25519Keypair(systemRng), ed25519Keypair(systemRng)];
const PARAMS = 4 * 3 + 3 + 3 * 2 + 2;
const SIGMA = 1.1;
const Q = 0.1;
const DELTA = 1e-5;
const BUDGET = 4;

function options(dir: string, rounds: number, extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'resume-record',
    roster: keys.map((k, i) => ({ name: `site-${i}`, publicKey: k.publicKey })),
    rounds,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    aggregation: { mode: 'plaintext' },
    checkpointDir: dir,
    dp: { unit: 'record', epsilonBudget: BUDGET, delta: DELTA, l2Clip: 1, noiseMultiplier: SIGMA, record: { mode: 'local', sampleRate: Q } },
    backend: 'cpu',
    ...extra,
  };
}

const SETTING = { mode: 'local' as const, epsilon: BUDGET, delta: DELTA, l2Clip: 1, sampleRate: Q, localSteps: 1 };

/** The per-site epsilon of n rounds of this setting, as every site's ledger accounts it. */
function epsilonOf(n: number): number {
  return recordLevelEpsilon({ ...SETTING, rounds: n }, SIGMA, n);
}

async function run(server: ServerHandle): Promise<FederationSummary> {
  const sites = keys.map((k) => site(server.url, k, { paramCount: PARAMS }));
  try {
    return await server.done;
  } finally {
    await Promise.all(sites);
  }
}

test('record-level DP: a coordinator resumed after 2 rounds reports, after round 3, the epsilon of 3 released rounds, as a fresh 3-round run does', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-'));
  const fresh = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-fresh-'));
  try {
    const first = await run(await startServer(options(dir, 2)));
    assert.equal(first.roundsCompleted, 2);
    assert.equal(first.epsilon, epsilonOf(2));

    const events: ServerEvent[] = [];
    const server = await startServer(options(dir, 3, { logger: (e) => events.push(e) }));
    // A failed assertion below must not leave the coordinator waiting for its sites.
    t.after(() => server.close());
    // Before round 3 runs: what was spent in the first run.
    assert.deepEqual(server.resumed, {
      checkpointDir: dir,
      nextRound: 3,
      roundsCompleted: 2,
      rounds: 3,
      dp: { unit: 'record', epsilonSpent: epsilonOf(2), epsilonBudget: BUDGET, delta: DELTA, noiseMultiplier: { before: SIGMA, now: SIGMA } },
      standardisationRestored: false,
    });
    assert.equal(server.status().epsilon, epsilonOf(2));
    const resumedEvent = events.find((e) => e.event === 'checkpoint.resumed');
    assert.equal(resumedEvent?.['epsilonSpent'], epsilonOf(2));
    assert.equal(resumedEvent?.['nextRound'], 3);
    const anonymous = (await (await fetch(`${server.url.replace(/^ws/, 'http')}/status`)).json()) as { privacy: { epsilonSpent: number } };
    assert.equal(anonymous.privacy.epsilonSpent, epsilonOf(2));

    const second = await run(server);
    assert.equal(second.roundsCompleted, 3);
    assert.equal(second.rounds[2]!.round, 3);
    assert.equal(second.rounds[2]!.epsilon, epsilonOf(3), 'round 3 is charged on top of rounds 1 and 2');
    assert.equal(second.epsilon, epsilonOf(3));
    const ck = loadCheckpoint(dir)!;
    assert.equal(ck.meta.epsilon, epsilonOf(3));
    assert.equal(ck.meta.recordReleases, 3);

    const reference = await run(await startServer(options(fresh, 3)));
    assert.equal(reference.rounds[2]!.epsilon, second.rounds[2]!.epsilon, 'resumed and fresh report the same epsilon after round 3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(fresh, { recursive: true, force: true });
  }
});

test('record-level DP: a round released but not yet checkpointed when the coordinator failed is still counted after the restart', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-crash-'));
  try {
    // The coordinator fails right after releasing round 2's aggregate, before its checkpoint.
    const failing = await startServer(
      options(dir, 2, {
        onAggregate: (round) => {
          if (round === 2) throw new Error('coordinator failed after the release');
        },
      }),
    );
    await assert.rejects(run(failing), /failed after the release/);
    assert.equal(loadCheckpoint(dir)!.nextRound, 2, 'the checkpoint holds round 1 only');
    assert.deepEqual(readRecordReleases(recordReleasesPath(join(dir, 'ledger.json'))).map((r) => r.round), [1, 2], 'both releases were journalled');

    const server = await startServer(options(dir, 2));
    assert.equal(server.resumed?.dp?.epsilonSpent, epsilonOf(2), 'the released round 2 counts although no checkpoint holds it');
    const summary = await run(server);
    assert.equal(summary.rounds.at(-1)!.round, 2);
    assert.equal(summary.epsilon, epsilonOf(3), 'round 2 was released twice: three releases in all');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record-level DP: without the release journal (a checkpoint written before it existed), the completed rounds in the checkpoint are counted', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-old-'));
  try {
    await run(await startServer(options(dir, 2)));
    const journal = recordReleasesPath(join(dir, 'ledger.json'));
    assert.ok(existsSync(journal));
    rmSync(journal);
    const server = await startServer(options(dir, 3));
    try {
      assert.equal(server.resumed?.dp?.epsilonSpent, epsilonOf(2));
      assert.equal(server.status().epsilon, epsilonOf(2));
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record-level DP: rounds run with a re-planned noise multiplier after a restart are accounted with it, the earlier ones with theirs', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-replan-'));
  try {
    await run(await startServer(options(dir, 2)));
    const louder = SIGMA * 1.5;
    const o = options(dir, 3);
    const server = await startServer({ ...o, dp: { ...o.dp!, noiseMultiplier: louder } });
    t.after(() => server.close());
    assert.deepEqual(server.resumed?.dp?.noiseMultiplier, { before: SIGMA, now: louder });
    const summary = await run(server);
    const event = (sigma: number) => recordLevelRoundEvent({ ...SETTING, rounds: 3 }, sigma);
    const expected = epsilonOfEvents([event(SIGMA), event(SIGMA), event(louder)], DELTA);
    assert.equal(summary.rounds[2]!.epsilon, expected);
    assert.ok(expected > epsilonOf(2) && expected < epsilonOf(3), 'a louder third round costs less than one at the first noise');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record-level DP: a release journal that is not one refuses the start with ERR_CHECKPOINT_CORRUPT naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-record-bad-'));
  try {
    const journal = recordReleasesPath(join(dir, 'ledger.json'));
    writeFileSync(journal, '{"releases": 3}');
    await assert.rejects(startServer(options(dir, 2)), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT' && e.message.includes(journal) && /not a record-level release journal/.test(e.message));
    writeFileSync(journal, '{"format":');
    await assert.rejects(startServer(options(dir, 2)), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT' && /is not JSON/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
