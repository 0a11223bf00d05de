/**
 * (c) Strangers and broken peers are refused with typed errors while a round with the
 * honest clients goes on and completes: an unknown key, a revoked key, a replayed frame,
 * a replayed auth frame on a new connection, a malformed frame, an oversized frame and a
 * wrong-length masked vector. Each refusal is asserted by its stable code (error frame)
 * and its close code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519Keypair, systemRng, type ClientMessage } from '@fedmeta/secagg';
import { startServer } from '@fedmeta/server';
import { runClientWithHooks } from '@fedmeta/client/testing';
import { runClient, type ClientEvent } from '@fedmeta/client';
import { TRANSPORT_ERRORS, FRAME_HEADER_BYTES } from '@fedmeta/transport';
import { baseServerOptions, EventLog, institutions, mnistFederation, rosterOf, stepsLasting } from '../src/harness.js';
import { RawPeer } from '../src/raw-client.js';

test('bad peers get typed refusals while the honest round completes', { timeout: 120_000 }, async () => {
  const honest = institutions(4, 'honest');
  const evil = institutions(5, 'evil'); // 0 replay, 1 malformed, 2 oversized, 3 wrong-length vector, 4 oversized ws message
  const revoked = institutions(1, 'revoked');
  const fed = mnistFederation(5, 3);
  const log = new EventLog();
  const aggregates: { round: number; survivors: string[] }[] = [];
  const server = await startServer(
    baseServerOptions([...honest, ...evil], {
      roster: [...rosterOf([...honest, ...evil]), { name: 'revoked-0', publicKey: revoked[0]!.keys.publicKey, revoked: true }],
      rounds: 2,
      // Rounds of about 1.5 s of training, in worker threads (below): the federation is still
      // running, and its event loop free, while the attacks below take their turns.
      algorithm: { name: 'fedavg', hyper: { localSteps: await stepsLasting(1_500), batchSize: 32, lr: 0.1 } },
      aggregation: { mode: 'secagg' },
      cohort: { minClients: 4 },
      logger: log.logger,
      onAggregate: (round, a) => aggregates.push({ round, survivors: a.survivors }),
    }),
  );
  try {
    // The wrong-length client is a real client whose masked vector is truncated on the wire.
    const wrongLenEvents: ClientEvent[] = [];
    const clients = [...honest, evil[3]!].map((inst, i) =>
      runClientWithHooks(
        {
          url: server.url,
          identity: inst.keys,
          data: fed.clients[i]!,
          backend: 'cpu',
          trainInWorker: true,
          reconnect: { maxAttempts: 3, baseDelayMs: 50 },
          ...(inst === evil[3] ? { logger: (e: ClientEvent) => wrongLenEvents.push(e) } : {}),
        },
        inst === evil[3]
          ? {
              tamperSecAgg: (_round: number, m: ClientMessage): ClientMessage =>
                m.kind === 'masked-input' ? { ...m, vector: m.vector.subarray(0, m.vector.length - 1) } : m,
            }
          : {},
      ),
    );

    // Attack while round 1 is running.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (log.named('round.started').length > 0) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });

    // Unknown key (a real client): refused at auth, and it gives up (no retry can fix it).
    const stranger = runClient({ url: server.url, identity: ed25519Keypair(systemRng), data: fed.clients[4]!, backend: 'cpu' });
    const strangerSummary = await stranger.done;
    assert.equal(strangerSummary.endReason, 'failed');
    assert.equal(strangerSummary.error?.code, 'ERR_AUTH_UNKNOWN_KEY');

    // Revoked key.
    const rev = await RawPeer.connect(server.url);
    await rev.authenticate(revoked[0]!.keys);
    assert.deepEqual(await rev.outcome, { errorCode: 'ERR_AUTH_REVOKED', closeCode: TRANSPORT_ERRORS.ERR_AUTH_REVOKED });

    // Replay: authenticate, then send the auth frame again (same bytes, old sequence number).
    const replay = await RawPeer.connect(server.url);
    await replay.authenticate(evil[0]!.keys);
    await replay.next((m) => m.type === 'welcome');
    replay.sendRaw(replay.sent[0]!);
    assert.deepEqual(await replay.outcome, { errorCode: 'ERR_REPLAY', closeCode: TRANSPORT_ERRORS.ERR_REPLAY });

    // A captured auth frame replayed on a fresh connection fails: the server nonce differs.
    const replayAuth = await RawPeer.connect(server.url);
    await replayAuth.next((m) => m.type === 'challenge');
    replayAuth.sendRaw(replay.sent[0]!);
    assert.deepEqual(await replayAuth.outcome, { errorCode: 'ERR_AUTH_BAD_SIGNATURE', closeCode: TRANSPORT_ERRORS.ERR_AUTH_BAD_SIGNATURE });

    // Malformed: 7 bytes of garbage after authenticating.
    const malformed = await RawPeer.connect(server.url);
    await malformed.authenticate(evil[1]!.keys);
    await malformed.next((m) => m.type === 'welcome');
    malformed.sendRaw(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]));
    assert.deepEqual(await malformed.outcome, { errorCode: 'ERR_FRAME_MALFORMED', closeCode: TRANSPORT_ERRORS.ERR_FRAME_MALFORMED });

    // Oversized: a secagg frame declaring 4 GiB - refused before any buffer is allocated.
    const oversized = await RawPeer.connect(server.url);
    await oversized.authenticate(evil[2]!.keys);
    await oversized.next((m) => m.type === 'welcome');
    const header = new Uint8Array(FRAME_HEADER_BYTES + 8);
    const v = new DataView(header.buffer);
    v.setUint8(0, 1);
    v.setUint8(1, 0x11); // secagg
    v.setUint8(2, 1); // FIRST, not LAST
    v.setUint32(4, 1); // next sequence number after auth
    v.setUint32(8, 0xffff_fff0);
    oversized.sendRaw(header);
    assert.deepEqual(await oversized.outcome, { errorCode: 'ERR_FRAME_TOO_LARGE', closeCode: TRANSPORT_ERRORS.ERR_FRAME_TOO_LARGE });

    // A WebSocket message larger than one chunk is refused by ws itself (maxPayload) before
    // it is buffered: close 1009, logged by the server as ERR_FRAME_TOO_LARGE.
    const huge = await RawPeer.connect(server.url);
    await huge.authenticate(evil[4]!.keys);
    await huge.next((m) => m.type === 'welcome');
    huge.sendRaw(new Uint8Array((2 << 20) + 64));
    assert.equal((await huge.outcome).closeCode, 1009);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(log.named('peer.closed').some((e) => e.peer === 'evil-4' && e.error === 'ERR_FRAME_TOO_LARGE'), 'server recorded the typed error');

    // An unauthenticated peer may not start a bulk message at all.
    const early = await RawPeer.connect(server.url);
    await early.next((m) => m.type === 'challenge');
    early.send({ type: 'plainInput', round: 1, vector: new Uint32Array(4) });
    assert.deepEqual(await early.outcome, { errorCode: 'ERR_UNEXPECTED_FRAME', closeCode: TRANSPORT_ERRORS.ERR_UNEXPECTED_FRAME });

    const summary = await server.done;
    await Promise.all(clients.map((c) => c.done));
    // Both rounds completed with exactly the honest clients: every attacker stayed out.
    assert.deepEqual(summary.rounds.map((r) => r.status), ['completed', 'completed']);
    for (const a of aggregates) assert.deepEqual([...a.survivors].sort(), honest.map((h) => h.name).sort(), `round ${a.round}`);
    // The wrong-length vector was refused with its code, on the server and at the client.
    const refused = log.named('round.refused').filter((e) => e.peer === 'evil-3');
    assert.ok(refused.length >= 1 && refused.every((e) => e.code === 'ERR_VECTOR_LENGTH'), JSON.stringify(refused));
    assert.ok(wrongLenEvents.some((e) => e.event === 'disconnected' && e.code === 'ERR_VECTOR_LENGTH'));
  } finally {
    await server.close();
  }
});
