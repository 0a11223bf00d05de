import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { Connection } from '../src/connection.js';
import { resolveLimits, wsMaxPayload, FRAME_HEADER_BYTES } from '../src/limits.js';
import type { RuntimeMessage } from '../src/frames.js';

test('a 4M-entry vector crosses a real ws connection in 1 MiB chunks and arrives intact', { timeout: 30_000 }, async () => {
  const limits = resolveLimits();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: wsMaxPayload(limits) });
  await new Promise((r) => wss.once('listening', r));
  const frameSizes: number[] = [];
  const received = new Promise<{ msg: RuntimeMessage; conn: Connection }>((resolve) => {
    wss.on('connection', (socket) => {
      socket.on('message', (d: Buffer) => frameSizes.push(d.length));
      const conn: Connection = new Connection(socket, limits, { onMessage: (msg) => resolve({ msg, conn }), onClose: () => undefined });
    });
  });
  const socket = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { maxPayload: wsMaxPayload(limits) });
  await new Promise((r) => socket.once('open', r));
  const client = new Connection(socket, limits, { onMessage: () => undefined, onClose: () => undefined });
  const vector = new Uint32Array(4 << 20);
  for (let i = 0; i < vector.length; i++) vector[i] = Math.imul(i, 2654435761) >>> 0;
  client.send({ type: 'plainInput', round: 9, vector });
  const { msg, conn } = await received;
  assert.equal(msg.type, 'plainInput');
  assert.ok(msg.type === 'plainInput' && Buffer.from(msg.vector.buffer).equals(Buffer.from(vector.buffer)));
  const payload = 8 + 4 * vector.length;
  assert.equal(frameSizes.length, Math.ceil(payload / limits.chunkBytes));
  assert.ok(frameSizes.every((n) => n <= limits.chunkBytes + FRAME_HEADER_BYTES));
  assert.equal(conn.reader.bufferedBytes, 0, 'the reassembly buffer is released after delivery');
  assert.equal(client.bytesOut, frameSizes.reduce((a, b) => a + b, 0));
  socket.close();
  wss.close();
});
