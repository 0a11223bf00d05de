// The multi-machine recipe of docs/deployment.md, on one machine: keygen per institution, a roster, a
// self-signed TLS certificate (openssl), `fedmeta server --config` and three
// `fedmeta client --config` processes over wss, plus a stranger whose key is not on the
// roster. Then `fedmeta status`, and a server stopped by SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './run-cli.js';

const bin = fileURLToPath(new URL('../../bin/fedmeta.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fedmeta-realfed-'));

function fedmeta(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `fedmeta ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}
function start(cwd: string, ...args: string[]): Running {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


/** A self-signed certificate for localhost, as docs/deployment.md tells coordinators to make one. */
function selfSignedCert(dir: string): boolean {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.crt',
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, encoding: 'utf8' });
  return r.status === 0 && existsSync(join(dir, 'server.crt'));
}

test('a federation of separate processes over TLS: 3 institutions, a stranger refused, status afterwards', async () => {
  const coord = join(root, 'coordinator');
  mkdirSync(coord);
  const names = ['hospital-a', 'hospital-b', 'hospital-c', 'stranger'];
  for (const name of names) {
    mkdirSync(join(root, name));
    fedmeta(join(root, name), 'keygen', '--name', name);
  }
  fedmeta(coord, 'keygen', '--roster', 'roster.json', ...names.slice(0, 3).flatMap((n) => ['--add', `../${n}/${n}.pub.json`]));
  const tls = selfSignedCert(coord);
  // Without openssl the same run goes over plain ws (insecure: true), which the config must say.
  const port = await freePort();
  writeFileSync(join(coord, 'server.yaml'), [
    'server:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    tls ? '  tls: { cert: server.crt, key: server.key }' : '  insecure: true',
    '  roster: roster.json',
    '  federationId: test-consortium',
    '  checkpointDir: checkpoint',
    '  rounds: 2',
    '  minClients: 3',
    'secagg: { mode: secagg }',
    'dp: { epsilon: 50 }',
    'meta: { hidden: 16 }',
    'data: { supportPerClass: 10, queryPerClass: 20 }',
    'output: { model: model, log: server.log.jsonl }',
    '',
  ].join('\n'));
  names.forEach((name, i) => {
    writeFileSync(join(root, name, 'client.yaml'), [
      'client:',
      `  identity: ${name}.json`,
      `  server: ${tls ? 'wss' : 'ws'}://localhost:${port}`,
      ...(tls ? ['  ca: ../coordinator/server.crt'] : []),
      '  federationId: test-consortium',
      '  reconnect: { maxAttempts: 3 }',
      `data: { clientIndex: ${i % 3}, supportPerClass: 10, queryPerClass: 20 }`,
      '',
    ].join('\n'));
  });
  const server = start(coord, 'server', '--config', 'server.yaml');
  await until('the server banner', () => /fedmeta server: wss?:\/\/127\.0\.0\.1:\d+/.test(server.out() + server.err()));
  const clients = names.map((name) => start(join(root, name), 'client', '--config', 'client.yaml'));
  const codes = await Promise.all(clients.map((c) => c.exit));
  const serverCode = await server.exit;
  assert.equal(serverCode, 0, server.err());
  assert.deepEqual(codes.slice(0, 3), [0, 0, 0], clients.map((c) => c.err()).join('\n'));
  assert.match(server.out(), /fedmeta server: completed; 2 rounds completed in all; epsilon \d+\.\d+ of 50 spent/);
  assert.match(clients[0]!.out(), /fedmeta client 'hospital-a': federation-done; 2 rounds contributed/);
  // The stranger is refused at the handshake with a typed error, and the rounds went on.
  assert.equal(codes[3], 1);
  assert.match(clients[3]!.err(), /ERR_AUTH_UNKNOWN_KEY/);
  assert.ok(existsSync(join(coord, 'model', 'model.json')));
  const status = fedmeta(root, 'status', '--config', join(coord, 'server.yaml'));
  assert.match(status, /^federation {3}test-consortium$/m);
  assert.match(status, /^rounds {7}2 completed, 0 aborted; next round 3$/m);
  assert.match(status, /^privacy {6}epsilon \d+\.\d+ of 50 spent/m);
  assert.match(status, /^roster {7}3 clients, 3 active/m);
});

test('fedmeta server exits cleanly on SIGTERM while waiting for clients', async () => {
  const dir = join(root, 'sigterm');
  mkdirSync(dir);
  for (const n of ['a', 'b', 'c']) fedmeta(dir, 'keygen', '--name', n);
  fedmeta(dir, 'keygen', '--roster', 'roster.json', '--add', 'a.pub.json', '--add', 'b.pub.json', '--add', 'c.pub.json');
  const port = await freePort();
  writeFileSync(join(dir, 'server.json'), JSON.stringify({ server: { host: '127.0.0.1', port, insecure: true, roster: 'roster.json', checkpointDir: 'ck' }, meta: { hidden: 16 } }));
  const server = start(dir, 'server', '--config', 'server.json');
  await until('the server banner', () => /fedmeta server: ws:\/\//.test(server.out()));
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const code = await server.exit;
  assert.equal(code, 130);
  assert.ok(Date.now() - t0 < 10_000, 'shut down promptly');
  assert.match(server.out(), /SIGTERM: closing connections/);
  assert.match(server.out(), /fedmeta server: closed; 0 rounds completed/);
});
