/**
 * TLS that explains itself, with certificates made by openssl in a temp dir and real
 * sockets on loopback. A client whose TLS handshake fails stops at once (no 10 retries)
 * with a typed code and a message naming the cause and the fix: ERR_TLS_UNTRUSTED (pin
 * the right certificate as client.ca), ERR_TLS_HOSTNAME (dial a name the certificate
 * carries, or re-issue it with that name), ERR_TLS_EXPIRED, ERR_TLS_PROTOCOL (ws vs wss).
 * The coordinator logs failed handshakes as `tls.handshake-failed`, rate-limited per
 * address. The same failure through the real `fedmeta client` process exits 1 and prints
 * the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type ServerEvent, type ServerHandle, type ServerOptions } from '@fedmeta/server';
import { runClient, type ClientEvent, type ClientOptions, type ClientSummary } from '@fedmeta/client';
import { baseServerOptions, EventLog, institutions, mnistFederation } from '../src/harness.js';
import { skipWithout } from '../src/tools.js';

const skip = skipWithout('openssl');

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-e2e-tlsdiag-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Pem {
  cert: Buffer;
  key: Buffer;
  certPath: string;
}

/** A self-signed certificate, the way docs/deployment.md tells coordinators to make one. */
function selfSigned(name: string, subject: string, san: string): Pem {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', subject, '-addext', `subjectAltName=${san}`, '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath };
}

/** A self-signed certificate valid only on 1-2 January 2020 (openssl ca can back-date); null if this openssl cannot. */
function expiredCert(): Pem | null {
  const ca = join(dir, 'expired-ca');
  mkdirSync(ca, { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  writeFileSync(join(ca, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', 'dir = .', 'database = index.txt', 'new_certs_dir = .', 'serial = serial',
    'default_md = sha256', 'policy = p', 'copy_extensions = copy', 'unique_subject = no', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  const run = (args: string[]) => spawnSync('openssl', args, { cwd: ca, stdio: 'ignore' }).status === 0;
  const ok =
    run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'e.key', '-out', 'e.csr', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']) &&
    run(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'e.key', '-in', 'e.csr', '-out', 'e.crt', '-notext', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
  return ok ? { cert: readFileSync(join(ca, 'e.crt')), key: readFileSync(join(ca, 'e.key')), certPath: join(ca, 'e.crt') } : null;
}

const certs = skip
  ? null
  : {
      /** What the coordinator serves in most tests: good for localhost and 127.0.0.1. */
      server: selfSigned('server', '/CN=localhost', 'DNS:localhost,IP:127.0.0.1'),
      /** Another coordinator's certificate: pinning it is "the wrong CA". */
      other: selfSigned('other', '/CN=other-coordinator', 'DNS:localhost,IP:127.0.0.1'),
      /** Only a DNS name, as the recipe in docs/deployment.md used to make: dialling the IP fails. */
      dnsOnly: selfSigned('dns-only', '/CN=localhost', 'DNS:localhost'),
    };

const insts = institutions(3, 'tlsdiag');
const fed = mnistFederation(3, 5);
const stranger = institutions(1, 'tlsdiag-stranger')[0]!;

async function withServer<T>(extra: Partial<ServerOptions>, body: (server: ServerHandle, log: EventLog) => Promise<T>): Promise<T> {
  const log = new EventLog();
  const server = await startServer(baseServerOptions(insts, { rounds: 1, ...extra, logger: log.logger }));
  try {
    return await body(server, log);
  } finally {
    await server.close();
  }
}

/** Runs a client with the default reconnect policy (retry forever with capped backoff; TLS certificate errors are final); its summary, events and how long it took. */
async function client(o: Partial<ClientOptions> & { url: string }): Promise<{ summary: ClientSummary; events: ClientEvent[]; ms: number }> {
  const events: ClientEvent[] = [];
  const t0 = Date.now();
  const handle = runClient({ identity: insts[0]!.keys, data: fed.clients[0]!, backend: 'cpu', logger: (e) => events.push(e), ...o });
  const summary = await handle.done;
  return { summary, events, ms: Date.now() - t0 };
}

async function until<T>(what: string, get: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a client pinning another certificate stops at once with ERR_TLS_UNTRUSTED naming client.ca; the server logs the handshake', { skip, timeout: 60_000 }, async () => {
  await withServer({ insecure: false, tls: { cert: certs!.server.cert, key: certs!.server.key } }, async (server, log) => {
    const { summary, events, ms } = await client({ url: server.url, tls: { ca: certs!.other.cert } });
    assert.equal(summary.endReason, 'failed');
    assert.equal(summary.error?.code, 'ERR_TLS_UNTRUSTED', summary.error?.message);
    const message = summary.error!.message;
    assert.match(message, /client\.ca/);
    assert.match(message, /PEM file of the CA or self-signed certificate the server uses/);
    assert.match(message, /subject "CN=localhost", self-signed/, 'names the certificate the server presents');
    assert.match(message, /CN=other-coordinator/, 'names the certificate client.ca holds');
    assert.equal(events.filter((e) => e.event === 'connect.failed').length, 1, 'no retry');
    assert.ok(ms < 5000, `gave up after ${ms} ms`);

    // Without any client.ca the same certificate is untrusted too, and the message says so.
    const bare = await client({ url: server.url });
    assert.equal(bare.summary.error?.code, 'ERR_TLS_UNTRUSTED');
    assert.match(bare.summary.error!.message, /No client\.ca is set/);

    const logged = await until('tls.handshake-failed', () => log.named('tls.handshake-failed').find((e) => e['remote'] === '127.0.0.1'));
    assert.equal(logged.level, 'warn');
    assert.equal(logged['code'], 'ECONNRESET');
    assert.match(String(logged['hint']), /client\.ca/);
  });
});

test('a client dialling an IP the certificate does not carry stops at once with ERR_TLS_HOSTNAME and the names to use', { skip, timeout: 60_000 }, async () => {
  await withServer({ insecure: false, tls: { cert: certs!.dnsOnly.cert, key: certs!.dnsOnly.key } }, async (server) => {
    assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    const { summary, events, ms } = await client({ url: server.url, tls: { ca: certs!.dnsOnly.cert } });
    assert.equal(summary.endReason, 'failed');
    assert.equal(summary.error?.code, 'ERR_TLS_HOSTNAME', summary.error?.message);
    const message = summary.error!.message;
    assert.match(message, /IP address 127\.0\.0\.1/);
    assert.match(message, /it carries DNS:localhost \(/);
    assert.match(message, new RegExp(`client\\.server to wss://localhost:${server.port}\\b`));
    assert.match(message, /subjectAltName including IP:127\.0\.0\.1/);
    assert.match(message, /docs\/deployment\.md, "3\. The coordinator gets a TLS certificate"/);
    assert.equal(events.filter((e) => e.event === 'connect.failed').length, 1, 'no retry');
    assert.ok(ms < 5000, `gave up after ${ms} ms`);

    // The fix the message gives works: dialling localhost passes TLS and reaches authentication
    // (this key is not on the roster, so the server refuses it there).
    const fixed = await client({ url: `wss://localhost:${server.port}`, identity: stranger.keys, tls: { ca: certs!.dnsOnly.cert } });
    assert.equal(fixed.summary.error?.code, 'ERR_AUTH_UNKNOWN_KEY', fixed.summary.error?.message);
  });
});

test('ws:// to a TLS port and wss:// to a plain port stop at once with ERR_TLS_PROTOCOL', { skip, timeout: 60_000 }, async () => {
  await withServer({ insecure: false, tls: { cert: certs!.server.cert, key: certs!.server.key } }, async (server, log) => {
    const plain = server.url.replace(/^wss:/, 'ws:');
    const { summary, ms } = await client({ url: plain });
    assert.equal(summary.error?.code, 'ERR_TLS_PROTOCOL', summary.error?.message);
    assert.match(summary.error!.message, new RegExp(`is a TLS \\(wss://\\) server.*client\\.server to ${escape(server.url)}`));
    assert.ok(ms < 5000, `gave up after ${ms} ms`);
    const logged = await until('an http-request handshake failure', () => log.named('tls.handshake-failed').find((e) => e['code'] === 'ERR_SSL_HTTP_REQUEST'));
    assert.match(String(logged['hint']), /wss:\/\//);
  });
  await withServer({}, async (server) => {
    assert.match(server.url, /^ws:\/\//);
    const { summary, ms } = await client({ url: server.url.replace(/^ws:/, 'wss:') });
    assert.equal(summary.error?.code, 'ERR_TLS_PROTOCOL', summary.error?.message);
    assert.match(summary.error!.message, /does not speak TLS/);
    assert.ok(ms < 5000, `gave up after ${ms} ms`);
  });
});

test('an expired certificate stops the client at once with ERR_TLS_EXPIRED and its dates', { skip, timeout: 60_000 }, async (t) => {
  const expired = expiredCert();
  if (!expired) return t.skip('this openssl cannot back-date a certificate');
  await withServer({ insecure: false, tls: { cert: expired.cert, key: expired.key } }, async (server) => {
    const { summary, ms } = await client({ url: server.url, tls: { ca: expired.cert } });
    assert.equal(summary.error?.code, 'ERR_TLS_EXPIRED', summary.error?.message);
    assert.match(summary.error!.message, /has expired \(CERT_HAS_EXPIRED\): it is valid from Jan {1,2}1 00:00:00 2020 GMT to Jan {1,2}2 00:00:00 2020 GMT/);
    assert.match(summary.error!.message, /renew its certificate/);
    assert.ok(ms < 5000, `gave up after ${ms} ms`);
  });
});

/** One TCP connection that sends a plain HTTP request to the TLS port and waits for the close. */
function plainHttp(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => s.write('GET /status HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

test('many failed handshakes from one address make one log line, and one count when the window ends', { skip, timeout: 60_000 }, async () => {
  await withServer({ insecure: false, tls: { cert: certs!.server.cert, key: certs!.server.key } }, async (server, log) => {
    const mine = (name: string) => log.named(name).filter((e) => e['remote'] === '127.0.0.1');
    const n = 60;
    const t0 = Date.now();
    for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: 10 }, () => plainHttp(server.port)));
    // A port check (connect, then close without a ClientHello) is a debug line of its own.
    await new Promise<void>((resolve) => {
      const s = netConnect(server.port, '127.0.0.1', () => s.end());
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    await until('the port-check line', () => mine('tls.handshake-failed').find((e) => e.level === 'debug'));
    assert.ok(Date.now() - t0 < 9000, 'the burst fits in one 10 s window');
    const warned = mine('tls.handshake-failed').filter((e) => e.level === 'warn');
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.equal(warned[0]!['code'], 'ERR_SSL_HTTP_REQUEST');
    assert.match(String(warned[0]!['reason']), /http request/);
    assert.equal(mine('tls.handshake-failed').length, 2);
    // When the window ends, one line reports how many were not logged.
    const counted = await until('the suppressed count', () => mine('tls.handshake-failed.suppressed')[0], 15_000);
    assert.equal(counted['count'], n - 1);
    assert.equal(counted.level, 'warn');
    assert.equal(mine('tls.handshake-failed.suppressed').length, 1);
    const all: ServerEvent[] = log.events.filter((e) => String(e.event).startsWith('tls.'));
    assert.equal(all.length, 3, JSON.stringify(all));
  });
});

test('fedmeta client (a real process) exits 1 at once and prints the host-name fix', { skip, timeout: 120_000 }, async () => {
  const main = fileURLToPath(new URL('../../../cli/dist/src/main.js', import.meta.url));
  const site = join(dir, 'hospital-a');
  mkdirSync(site);
  const keygen = spawnSync(process.execPath, [main, 'keygen', '--name', 'hospital-a'], { cwd: site, encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  await withServer({ insecure: false, tls: { cert: certs!.dnsOnly.cert, key: certs!.dnsOnly.key } }, async (server) => {
    writeFileSync(join(site, 'client.yaml'), [
      'client:',
      '  identity: hospital-a.json',
      `  server: ${server.url}`,
      `  ca: ${certs!.dnsOnly.certPath}`,
      `data: { clientIndex: 0, supportPerClass: 10, queryPerClass: 20 }`,
      '',
    ].join('\n'));
    const child = spawn(process.execPath, [main, 'client', '--config', 'client.yaml'], { cwd: site, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let connectingAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!connectingAt && /connecting to wss:/.test(out)) connectingAt = Date.now();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const exitedAt = Date.now();
    assert.equal(code, 1, `stdout:\n${out}\nstderr:\n${err}`);
    assert.ok(connectingAt > 0, out);
    assert.ok(exitedAt - connectingAt < 5000, `exited ${exitedAt - connectingAt} ms after it started connecting`);
    assert.match(err, /ERR_TLS_HOSTNAME/);
    assert.match(err, /127\.0\.0\.1/);
    assert.match(err, /DNS:localhost/);
    assert.match(err, new RegExp(`set client\\.server to wss://localhost:${server.port}`));
    assert.match(err, /subjectAltName including IP:127\.0\.0\.1/);
    assert.doesNotMatch(out, /backoff/, 'no retries');
  });
});
