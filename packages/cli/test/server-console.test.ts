// The coordinator's console on failed TLS handshakes: a real `fedmeta server` process with
// a certificate made by openssl, and real sockets on loopback that speak plain HTTP to its
// TLS port or only probe it. The console line carries what the JSON log carries: the code,
// the hint and the count of failures not shown one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, freePort, hasOpenssl } from './run-cli.js';



/** Opens a TCP connection to the port, writes `bytes` (none: a port check) and waits for the close. */
function probe(port: number, bytes: string): Promise<void> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1', () => {
      if (bytes) s.write(bytes);
      else s.end();
    });
    s.on('error', () => undefined);
    s.on('close', () => res());
    s.resume();
  });
}

async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a failed TLS handshake on the coordinator\'s console names the code, the hint and the failures counted but not shown; port checks stay in the JSON log', { timeout: 90_000, skip: hasOpenssl() ? false : 'openssl not found' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-server-console-'));
  let server: ReturnType<typeof spawn> | undefined;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt')], { stdio: 'ignore' });
    for (const n of ['a', 'b', 'c']) assert.equal(spawnSync(process.execPath, [bin, 'keygen', '--name', n], { cwd: dir }).status, 0);
    assert.equal(spawnSync(process.execPath, [bin, 'keygen', '--roster', 'roster.json', '--add', 'a.pub.json', '--add', 'b.pub.json', '--add', 'c.pub.json'], { cwd: dir }).status, 0);
    const port = await freePort();
    writeFileSync(
      join(dir, 'server.json'),
      JSON.stringify({
        server: { host: '127.0.0.1', port, tls: { cert: 'server.crt', key: 'server.key' }, roster: 'roster.json', rounds: 1, minClients: 3, checkpointDir: 'ck' },
        secagg: { mode: 'secagg' },
        dp: { enabled: false },
        meta: { hidden: 8 },
        data: { supportPerClass: 5, queryPerClass: 2 },
        output: { model: 'model', log: 'server.log.jsonl' },
      }),
    );
    server = spawn(process.execPath, [bin, 'server', '--config', 'server.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await until('the banner', () => /^fedmeta server: wss:\/\/127\.0\.0\.1:\d+/m.test(out), 60_000);

    // Plain HTTP on the TLS port, four times within the rate limit's window: one line, then the count.
    for (let i = 0; i < 4; i++) await probe(port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until('the handshake line', () => /TLS handshake failed from 127\.0\.0\.1/.test(out), 10_000);
    assert.match(out, /^TLS handshake failed from 127\.0\.0\.1: .*\(ERR_SSL_HTTP_REQUEST\): plain HTTP or ws:\/\/ on the TLS port: clients must dial wss:\/\/$/m);
    // A port check (no ClientHello): logged at debug level, not an operator's concern.
    await probe(port, '');
    const log = join(dir, 'server.log.jsonl');
    const events = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []);
    await until('the port check in the JSON log', () => events().some((e) => e['event'] === 'tls.handshake-failed' && e['level'] === 'debug'), 10_000);
    // The window (10 s) ends: the three not shown are counted on the console.
    await until('the count', () => /more failed TLS handshake/.test(out), 30_000);
    assert.match(out, /^3 more failed TLS handshake\(s\) from 127\.0\.0\.1 within 10 s after the one shown \(last ERR_SSL_HTTP_REQUEST\), counted but not shown one by one$/m);
    assert.doesNotMatch(out, /no TLS ClientHello/, 'the port check is not on the console');
    assert.equal(out.match(/^TLS handshake failed/gm)?.length, 1);
  } finally {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
