import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IdentityError,
  addToRoster,
  generateIdentity,
  publicKeyOf,
  readIdentity,
  readPublicIdentity,
  readRoster,
  revokeInRoster,
  rosterToJson,
  signWith,
  verifyWith,
  writeIdentity,
} from '../src/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-identity-'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IdentityError, `expected IdentityError, got ${String(err)}`);
    return `${err.code} ${err.message}`;
  }
  assert.fail('expected an IdentityError');
}

test('RFC 8032 test 1: the public key of the all-known seed', () => {
  // RFC 8032 sec. 7.1, TEST 1.
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  assert.equal(hex(publicKeyOf(seed)), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = signWith({ name: 'rfc', secretKey: seed, publicKey: publicKeyOf(seed) }, new Uint8Array(0));
  assert.equal(hex(sig).slice(0, 32), 'e5564300c360ac729086e2cc806e828a');
});

test('a generated identity signs and verifies; a changed message fails', () => {
  const id = generateIdentity('hospital-a');
  const msg = new TextEncoder().encode('challenge');
  const sig = signWith(id, msg);
  assert.ok(verifyWith(id.publicKey, msg, sig));
  assert.ok(!verifyWith(id.publicKey, new TextEncoder().encode('challengf'), sig));
});

test('identity files round-trip; the secret file is 0600, the public one has no secret', () => {
  const id = generateIdentity('lab-1');
  const { secretPath, publicPath } = writeIdentity(dir, id);
  assert.equal(statSync(secretPath).mode & 0o777, 0o600);
  const back = readIdentity(secretPath);
  assert.equal(back.warning, undefined);
  assert.deepEqual(back.identity, id);
  assert.doesNotMatch(readFileSync(publicPath, 'utf8'), /secretKey/);
  assert.deepEqual(readPublicIdentity(publicPath), { name: 'lab-1', publicKey: id.publicKey });
  assert.match(codeOf(() => writeIdentity(dir, generateIdentity('lab-1'))), /^ERR_IDENTITY_EXISTS .*refusing to overwrite/);
  assert.deepEqual(readIdentity(secretPath).identity, id, 'the refused write left the old key alone');
  const replaced = generateIdentity('lab-1');
  writeIdentity(dir, replaced, true);
  assert.deepEqual(readIdentity(secretPath).identity, replaced);
  chmodSync(secretPath, 0o644);
  assert.match(readIdentity(secretPath).warning!, /readable by other users.*chmod 600/);
});

test('bad identity files are refused with the field named', () => {
  const id = generateIdentity('x');
  const good = { kind: 'fedmeta-identity', version: 1, name: 'x', publicKey: hex(id.publicKey), secretKey: hex(id.secretKey) };
  const cases: [unknown, RegExp][] = [
    ['not json', /not valid JSON/],
    [[1], /must be a JSON object/],
    [{ ...good, kind: 'other' }, /kind must be 'fedmeta-identity'/],
    [{ ...good, version: 2 }, /version must be 1 \(got 2\)/],
    [{ ...good, name: 'bad name' }, /name: must be 1-64 characters/],
    [{ ...good, publicKey: 'abc' }, /publicKey must be 64 lowercase hex characters \(32 bytes\) \(got 3 characters\)/],
    [{ ...good, secretKey: 7 }, /secretKey must be 64 lowercase hex characters .*got number/],
    [{ ...good, publicKey: hex(generateIdentity('y').publicKey) }, /publicKey does not belong to secretKey/],
    [{ kind: 'fedmeta-public-identity', version: 1, name: 'x', publicKey: good.publicKey }, /this is a public identity/],
  ];
  for (const [doc, pattern] of cases) {
    const file = join(dir, 'bad.json');
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    assert.match(codeOf(() => readIdentity(file)), pattern);
    assert.match(codeOf(() => readIdentity(file)), /^ERR_IDENTITY_FILE /);
  }
  assert.match(codeOf(() => readIdentity(join(dir, 'nope.json'))), /cannot read \(ENOENT\)/);
  assert.match(codeOf(() => generateIdentity('../etc/passwd')), /^ERR_IDENTITY_NAME /);
});

test('rosters: unique names and keys, revocation kept, round-trip, strict parsing', () => {
  const a = generateIdentity('a');
  const b = generateIdentity('b');
  const roster = { clients: [] as { name: string; publicKey: Uint8Array; revoked: boolean }[] };
  addToRoster(roster, a);
  addToRoster(roster, b);
  assert.match(codeOf(() => addToRoster(roster, { name: 'a', publicKey: generateIdentity('z').publicKey })), /^ERR_ROSTER_DUPLICATE a client named 'a'/);
  assert.match(codeOf(() => addToRoster(roster, { name: 'c', publicKey: a.publicKey })), /^ERR_ROSTER_DUPLICATE this public key is already in the roster as 'a'/);
  revokeInRoster(roster, 'b');
  assert.match(codeOf(() => revokeInRoster(roster, 'q')), /^ERR_ROSTER_UNKNOWN no client named 'q' in the roster \(known: a, b\)/);
  const file = join(dir, 'roster.json');
  writeFileSync(file, rosterToJson(roster));
  assert.deepEqual(readRoster(file), roster);
  writeFileSync(file, JSON.stringify({ kind: 'fedmeta-roster', version: 1, clients: [{ name: 'a', publicKey: hex(a.publicKey), admin: true }] }));
  assert.match(codeOf(() => readRoster(file)), /^ERR_ROSTER_FILE .*clients\[0\]\.admin: unknown field/);
  writeFileSync(file, JSON.stringify({ kind: 'fedmeta-roster', version: 1, clients: [{ name: 'a', publicKey: hex(a.publicKey) }, { name: 'b', publicKey: hex(a.publicKey) }] }));
  assert.match(codeOf(() => readRoster(file)), /^ERR_ROSTER_DUPLICATE .*already in the roster as 'a'/);
  assert.deepEqual(readRoster(join(dir, 'absent.json'), true), { clients: [] });
  assert.match(codeOf(() => readRoster(join(dir, 'absent.json'))), /^ERR_ROSTER_FILE .*ENOENT/);
});
