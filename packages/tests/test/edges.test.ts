/**
 * Trust at the federation's edges, with the real server and clients on loopback sockets:
 * the floor on cohorts and released sums, a roster changed while the server runs, one
 * session per identity, and each site's own policy. Every client trains for real on a
 * small MNIST shard; nothing is mocked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type ServerOptions } from '@fedmeta/server';
import { type ClientEvent, type ClientOptions } from '@fedmeta/client';
import { runClientWithHooks, type ClientTestHooks } from '@fedmeta/client/testing';
import { baseServerOptions, EventLog, institutions, mnistFederation, rosterOf, type Institution } from '../src/harness.js';

const fed = mnistFederation(5, 21, 120);

function client(server: { url: string }, inst: Institution, i: number, extra: Partial<ClientOptions> & { hooks?: ClientTestHooks } = {}, events?: ClientEvent[]) {
  const { hooks, ...rest } = extra;
  return runClientWithHooks({
    url: server.url,
    identity: inst.keys,
    federationId: 'e2e',
    data: fed.clients[i]!,
    // Bounded: a test's client must end even if its server is gone.
    reconnect: { maxAttempts: 20, baseDelayMs: 50, maxDelayMs: 300 },
    backend: 'cpu',
    ...(events ? { logger: (e) => events.push(e) } : {}),
    ...rest,
  }, hooks ?? {});
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const light: Partial<ServerOptions> = { algorithm: { name: 'fedavg', hyper: { localSteps: 2, batchSize: 16, lr: 0.1 } } };

test('minClients 3 with only 2 active roster members: no round starts, and the server says why', { timeout: 60_000 }, async () => {
  const insts = institutions(3, 'floor');
  const log = new EventLog();
  const roster = rosterOf(insts);
  roster[2]!.revoked = true;
  const server = await startServer(baseServerOptions(insts, { ...light, roster, rounds: 1, cohort: { minClients: 3 }, deadlines: { waitForClientsMs: 200 }, logger: log.logger }));
  const clients = insts.slice(0, 2).map((inst, i) => client(server, inst, i));
  try {
    await sleep(2_500);
    assert.equal(log.named('round.started').length, 0, 'no round with a cohort of 2');
    assert.equal(server.status().connected.length, 2, 'both active members are connected and waiting');
    const short = log.named('cohort.roster-too-small');
    assert.equal(short.length, 1);
    assert.match(String(short[0]!.message), /only 2 active members .* fewer than 3/);
  } finally {
    await server.close();
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('3 members, one crashes before its masked input: no sum of 2 is released by default; an explicit floor of 2 releases it', { timeout: 120_000 }, async () => {
  for (const floor of [undefined, 2] as const) {
    const insts = institutions(3, `crash${floor ?? 'd'}`);
    const log = new EventLog();
    const released: string[][] = [];
    const abortedProgress: string[] = [];
    const server = await startServer(
      baseServerOptions(insts, {
        ...light,
        rounds: 1,
        // t = 2 lets the protocol itself unmask 2 survivors: only the floor stops it.
        aggregation: { mode: 'secagg', threshold: 2 },
        cohort: { minClients: 2, ...(floor ? { minAggregate: floor } : {}) },
        logger: log.logger,
        onProgress: (p) => {
          if (p.aborted) abortedProgress.push(p.aborted);
        },
        onAggregate: (_r, a) => released.push(a.survivors),
      }),
    );
    const clients = insts.map((inst, i) => client(server, inst, i, i === 2 ? { hooks: { dropAfterPhase: { phase: 'share-keys', round: 1 } } } : {}));
    const summary = await server.done;
    await Promise.all(clients.map((c) => c.done));
    const r = summary.rounds[0]!;
    assert.equal(r.cohort, 3);
    if (floor === undefined) {
      assert.equal(r.status, 'aborted');
      assert.equal(r.abortReason, 'TOO_FEW_SURVIVORS');
      assert.deepEqual(released, [], 'no aggregate left the server');
      assert.equal(log.named('round.aborted')[0]!.reason, 'TOO_FEW_SURVIVORS');
      assert.ok(abortedProgress.includes('TOO_FEW_SURVIVORS'), 'the progress of the aborted round says so');
    } else {
      assert.equal(r.status, 'completed');
      assert.equal(r.survivors, 2);
      assert.equal(released.length, 1);
    }
  }
});

test("a client whose policy floor exceeds the survivors refuses to unmask, and the round releases nothing", { timeout: 90_000 }, async () => {
  const insts = institutions(3, 'strict');
  const log = new EventLog();
  const released: unknown[] = [];
  const server = await startServer(
    baseServerOptions(insts, {
      ...light,
      rounds: 1,
      aggregation: { mode: 'secagg', threshold: 2 },
      // The coordinator would release a sum of 2; site 0 would not.
      cohort: { minClients: 2, minAggregate: 2 },
      logger: log.logger,
      onAggregate: (_r, a) => released.push(a),
    }),
  );
  const events: ClientEvent[] = [];
  const clients = insts.map((inst, i) =>
    client(server, inst, i, i === 0 ? { policy: { minAggregate: 3 } } : i === 2 ? { hooks: { dropAfterPhase: { phase: 'share-keys', round: 1 } } } : {}, i === 0 ? events : undefined),
  );
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  assert.equal(summary.rounds[0]!.status, 'aborted');
  assert.deepEqual(released, []);
  const accepted = events.find((e) => e.event === 'federation.accepted');
  assert.ok(accepted, 'the federation was accepted with a note');
  assert.match(String((accepted.notes as string[])[0]), /refuses to unmask rounds with fewer than 3/);
  const refused = events.find((e) => e.event === 'round.aborted-by-client');
  assert.ok(refused, 'site 0 refused');
  assert.equal(refused.reason, 'TOO_FEW_SURVIVORS');
});

test('revoking a running member closes its session with ERR_AUTH_REVOKED, refuses its reconnects, and the others go on', { timeout: 120_000 }, async () => {
  const insts = institutions(4, 'rev');
  const log = new EventLog();
  // Many short rounds (clients train in this process, so rounds stay light): the federation
  // is still running when the revocation and the reconnect attempt land.
  const server = await startServer(baseServerOptions(insts, { ...light, rounds: 40, cohort: { minClients: 3 }, logger: log.logger }));
  const clients = insts.map((inst, i) => client(server, inst, i));
  try {
    // Wait until the first round has completed, then revoke inst 3 mid-federation.
    while (!log.named('round.finished').length) await sleep(50);
    const roster = rosterOf(insts);
    roster[3]!.revoked = true;
    const t0 = Date.now();
    const roundAtRevoke = server.status().round;
    const change = server.updateRoster(roster);
    assert.deepEqual(change.revoked, ['rev-3']);
    assert.deepEqual(change.disconnected, ['rev-3']);
    const revoked = await clients[3]!.done;
    assert.ok(Date.now() - t0 < 5_000, 'closed within 5 s');
    assert.equal(revoked.endReason, 'failed');
    assert.equal(revoked.error?.code, 'ERR_AUTH_REVOKED');
    // A fresh process with the revoked key is refused at once.
    const again = await client(server, insts[3]!, 3).done;
    assert.equal(again.error?.code, 'ERR_AUTH_REVOKED');
    const summary = await server.done;
    const later = summary.rounds.filter((r) => r.round > roundAtRevoke);
    assert.ok(later.some((r) => r.status === 'completed' && r.survivors === 3), 'the three others completed rounds after the revocation');
    for (const r of log.named('round.started').filter((e) => (e.round as number) > roundAtRevoke)) assert.ok(!(r.cohort as string[]).includes('rev-3'), 'the revoked member is in no later cohort');
    for (const c of clients.slice(0, 3)) assert.equal((await c.done).endReason, 'federation-done');
  } finally {
    await server.close();
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('an added roster member can join the running federation', { timeout: 60_000 }, async () => {
  const insts = institutions(4, 'add');
  const server = await startServer(baseServerOptions(insts.slice(0, 3), { ...light, rounds: 1, cohort: { minClients: 3 }, deadlines: { waitForClientsMs: 60_000 } }));
  const late = client(server, insts[3]!, 3);
  assert.equal((await late.done).error?.code, 'ERR_AUTH_UNKNOWN_KEY', 'not on the roster yet');
  const change = server.updateRoster(rosterOf(insts));
  assert.deepEqual(change.added, ['add-3']);
  const clients = insts.map((inst, i) => client(server, inst, i));
  const summary = await server.done;
  assert.equal(summary.rounds[0]!.cohort, 4);
  await Promise.all(clients.map((c) => c.done));
});

test('the same identity twice: the second process is refused with ERR_SESSION_DUPLICATE and the first completes its rounds', { timeout: 90_000 }, async () => {
  const insts = institutions(3, 'dup');
  const log = new EventLog();
  // Many short rounds, so the federation is still running when the twin arrives.
  const server = await startServer(baseServerOptions(insts, { ...light, rounds: 40, logger: log.logger }));
  const clients = insts.map((inst, i) => client(server, inst, i));
  while (server.status().connected.length < 3) await sleep(20);
  const t0 = Date.now();
  const twin = await client(server, insts[0]!, 0).done;
  assert.ok(Date.now() - t0 < 5_000);
  assert.equal(twin.endReason, 'failed');
  assert.equal(twin.error?.code, 'ERR_SESSION_DUPLICATE');
  assert.match(twin.error!.message, /already has a live session.*stop the other process/);
  const summary = await server.done;
  assert.equal(summary.rounds.length, 40);
  assert.ok(summary.rounds.every((r) => r.status === 'completed' && r.survivors === 3), 'every round completed with all three');
  assert.equal(log.named('session.replaced').length, 0, 'the live session was never replaced');
  const first = await clients[0]!.done;
  assert.equal(first.endReason, 'federation-done');
  assert.equal(first.rounds.filter((r) => r.status === 'completed').length, 40);
});

/**
 * A coordinator whose settings violate one policy field of one site. The federation has
 * enough other members that its rounds run: the refusing site must refuse before any
 * round and never be part of one, while the others' rounds complete.
 */
const violations: { field: string; server: Partial<ServerOptions>; policy: ClientOptions['policy']; message: RegExp }[] = [
  { field: 'requireDp', server: {}, policy: { requireDp: true }, message: /requireDp: the federation adds no differential-privacy noise/ },
  {
    field: 'maxEpsilon',
    server: { dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 50 } },
    policy: { maxEpsilon: 10 },
    message: /maxEpsilon 10: the federation's epsilon budget is 50/,
  },
  { field: 'minCohort', server: {}, policy: { minCohort: 5 }, message: /minCohort 5: the federation may run rounds with 3 members/ },
  { field: 'requireSecurity', server: { aggregation: { security: 'semi-honest' } }, policy: { requireSecurity: 'active' }, message: /requireSecurity active: the federation runs semi-honest/ },
  { field: 'requireSecAgg', server: { aggregation: { mode: 'plaintext' } }, policy: { requireSecAgg: true }, message: /requireSecAgg: the federation aggregates in plaintext/ },
];

for (const v of violations) {
  test(`policy ${v.field}: a coordinator that violates it is refused before the site trains or releases anything, while the other members' rounds run`, { timeout: 90_000 }, async () => {
    const insts = institutions(4, `pol-${v.field}`);
    const refusing = insts[3]!;
    const dir = mkdtempSync(join(tmpdir(), 'fedmeta-policy-'));
    const log = new EventLog();
    const released: string[][] = [];
    const server = await startServer(
      baseServerOptions(insts, {
        ...light,
        rounds: 2,
        cohort: { minClients: 3 },
        // The refusing member is on the roster: the first round waits this long for it, then starts without it.
        deadlines: { waitForClientsMs: 300 },
        checkpointDir: dir,
        logger: log.logger,
        onAggregate: (_r, a) => released.push(a.survivors),
        ...v.server,
      }),
    );
    const others: ReturnType<typeof client>[] = [];
    try {
      const encoded: number[] = [];
      // The refusing site connects first, so that it is connected when the others make a cohort possible.
      const s = await client(server, refusing, 3, { policy: v.policy, hooks: { onEncodedInput: (r) => encoded.push(r) } }).done;
      assert.equal(s.endReason, 'failed');
      assert.equal(s.error?.code, 'ERR_POLICY_REFUSED');
      assert.match(s.error!.message, v.message);
      assert.match(s.error!.message, /client\.policy/);
      // The coordinator's log names the site and the reason.
      for (let i = 0; i < 50 && !log.named('peer.policy-refused').length; i++) await sleep(20);
      const seen = log.named('peer.policy-refused');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.peer, refusing.name);
      assert.match(String(seen[0]!.message), v.message);
      const events: ClientEvent[] = [];
      others.push(...insts.slice(0, 3).map((inst, i) => client(server, inst, i, {}, i === 0 ? events : undefined)));
      const summary = await server.done;
      const done = await Promise.all(others.map((c) => c.done));
      // The federation ran without it: every round completed with the three others.
      assert.equal(summary.rounds.length, 2);
      assert.ok(summary.rounds.every((r) => r.status === 'completed' && r.survivors === 3), JSON.stringify(summary.rounds));
      for (const d of done) {
        assert.equal(d.endReason, 'federation-done');
        assert.deepEqual(d.rounds.map((r) => r.status), ['completed', 'completed']);
      }
      // The refusing site trained nothing, encoded nothing, was in no cohort and in no released sum.
      assert.deepEqual(encoded, [], 'nothing was trained or encoded');
      assert.deepEqual(s.rounds, []);
      const cohorts = log.named('round.started').map((e) => e.cohort as string[]);
      assert.equal(cohorts.length, 2);
      for (const c of cohorts) assert.deepEqual([...c].sort(), insts.slice(0, 3).map((i) => i.name).sort());
      assert.equal(released.length, 2);
      for (const r of released) assert.ok(!r.includes(refusing.name));
      // The accepting sites were told the SecAgg threshold of a full cohort (the 4 roster members).
      const line = String(events.find((e) => e.event === 'federation.accepted')?.summary);
      if (v.field === 'requireSecAgg') assert.doesNotMatch(line, /threshold/);
      else assert.match(line, new RegExp(`, SecAgg threshold ${server.plan(4).threshold} of 4 in a full cohort of 4$`));
    } finally {
      await server.close();
      await Promise.all(others.map((c) => c.close()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a member that authenticates and then stays silent in rounds is dropped after progressMs, benched, and told why', { timeout: 90_000 }, async () => {
  const { RawPeer } = await import('../src/raw-client.js');
  const insts = institutions(4, 'bench');
  const log = new EventLog();
  const server = await startServer(
    baseServerOptions(insts, {
      ...light,
      rounds: 3,
      cohort: { minClients: 3 },
      deadlines: { waitForClientsMs: 60_000, trainingMs: 60_000, progressMs: 700 },
      stragglers: { benchRounds: 2 },
      logger: log.logger,
    }),
  );
  // The silent member: a real socket that completes the handshake and then never answers a round.
  const silent = await RawPeer.connect(server.url);
  await silent.authenticate(insts[3]!.keys);
  const clients = insts.slice(0, 3).map((inst, i) => client(server, inst, i));
  const roundEnd = silent.next((m) => m.type === 'roundEnd');
  const t0 = Date.now();
  const end = (await roundEnd) as Extract<import('@fedmeta/transport').RuntimeMessage, { type: 'roundEnd' }>;
  assert.ok(Date.now() - t0 < 30_000, 'round 1 did not wait for the 60 s training deadline');
  assert.equal(end.status, 'excluded');
  const bench = end.summary['bench'] as { rounds: number; untilRound: number; reason: string };
  assert.equal(bench.rounds, 2);
  assert.match(bench.reason, /no training progress for \d+ ms \(limit 700 ms\)/);
  assert.deepEqual(server.status().benched.map((b) => b.name), ['bench-3']);
  const summary = await server.done;
  assert.deepEqual(summary.rounds.map((r) => [r.status, r.cohort, r.survivors]), [['completed', 4, 3], ['completed', 3, 3], ['completed', 3, 3]]);
  const benched = log.named('peer.benched');
  assert.equal(benched.length, 1);
  assert.equal(benched[0]!.peer, 'bench-3');
  for (const r of log.named('round.started').slice(1)) assert.ok(!(r.cohort as string[]).includes('bench-3'), 'left out while benched');
  await Promise.all(clients.map((c) => c.done));
  silent.socket.close();
});

test('a roster member that does not connect costs one wait: later rounds start without waiting for it, and it joins once it connects', { timeout: 120_000 }, async () => {
  const insts = institutions(4, 'absent');
  const WAIT = 6_000;
  const seen: { event: string; at: number; fields: Record<string, unknown> }[] = [];
  const log = new EventLog();
  const server = await startServer(
    baseServerOptions(insts, {
      ...light,
      rounds: 5,
      cohort: { minClients: 3 },
      deadlines: { waitForClientsMs: WAIT },
      // Evaluation rounds would also start cohorts: none here, so every round.started is a training round.
      logger: (e) => {
        log.logger(e);
        seen.push({ event: e.event, at: Date.now(), fields: e as unknown as Record<string, unknown> });
      },
    }),
  );
  const clients = insts.slice(0, 3).map((inst, i) => client(server, inst, i));
  let late: ReturnType<typeof client> | undefined;
  try {
    const at = (event: string, round: number) => seen.find((e) => e.event === event && e.fields['round'] === round);
    while (!at('round.finished', 1)) await sleep(20);
    // It connects now, while round 2 runs (or just before it starts): later rounds want it again.
    late = client(server, insts[3]!, 3);
    while (!at('round.finished', 2)) await sleep(20);
    // absent-3 never connected during round 1's wait: it is named once, and round 2 started
    // without waiting another WAIT ms for it (the old behaviour waited before every round).
    const absent = log.named('cohort.absent');
    assert.equal(absent.length, 1);
    assert.deepEqual(absent[0]!['members'], ['absent-3']);
    assert.match(String(absent[0]!['message']), /absent-3 did not connect within 6000 ms .* until it connects/);
    const gap = at('round.started', 2)!.at - at('round.finished', 1)!.at;
    assert.ok(gap < WAIT / 2, `round 2 started ${gap} ms after round 1 finished, as if it waited for the absent member`);
    // Once it has connected it is wanted again, and a later round includes it.
    const summary = await server.done;
    assert.equal(summary.endReason, 'completed');
    const cohorts = log.named('round.started').map((e) => e['cohort'] as string[]);
    assert.ok(cohorts.slice(2).some((c) => c.includes('absent-3')), `a round after it connected includes absent-3: ${JSON.stringify(cohorts)}`);
  } finally {
    await server.close();
    await Promise.all([...clients, ...(late ? [late] : [])].map((c) => c.close()));
  }
});
