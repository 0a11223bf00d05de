// `fedmeta status --url` against a real running server on loopback: wss with a
// self-signed certificate (openssl) pinned with --ca, a real authenticated client
// connected, and plain ws; plus the refusals (untrusted certificate, nothing listening,
// a server without the endpoint, a bad URL), through the real `fedmeta` binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { runClient } from '@fedmeta/client';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { startServer, type ServerOptions } from '@fedmeta/server';
import { fetchLiveStatus, renderLiveStatus, statusEndpoint } from '../src/commands/status.js';
import { CliError } from '../src/errors.js';

const bin = fileURLToPath(new URL('../../bin/fedmeta.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fedmeta-status-url-'));

/** The CLI as a child process, without blocking this process's event loop (the server runs here). */
function fedmeta(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const keys = [ed25519Keypair(systemRng), ed25519Keypair(systemRng)];
function options(extra: Partial<ServerOptions>): ServerOptions {
  return {
    port: 0,
    federationId: 'live',
    roster: keys.map((k, i) => ({ name: `site-${i}`, publicKey: k.publicKey })),
    rounds: 3,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    backend: 'cpu',
    ...extra,
  };
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

test('wss: --url with --ca reports the live round, phase, a connected client and epsilon', { skip: hasOpenssl ? false : 'openssl not found' }, async () => {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cert = readFileSync(join(root, 'cert.pem'));
  const server = await startServer(options({
    tls: { cert, key: readFileSync(join(root, 'key.pem')) },
    checkpointDir: join(root, 'ckpt'),
    dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 9 },
  }));
  const data = { x: new Float32Array(8), y: new Int32Array([0, 1]), count: 2, shape: [4], numClasses: 2 };
  const client = runClient({ url: server.url, identity: keys[0]!, tls: { ca: cert }, data: { id: 0, support: data, query: data }, backend: 'cpu' });
  try {
    // The one client authenticates; the round waits for the second (minClients 2).
    for (let i = 0; i < 200 && server.status().connected.length < 1; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(server.status().connected.length, 1);
    const live = await fedmeta(['status', '--url', server.url, '--ca', join(root, 'cert.pem'), '--json']);
    assert.equal(live.code, 0, live.stderr);
    assert.deepEqual(JSON.parse(live.stdout), {
      federationId: 'live', round: 1, rounds: 3, phase: 'waiting', connected: 1, benched: 0,
      privacy: { epsilonSpent: 0, epsilonBudget: 9, delta: 1e-5 },
    });
    const text = await fedmeta(['status', '--url', server.url.replace('wss:', 'https:'), '--ca', join(root, 'cert.pem')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^round {8}1 of 3, phase waiting$/m);
    assert.match(text.stdout, /^connected {4}1 client$/m);
    assert.match(text.stdout, /^privacy {6}epsilon 0\.000 of 9 spent \(delta 0\.00001\)$/m);
    assert.doesNotMatch(text.stdout, /site-0/);
    // Without the certificate: a clear refusal, exit 1.
    const untrusted = await fedmeta(['status', '--url', server.url]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^fedmeta status: --url: the certificate of 127\.0\.0\.1:\d+ is not trusted \(\w+\); pass --ca FILE/);
    const missingCa = await fedmeta(['status', '--url', server.url, '--ca', join(root, 'nope.pem')]);
    assert.equal(missingCa.code, 2);
    assert.match(missingCa.stderr, /--ca: cannot read .*nope\.pem \(ENOENT\)/);
  } finally {
    await client.close();
    await server.close();
  }
});

test('plain ws: --url works over http; wrong usage and unreachable servers are clear errors', async () => {
  const server = await startServer(options({ insecure: true }));
  try {
    const s = await fetchLiveStatus(server.url);
    assert.deepEqual(s, { federationId: 'live', round: 1, rounds: 3, phase: 'waiting', connected: 0, benched: 0, privacy: null });
    assert.match(renderLiveStatus(s, server.url), /^privacy {6}DP off$/m);
    assert.match(renderLiveStatus({ ...s, benched: 2 }, server.url), /^connected {4}0 clients, 2 benched \(left out of the next rounds for missing deadlines\)$/m);
    await assert.rejects(fetchLiveStatus(server.url, new Uint8Array([1])), (e: unknown) => e instanceof CliError && /--ca: only for https/.test(e.message));
    // https against a plain server: TLS fails, and the message says what to try.
    await assert.rejects(fetchLiveStatus(server.url.replace('ws:', 'https:')), (e: unknown) => e instanceof CliError && e.exitCode === 1 && /--url: /.test(e.message));
  } finally {
    await server.close();
  }
  // Nothing listens there any more.
  await assert.rejects(fetchLiveStatus(server.url), (e: unknown) => e instanceof CliError && e.exitCode === 1 && /cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/.test(e.message));
  // A server without the endpoint (what older fedmeta servers answer) and one answering junk.
  for (const [status, body, re] of [
    [426, 'fedmeta: WebSocket only\n', /answered HTTP 426 to GET \/status \(a fedmeta server without the status endpoint\?\)/],
    [200, 'not json', /not JSON/],
    [200, '{"round":"1"}', /not a fedmeta status/],
  ] as const) {
    const other = createServer((_req, res) => res.writeHead(status).end(body));
    await new Promise<void>((res) => other.listen(0, '127.0.0.1', res));
    try {
      await assert.rejects(fetchLiveStatus(`http://127.0.0.1:${(other.address() as AddressInfo).port}`), (e: unknown) => e instanceof CliError && re.test(e.message));
    } finally {
      await new Promise((res) => other.close(res));
    }
  }
  assert.equal(statusEndpoint('wss://example.org:8443/some/path').href, 'https://example.org:8443/status');
  assert.throws(() => statusEndpoint('ftp://x'), /--url: unsupported scheme ftp:/);
  assert.throws(() => statusEndpoint('not a url'), /--url: not a URL/);
  const both = await fedmeta(['status', '--url', 'https://127.0.0.1:1', '--checkpoint', root]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--url asks a running server/);
  const caAlone = await fedmeta(['status', '--checkpoint', root, '--ca', 'x.pem']);
  assert.equal(caAlone.code, 2);
  assert.match(caAlone.stderr, /--ca: only with --url/);
});
