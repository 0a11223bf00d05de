/**
 * Limits before the WebSocket upgrade, on a real listener over loopback: idle TCP
 * connections are closed by the configured timeout, a slow-header drip does not hold a
 * socket, one address cannot take more than its share, and an upgraded connection is not
 * subject to the pre-upgrade idle timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { resolveLimits } from '@fedmeta/transport';
import { listen, type ConnectionLimits } from '../src/listener.js';
import type { ServerEvent } from '../src/options.js';

function closedWithin(sock: Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  return s;
}

const limits = (over: Partial<ConnectionLimits>): ConnectionLimits => ({ max: 1024, perAddress: 64, idleTimeoutMs: 10_000, headersTimeoutMs: 10_000, ...over });

test('idle TCP connections that never send a byte are closed after idleTimeoutMs', async () => {
  const l = await listen({ port: 0, insecure: true, connectionLimits: limits({ idleTimeoutMs: 300 }) }, resolveLimits());
  try {
    const socks = await Promise.all(Array.from({ length: 20 }, () => open(l.port)));
    const took = await Promise.all(socks.map((s) => closedWithin(s, 3_000)));
    for (const t of took) assert.ok(t >= 250, `closed by the timer, not at once (${t} ms)`);
  } finally {
    await l.close();
  }
});

test('a client dripping its request headers one byte at a time is cut off by headersTimeoutMs', async () => {
  const l = await listen({ port: 0, insecure: true, connectionLimits: limits({ idleTimeoutMs: 5_000, headersTimeoutMs: 600 }) }, resolveLimits());
  try {
    const s = await open(l.port);
    const header = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ' + 'a'.repeat(200);
    let i = 0;
    const drip = setInterval(() => {
      if (!s.destroyed && i < header.length) s.write(header[i++]!);
    }, 100);
    try {
      // Node checks header deadlines on its own interval (up to ~1 s late).
      const took = await closedWithin(s, 5_000);
      assert.ok(took < 5_000 && i < header.length, `cut off after ${took} ms and ${i} bytes`);
    } finally {
      clearInterval(drip);
    }
  } finally {
    await l.close();
  }
});

test('one remote address gets at most perAddress connections; the refusals are logged', async () => {
  const events: ServerEvent[] = [];
  const l = await listen({ port: 0, insecure: true, logger: (e) => events.push(e), connectionLimits: limits({ perAddress: 3 }) }, resolveLimits());
  try {
    const kept = await Promise.all([1, 2, 3].map(() => open(l.port)));
    const extra = await open(l.port);
    await closedWithin(extra, 2_000);
    for (const s of kept) assert.equal(s.destroyed, false);
    assert.equal(events.filter((e) => e.event === 'connections.refused').length, 1);
    assert.equal(events[0]!.perAddress, 3);
    // A slot frees when one closes.
    kept[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await open(l.port);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(again.destroyed, false);
    for (const s of [...kept, again]) s.destroy();
  } finally {
    await l.close();
  }
});

test('an upgraded WebSocket is not closed by the pre-upgrade idle timer', async () => {
  const l = await listen({ port: 0, insecure: true, connectionLimits: limits({ idleTimeoutMs: 200 }) }, resolveLimits());
  try {
    const ws = new WebSocket(l.url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
  } finally {
    await l.close();
  }
});
