/**
 * Active-security SecAgg (signed key advertisements + consistency check, identities from
 * the roster) over a server with a small chunk size: every roundStart and masked input
 * is split across many frames in both directions (the client adopts the server's
 * announced chunk size), and the aggregates are still bit-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '@fedmeta/server';
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
    runClient({
      url: server.url,
      identity: inst.keys,
      data: fed.clients[i]!,
      backend: 'cpu',
      testHooks: {
        onEncodedInput: (round, v) => {
          const m = encoded.get(inst.name) ?? new Map<number, Uint32Array>();
          m.set(round, v);
          encoded.set(inst.name, m);
        },
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
