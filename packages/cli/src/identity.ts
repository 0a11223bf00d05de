/**
 * Identity and roster files.
 *
 * - NAME.json      { kind: 'fedmeta-identity', version: 1, name, publicKey, secretKey } (mode 0600)
 * - NAME.pub.json  { kind: 'fedmeta-public-identity', version: 1, name, publicKey } (hand to the coordinator)
 * - roster.json    { kind: 'fedmeta-roster', version: 1, clients: [{ name, publicKey, revoked? }] }
 *
 * Keys are Ed25519 (RFC 8032): a 32-byte secret seed and a 32-byte public key, stored as
 * lowercase hex. We use Node's own Ed25519 so this module loads no protocol code; the
 * key bytes are the same any RFC 8032 implementation (e.g. @noble/curves) uses.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A bad identity or roster file, or a refused operation on one. `code` is stable. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  constructor(
    readonly code: 'ERR_IDENTITY_FILE' | 'ERR_IDENTITY_EXISTS' | 'ERR_IDENTITY_NAME' | 'ERR_ROSTER_FILE' | 'ERR_ROSTER_DUPLICATE' | 'ERR_ROSTER_UNKNOWN',
    message: string,
  ) {
    super(message);
  }
}

export interface Identity {
  name: string;
  publicKey: Uint8Array;
  /** 32-byte Ed25519 seed. */
  secretKey: Uint8Array;
}
export interface PublicIdentity {
  name: string;
  publicKey: Uint8Array;
}
export interface RosterEntry {
  name: string;
  publicKey: Uint8Array;
  revoked: boolean;
}
export interface Roster {
  clients: RosterEntry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HEX32 = /^[0-9a-f]{64}$/;
// PKCS#8 DER prefix for an Ed25519 private key (RFC 8410 sec. 7): the 32-byte seed follows.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** @throws IdentityError ERR_IDENTITY_NAME unless `name` is 1-64 of [A-Za-z0-9._-], starting alphanumeric */
export function checkName(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new IdentityError('ERR_IDENTITY_NAME', `name: must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit (got ${JSON.stringify(name)})`);
  }
  return name;
}

/** The Ed25519 public key of a 32-byte seed. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

/** A fresh Ed25519 identity from the OS random generator. */
export function generateIdentity(name: string): Identity {
  checkName(name);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const d = privateKey.export({ format: 'jwk' }).d!;
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { name, secretKey: new Uint8Array(Buffer.from(d, 'base64url')), publicKey: new Uint8Array(Buffer.from(x, 'base64url')) };
}

/** Signs with an identity (used by tests and by `keygen --check` to prove a key pair works). */
export function signWith(identity: Identity, message: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, identity.secretKey]), format: 'der', type: 'pkcs8' });
  return new Uint8Array(sign(null, message, key));
}

/** Verifies an Ed25519 signature against a raw 32-byte public key. */
export function verifyWith(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return verify(null, message, key, signature);
}

/** The line to paste into a roster's `clients` list. */
export function rosterLine(id: PublicIdentity): string {
  return JSON.stringify({ name: id.name, publicKey: toHex(id.publicKey) });
}

function writeNew(path: string, text: string, mode: number, force: boolean): void {
  if (!force && existsSync(path)) {
    throw new IdentityError('ERR_IDENTITY_EXISTS', `${path} already exists; refusing to overwrite it (pass --force to replace it: the old key stops working)`);
  }
  writeFileSync(path, text, { mode, flag: force ? 'w' : 'wx' });
  chmodSync(path, mode); // writeFileSync's mode is ignored when the file already existed
}

/**
 * Writes DIR/NAME.json (secret, 0600) and DIR/NAME.pub.json (public, 0644).
 * @returns both paths
 * @throws IdentityError ERR_IDENTITY_EXISTS if either exists and `force` is false
 */
export function writeIdentity(dir: string, id: Identity, force = false): { secretPath: string; publicPath: string } {
  mkdirSync(dir, { recursive: true });
  const secretPath = join(dir, `${id.name}.json`);
  const publicPath = join(dir, `${id.name}.pub.json`);
  // Check both names before writing either, so a refusal leaves nothing half-written.
  if (!force) for (const p of [secretPath, publicPath]) if (existsSync(p)) writeNew(p, '', 0o600, false);
  const secret = { kind: 'fedmeta-identity', version: 1, name: id.name, publicKey: toHex(id.publicKey), secretKey: toHex(id.secretKey) };
  writeNew(secretPath, JSON.stringify(secret, null, 2) + '\n', 0o600, force);
  const pub = { kind: 'fedmeta-public-identity', version: 1, name: id.name, publicKey: toHex(id.publicKey) };
  writeNew(publicPath, JSON.stringify(pub, null, 2) + '\n', 0o644, force);
  return { secretPath, publicPath };
}

function readJson(path: string, code: 'ERR_IDENTITY_FILE' | 'ERR_ROSTER_FILE'): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new IdentityError(code, `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new IdentityError(code, `${path}: not valid JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new IdentityError(code, `${path}: must be a JSON object`);
  return doc as Record<string, unknown>;
}

function hexKey(doc: Record<string, unknown>, field: string, path: string, code: 'ERR_IDENTITY_FILE' | 'ERR_ROSTER_FILE'): Uint8Array {
  const v = doc[field];
  if (typeof v !== 'string' || !HEX32.test(v)) {
    throw new IdentityError(code, `${path}: ${field} must be 64 lowercase hex characters (32 bytes) (got ${typeof v === 'string' ? `${v.length} characters` : typeof v})`);
  }
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function header(doc: Record<string, unknown>, kinds: string[], path: string, code: 'ERR_IDENTITY_FILE' | 'ERR_ROSTER_FILE'): void {
  if (typeof doc.kind !== 'string' || !kinds.includes(doc.kind)) {
    throw new IdentityError(code, `${path}: kind must be ${kinds.map((k) => `'${k}'`).join(' or ')} (got ${JSON.stringify(doc.kind)})`);
  }
  if (doc.version !== 1) throw new IdentityError(code, `${path}: version must be 1 (got ${JSON.stringify(doc.version)})`);
}

function nameOf(doc: Record<string, unknown>, path: string, code: 'ERR_IDENTITY_FILE' | 'ERR_ROSTER_FILE'): string {
  try {
    return checkName(doc.name as string);
  } catch (err) {
    throw new IdentityError(code, `${path}: ${(err as Error).message}`);
  }
}

/**
 * Reads a secret identity file and checks that its public key matches its secret key.
 * @returns the identity and, if the file is readable by group/others, a warning to show
 * @throws IdentityError ERR_IDENTITY_FILE naming the bad field
 */
export function readIdentity(path: string): { identity: Identity; warning?: string } {
  const doc = readJson(path, 'ERR_IDENTITY_FILE');
  if (doc.kind === 'fedmeta-public-identity') {
    throw new IdentityError('ERR_IDENTITY_FILE', `${path}: this is a public identity (NAME.pub.json); the client needs the secret file NAME.json`);
  }
  header(doc, ['fedmeta-identity'], path, 'ERR_IDENTITY_FILE');
  const name = nameOf(doc, path, 'ERR_IDENTITY_FILE');
  const publicKey = hexKey(doc, 'publicKey', path, 'ERR_IDENTITY_FILE');
  const secretKey = hexKey(doc, 'secretKey', path, 'ERR_IDENTITY_FILE');
  if (toHex(publicKeyOf(secretKey)) !== toHex(publicKey)) {
    throw new IdentityError('ERR_IDENTITY_FILE', `${path}: publicKey does not belong to secretKey (file edited or corrupted; run fedmeta keygen again)`);
  }
  const mode = statSync(path).mode & 0o777;
  const warning = (mode & 0o077) !== 0 ? `${path} is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${path}` : undefined;
  return warning ? { identity: { name, publicKey, secretKey }, warning } : { identity: { name, publicKey, secretKey } };
}

/**
 * Reads the public part of an identity: a NAME.pub.json (or, for convenience, the secret file).
 * @throws IdentityError ERR_IDENTITY_FILE
 */
export function readPublicIdentity(path: string): PublicIdentity {
  const doc = readJson(path, 'ERR_IDENTITY_FILE');
  header(doc, ['fedmeta-public-identity', 'fedmeta-identity'], path, 'ERR_IDENTITY_FILE');
  return { name: nameOf(doc, path, 'ERR_IDENTITY_FILE'), publicKey: hexKey(doc, 'publicKey', path, 'ERR_IDENTITY_FILE') };
}

/** Reads a roster; a missing file is an empty roster only when `allowMissing`. @throws IdentityError ERR_ROSTER_FILE */
export function readRoster(path: string, allowMissing = false): Roster {
  if (allowMissing && !existsSync(path)) return { clients: [] };
  const doc = readJson(path, 'ERR_ROSTER_FILE');
  header(doc, ['fedmeta-roster'], path, 'ERR_ROSTER_FILE');
  if (!Array.isArray(doc.clients)) throw new IdentityError('ERR_ROSTER_FILE', `${path}: clients must be a list`);
  const clients = doc.clients.map((raw: unknown, i: number): RosterEntry => {
    const where = `${path}: clients[${i}]`;
    if (raw === null || typeof raw !== 'object') throw new IdentityError('ERR_ROSTER_FILE', `${where} must be an object { name, publicKey }`);
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!['name', 'publicKey', 'revoked'].includes(k)) throw new IdentityError('ERR_ROSTER_FILE', `${where}.${k}: unknown field (allowed: name, publicKey, revoked)`);
    }
    if (e.revoked !== undefined && typeof e.revoked !== 'boolean') throw new IdentityError('ERR_ROSTER_FILE', `${where}.revoked must be true or false`);
    return { name: nameOf(e, where, 'ERR_ROSTER_FILE'), publicKey: hexKey(e, 'publicKey', where, 'ERR_ROSTER_FILE'), revoked: e.revoked === true };
  });
  const roster = { clients: [] as RosterEntry[] };
  for (const c of clients) addToRoster(roster, c, `${path}: `, c.revoked);
  return roster;
}

/**
 * Adds a client; names and keys must be unique.
 * @throws IdentityError ERR_ROSTER_DUPLICATE
 */
export function addToRoster(roster: Roster, id: PublicIdentity, where = '', revoked = false): void {
  const hex = toHex(id.publicKey);
  for (const c of roster.clients) {
    if (c.name === id.name) throw new IdentityError('ERR_ROSTER_DUPLICATE', `${where}a client named '${id.name}' is already in the roster (revoke it first, or pick another name)`);
    if (toHex(c.publicKey) === hex) throw new IdentityError('ERR_ROSTER_DUPLICATE', `${where}this public key is already in the roster as '${c.name}'`);
  }
  roster.clients.push({ name: id.name, publicKey: id.publicKey, revoked });
}

/** Marks a client revoked (kept in the file so the key can never be re-added silently). @throws IdentityError ERR_ROSTER_UNKNOWN */
export function revokeInRoster(roster: Roster, name: string): void {
  const entry = roster.clients.find((c) => c.name === name);
  if (!entry) throw new IdentityError('ERR_ROSTER_UNKNOWN', `no client named '${name}' in the roster (known: ${roster.clients.map((c) => c.name).join(', ') || 'none'})`);
  entry.revoked = true;
}

/** Serialises a roster (revoked only written when true). */
export function rosterToJson(roster: Roster): string {
  const clients = roster.clients.map((c) => ({ name: c.name, publicKey: toHex(c.publicKey), ...(c.revoked ? { revoked: true } : {}) }));
  return JSON.stringify({ kind: 'fedmeta-roster', version: 1, clients }, null, 2) + '\n';
}

/** Writes a roster file (0644: public keys only). */
export function writeRoster(path: string, roster: Roster): void {
  writeFileSync(path, rosterToJson(roster), { mode: 0o644 });
}
