/**
 * (d) TLS: a wss coordinator with a self-signed certificate made by `openssl req -x509`
 * in the test. A client that pins that certificate (tls.ca) joins and completes rounds;
 * a client that does not trust it is refused by TLS itself (ERR_TLS_UNTRUSTED, at once); a server without TLS that did
 * not say `insecure: true` refuses to start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, ServerError } from '@fedmeta/server';
import { runClient } from '@fedmeta/client';
import { baseServerOptions, institutions, mnistFederation } from '../src/harness.js';
import { skipWithout } from '../src/tools.js';


test('wss with a pinned self-signed certificate', { timeout: 120_000, skip: skipWithout('openssl') }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-e2e-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const key = readFileSync(join(dir, 'key.pem'));
    const insts = institutions(3, 'tls');
    const fed = mnistFederation(3, 9);
    const { insecure: _ignored, ...noInsecure } = baseServerOptions(insts, { rounds: 1, aggregation: { mode: 'secagg' } });

    // Without TLS and without an explicit insecure: true the server refuses to start.
    await assert.rejects(startServer(noInsecure), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG' && /insecure/.test(e.message));

    const server = await startServer({ ...noInsecure, tls: { cert, key } });
    assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+$/);

    // A client that does not trust the certificate never gets in, and is told at once
    // (no retries: the default policy would try 10 times) to pin it as client.ca.
    const untrusting = runClient({ url: server.url, identity: insts[0]!.keys, data: fed.clients[0]!, backend: 'cpu' });
    const refused = await untrusting.done;
    assert.equal(refused.endReason, 'failed');
    assert.equal(refused.error?.code, 'ERR_TLS_UNTRUSTED');
    assert.match(refused.error!.message, /DEPTH_ZERO_SELF_SIGNED_CERT: self[- ]signed certificate/i);
    assert.match(refused.error!.message, /client\.ca/);

    // Clients pinning the certificate complete the round over wss.
    const clients = insts.map((inst, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu', tls: { ca: cert } }));
    const summary = await server.done;
    assert.deepEqual(summary.rounds.map((r) => [r.status, r.survivors]), [['completed', 3]]);
    for (const c of await Promise.all(clients.map((c) => c.done))) assert.equal(c.endReason, 'federation-done');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
