// The keygen command as users run it: a real `fedmeta` child process per step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/fedmeta.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fedmeta-keygen-'));

function fedmeta(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('keygen writes a 0600 identity and a public file, prints key and roster line', () => {
  const r = fedmeta('keygen', '--name', 'hospital-a', '--out', 'keys');
  assert.equal(r.code, 0, r.err);
  const secret = JSON.parse(readFileSync(join(dir, 'keys/hospital-a.json'), 'utf8'));
  assert.equal(secret.kind, 'fedmeta-identity');
  assert.equal(secret.version, 1);
  assert.match(secret.secretKey, /^[0-9a-f]{64}$/);
  assert.equal(statSync(join(dir, 'keys/hospital-a.json')).mode & 0o777, 0o600);
  const pub = JSON.parse(readFileSync(join(dir, 'keys/hospital-a.pub.json'), 'utf8'));
  assert.deepEqual(Object.keys(pub).sort(), ['kind', 'name', 'publicKey', 'version']);
  assert.equal(pub.publicKey, secret.publicKey);
  assert.match(r.out, new RegExp(`public key:  ${secret.publicKey}`));
  assert.ok(r.out.includes(`roster line: {"name":"hospital-a","publicKey":"${secret.publicKey}"}`));
});

test('keygen refuses to overwrite without --force (exit 1) and replaces with it', () => {
  fedmeta('keygen', '--name', 'lab', '--out', 'k2');
  const before = readFileSync(join(dir, 'k2/lab.json'), 'utf8');
  const again = fedmeta('keygen', '--name', 'lab', '--out', 'k2');
  assert.equal(again.code, 1);
  assert.match(again.err, /^fedmeta keygen: .*lab\.json already exists; refusing to overwrite it \(pass --force/);
  assert.equal(readFileSync(join(dir, 'k2/lab.json'), 'utf8'), before);
  assert.equal(fedmeta('keygen', '--name', 'lab', '--out', 'k2', '--force').code, 0);
  assert.notEqual(readFileSync(join(dir, 'k2/lab.json'), 'utf8'), before);
});

test('keygen --roster builds, lists and revokes; duplicates are refused', () => {
  fedmeta('keygen', '--name', 'a', '--out', 'r');
  fedmeta('keygen', '--name', 'b', '--out', 'r');
  const add = fedmeta('keygen', '--roster', 'roster.json', '--add', 'r/a.pub.json', '--add', 'r/b.pub.json');
  assert.equal(add.code, 0, add.err);
  assert.match(add.out, /roster\.json: 2 client\(s\), 2 active/);
  const roster = JSON.parse(readFileSync(join(dir, 'roster.json'), 'utf8'));
  assert.equal(roster.kind, 'fedmeta-roster');
  assert.deepEqual(roster.clients.map((c: { name: string }) => c.name), ['a', 'b']);
  const dup = fedmeta('keygen', '--roster', 'roster.json', '--add', 'r/a.pub.json');
  assert.equal(dup.code, 2);
  assert.match(dup.err, /a client named 'a' is already in the roster/);
  assert.equal(fedmeta('keygen', '--roster', 'roster.json', '--revoke', 'b').code, 0);
  const list = fedmeta('keygen', '--roster', 'roster.json');
  assert.match(list.out, /2 client\(s\), 1 active/);
  assert.match(list.out, /^ {2}b +[0-9a-f]{64} {2}REVOKED$/m);
});

test('keygen usage errors exit 2 with one line naming the problem', () => {
  const none = fedmeta('keygen');
  assert.equal(none.code, 2);
  assert.match(none.err, /--name is required/);
  const typo = fedmeta('keygen', '--nmae', 'x');
  assert.equal(typo.code, 2);
  assert.match(typo.err, /unknown option --nmae; did you mean --name\?/);
  const badName = fedmeta('keygen', '--name', 'a b');
  assert.equal(badName.code, 2);
  assert.match(badName.err, /name: must be 1-64 characters/);
});
