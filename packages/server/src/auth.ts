/**
 * Roster and challenge-response checks. A client proves possession of an Ed25519 key on
 * the roster by signing the auth transcript (transport/handshake.ts), which binds the
 * server's fresh nonce: a replayed auth frame from another connection fails.
 */
import { ed25519Verify } from '@fedmeta/secagg';
import { authTranscript, toHex, TransportError, type MessageOf } from '@fedmeta/transport';
import { ServerError } from './errors.js';
import type { RosterEntry } from './options.js';

export class Roster {
  private readonly byKey = new Map<string, RosterEntry>();

  /** @throws ServerError ERR_SERVER_CONFIG for a bad key or a duplicate. */
  constructor(entries: readonly RosterEntry[]) {
    if (!Array.isArray(entries) || entries.length === 0) throw new ServerError('ERR_SERVER_CONFIG', 'roster must be a non-empty array');
    entries.forEach((e, i) => {
      if (typeof e?.name !== 'string' || e.name.length === 0) throw new ServerError('ERR_SERVER_CONFIG', `roster[${i}].name must be a non-empty string`);
      if (!(e.publicKey instanceof Uint8Array) || e.publicKey.length !== 32) throw new ServerError('ERR_SERVER_CONFIG', `roster[${i}].publicKey must be 32 bytes (Ed25519)`);
      const hex = toHex(e.publicKey);
      if (this.byKey.has(hex)) throw new ServerError('ERR_SERVER_CONFIG', `roster[${i}].publicKey duplicates another entry`);
      this.byKey.set(hex, { name: e.name, publicKey: new Uint8Array(e.publicKey), revoked: e.revoked === true });
    });
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Entries that are not revoked. */
  get active(): number {
    let n = 0;
    for (const e of this.byKey.values()) if (!e.revoked) n++;
    return n;
  }

  entries(): RosterEntry[] {
    return [...this.byKey.values()];
  }

  lookup(publicKey: Uint8Array): RosterEntry | undefined {
    return this.byKey.get(toHex(publicKey));
  }
}

/**
 * Verifies an auth message against the roster and this connection's nonce.
 * @returns the roster entry of the authenticated institution
 * @throws TransportError ERR_AUTH_UNKNOWN_KEY, ERR_AUTH_REVOKED or ERR_AUTH_BAD_SIGNATURE
 */
export function checkAuth(roster: Roster, federationId: string, serverNonce: Uint8Array, msg: MessageOf<'auth'>): RosterEntry {
  const entry = roster.lookup(msg.publicKey);
  if (!entry) throw new TransportError('ERR_AUTH_UNKNOWN_KEY', `public key ${toHex(msg.publicKey).slice(0, 16)}... is not on the roster`);
  if (entry.revoked) throw new TransportError('ERR_AUTH_REVOKED', `the key of '${entry.name}' is revoked`);
  const transcript = authTranscript(federationId, serverNonce, msg.clientNonce, msg.publicKey);
  let ok = false;
  try {
    ok = ed25519Verify(msg.publicKey, transcript, msg.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new TransportError('ERR_AUTH_BAD_SIGNATURE', `the auth signature of '${entry.name}' does not verify`);
  return entry;
}
