/**
 * Active-security SecAgg (signed key advertisements + consistency check, identities from
 * the roster) over a server with a small chunk size: every roundStart and masked input
 * is split across many frames in both directions (the client adopts the server's
 * announced chunk size), and the aggregates are still bit-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '@fedmeta/server';
import { runClientWithHooks } from '@fedmeta/client/testing';
import { runClient } from '@fedmeta/client';
import { baseServerOptions, EventLog, institutions, mnistFederation, sumMod32 } from '../src/harness.js';

test('active mode with 16 KiB chunks: rounds complete and aggregates are exact', { timeout: 120_000 }, async () => {
  const N = 4;
  const insts = institutions(N, 'act');
  const fed = mnistFederation(N, 13);
  const log = new EventLog();
  const encoded = new Map<string, Map<number, Uint32Array>>();
  const aggregates: { round: number; sum: Uint32Array; survivors: string[] }[] = [];
  const server = await startServer(
    baseServerOptions(insts, {
      rounds: 2,
      aggregation: { mode: 'secagg', security: 'active' },
      limits: { chunkBytes: 16 << 10 },
      logger: log.logger,
      onAggregate: (round, a) => aggregates.push({ round, ...a }),
    }),
  );
  const clients = insts.map((inst, i) =>
    runClientWithHooks({
      url: server.url,
      identity: inst.keys,
      data: fed.clients[i]!,
      backend: 'cpu',
      trustedIdentities: insts.map((x) => x.keys.publicKey),
    }, {
      onEncodedInput: (round, v) => {
        const m = encoded.get(inst.name) ?? new Map<number, Uint32Array>();
        m.set(round, v);
        encoded.set(inst.name, m);
      },
    }),
  );
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  assert.deepEqual(summary.rounds.map((r) => [r.status, r.survivors]), [['completed', N], ['completed', N]]);
  const started = log.named('round.started');
  assert.ok(started.every((e) => (e.vectorLength as number) * 4 > 3 * (16 << 10)), 'vectors span several chunks');
  for (const a of aggregates) {
    const expected = sumMod32(a.survivors.map((n) => encoded.get(n)!.get(a.round)!));
    assert.ok(Buffer.from(a.sum.buffer).equals(Buffer.from(expected.buffer)), `round ${a.round}`);
  }
  // Both directions were chunked: the totals far exceed one 16 KiB chunk per message.
  assert.ok(summary.rounds.every((r) => r.bytesIn > N * 3 * (16 << 10) && r.bytesOut > N * 3 * (16 << 10)));
});

test('active mode: a client refuses a round whose identity list holds a key it does not trust', { timeout: 120_000 }, async () => {
  const N = 4;
  const insts = institutions(N, 'trust');
  const fed = mnistFederation(N, 17);
  const server = await startServer(baseServerOptions(insts, { rounds: 1, aggregation: { mode: 'secagg', security: 'active' } }));
  const everyone = insts.map((i) => i.keys.publicKey);
  // Client 0 learnt the roster out of band without institution 3's key: whatever key the
  // server relays for participant 3 is, to client 0, a key the server may have swapped in.
  const trustedBy = (i: number) => (i === 0 ? everyone.slice(0, N - 1) : everyone);
  const events: { client: number; event: string; code?: unknown; message?: unknown }[] = [];
  const clients = insts.map((inst, i) =>
    runClient({
      url: server.url,
      identity: inst.keys,
      data: fed.clients[i]!,
      backend: 'cpu',
      trustedIdentities: trustedBy(i),
      reconnect: { maxAttempts: 1, baseDelayMs: 100, maxDelayMs: 100 },
      logger: (e) => events.push({ client: i, event: e.event, code: e.code, message: e.message }),
    }),
  );
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.close()));
  const refusal = events.find((e) => e.client === 0 && /not in trustedIdentities/.test(String(e.message)));
  assert.ok(refusal, `client 0 refused the identity list; its events: ${JSON.stringify(events.filter((e) => e.client === 0))}`);
  assert.ok(!events.some((e) => e.client !== 0 && /trustedIdentities/.test(String(e.message))), 'clients that trust every key take part');
  // The round goes on without the refusing client: three trusting survivors.
  assert.deepEqual(summary.rounds.map((r) => [r.status, r.survivors]), [['completed', N - 1]]);
});

test('client options: trustedIdentities must be 32-byte keys', () => {
  const [inst] = institutions(1, 'opt');
  const fed = mnistFederation(2, 3);
  assert.throws(
    () => runClient({ url: 'ws://127.0.0.1:1', identity: inst!.keys, data: fed.clients[0]!, trustedIdentities: [new Uint8Array(31)] }),
    (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_CONFIG' && /trustedIdentities\[0\]/.test(err.message),
  );
});
