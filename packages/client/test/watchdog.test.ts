import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { FrameReader, FrameWriter, resolveLimits } from '@fedmeta/transport';
import { runClient, type ClientEvent } from '../src/index.js';

test('a server that goes silent after the handshake is detected and the client reconnects', { timeout: 20_000 }, async () => {
  const limits = resolveLimits();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  let connections = 0;
  // A real ws peer that authenticates everyone and then never sends another byte.
  wss.on('connection', (socket) => {
    connections++;
    const w = new FrameWriter(limits);
    const r = new FrameReader(limits);
    const send = (m: Parameters<FrameWriter['frames']>[0]) => w.frames(m).forEach((f) => socket.send(f));
    send({ type: 'challenge', serverNonce: new Uint8Array(32), federationId: 'silent', chunkBytes: limits.chunkBytes, maxMessageBytes: limits.maxMessageBytes });
    socket.on('message', (d: Buffer) => {
      const m = r.push(new Uint8Array(d));
      if (m?.type === 'auth') send({ type: 'welcome', name: 'x', nextRound: 1, sessionId: new Uint8Array(16), settings: { rounds: 1, aggregation: { mode: 'secagg', security: 'semi-honest', minClients: 3, minAggregate: 3 }, dp: null } });
    });
  });
  const port = (wss.address() as { port: number }).port;
  const set = { x: new Float32Array(1), y: new Int32Array(1), count: 1, shape: [1], numClasses: 2 };
  const events: ClientEvent[] = [];
  const client = runClient({
    url: `ws://127.0.0.1:${port}`,
    identity: ed25519Keypair(systemRng),
    data: { id: 0, support: set, query: set },
    backend: 'cpu',
    serverTimeoutMs: 300,
    reconnect: { baseDelayMs: 10, maxDelayMs: 20 },
    logger: (e) => events.push(e),
  });
  const started = Date.now();
  while (connections < 2 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
  await client.close();
  wss.close();
  assert.ok(connections >= 2, `reconnected after silence (connections: ${connections})`);
  assert.ok(events.some((e) => e.event === 'server.silent'));
});
