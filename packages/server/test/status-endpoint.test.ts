// GET /status on the server's own port (real http listener on loopback): a read-only JSON
// snapshot with counts only; every other request keeps the old "WebSocket only" answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { startServer } from '../src/server.js';
import type { ServerOptions } from '../src/options.js';
import { site } from './resume-sites.js';

function options(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'status-endpoint',
    roster: [ed25519Keypair(systemRng), ed25519Keypair(systemRng)].map((k, i) => ({ name: `secret-name-${i}`, publicKey: k.publicKey })),
    rounds: 4,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    backend: 'cpu',
    ...extra,
  };
}

test('GET /status returns the public status as JSON; other paths and methods are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-status-ep-'));
  const server = await startServer(options({ checkpointDir: dir, dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 7 } }));
  try {
    const http = server.url.replace(/^ws/, 'http');
    const res = await fetch(`${http}/status`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), {
      federationId: 'status-endpoint',
      round: 1,
      rounds: 4,
      phase: 'waiting',
      connected: 0,
      benched: 0,
      privacy: { epsilonSpent: 0, epsilonBudget: 7, delta: 1e-5 },
    });
    assert.doesNotMatch(text, /secret-name/, 'no roster names');
    assert.equal((await fetch(`${http}/status?x=1`)).status, 200, 'a query string is ignored');
    const head = await fetch(`${http}/status`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const post = await fetch(`${http}/status`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const other = await fetch(`${http}/`);
    assert.equal(other.status, 426);
    assert.match(await other.text(), /WebSocket only/);
    assert.equal((await fetch(`${http}/status/../status2`)).status, 426);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without DP the status has privacy null', async () => {
  const server = await startServer(options());
  try {
    const s = (await (await fetch(`${server.url.replace(/^ws/, 'http')}/status`)).json()) as Record<string, unknown>;
    assert.equal(s.privacy, null);
    assert.equal(s.phase, 'waiting');
  } finally {
    await server.close();
  }
});

test('GET /status counts the benched members, without naming them', { timeout: 60_000 }, async () => {
  const keys = [ed25519Keypair(systemRng), ed25519Keypair(systemRng), ed25519Keypair(systemRng)];
  const server = await startServer(
    options({
      roster: keys.map((k, i) => ({ name: `secret-name-${i}`, publicKey: k.publicKey })),
      aggregation: { mode: 'plaintext' },
      deadlines: { trainingMs: 500 },
      stragglers: { benchRounds: 3 },
    }),
  );
  const paramCount = 4 * 3 + 3 + 3 * 2 + 2;
  // Round 1: the silent member misses its deadline and is benched; the other two carry the
  // round and leave, so the server waits for a cohort with the benched member connected.
  const sites = keys.map((k, i) => site(server.url, k, i === 2 ? { paramCount, silent: true } : { paramCount, leaveAfterRound: 1 }));
  try {
    await Promise.all(sites.slice(0, 2));
    const deadline = Date.now() + 30_000;
    const idle = () => server.status().connected.length === 1 && server.status().phase === 'waiting';
    while (!idle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(idle(), 'waiting for a cohort, the benched member connected');
    assert.deepEqual(server.status().benched.map((b) => b.name), ['secret-name-2']);
    const res = await fetch(`${server.url.replace(/^ws/, 'http')}/status`);
    const text = await res.text();
    const s = JSON.parse(text) as Record<string, unknown>;
    assert.equal(s['benched'], 1);
    assert.equal(s['connected'], 1);
    assert.doesNotMatch(text, /secret-name/, 'no names of benched members');
  } finally {
    await server.close();
    await Promise.all(sites);
  }
});
