/**
 * Server round 0, AdvertiseKeys: collect each expected client's two X25519 public keys
 * (signed in active mode). On close: U1 = responders; abort if |U1| < t; derive
 * the session id and the graph; send every member of U1 the full key list.
 */
import { equalBytes, x25519AssertPublicKey } from '../../crypto/index.js';
import { buildGraph } from '../graph.js';
import type { AdvertiseKeysMessage, AdvertisedKeys } from '../messages.js';
import { computeSessionId, verifyAdvertise } from '../session.js';
import type { ServerSend, ServerSession, ServerTransition } from './context.js';
import { CollectingRound, invalid } from './round-base.js';
import { ShareKeysRound } from './r1-share-keys.js';

export class AdvertiseKeysRound extends CollectingRound<'advertise-keys', AdvertisedKeys> {
  readonly name = 'advertise-keys';
  protected readonly kind = 'advertise-keys';

  constructor(session: ServerSession) {
    super(session, session.config.clientIds);
  }

  protected validate(clientId: number, m: AdvertiseKeysMessage): AdvertisedKeys {
    const { config, roster } = this.session;
    for (const [name, pk] of [['encryptionPublicKey', m.encryptionPublicKey], ['maskingPublicKey', m.maskingPublicKey]] as const) {
      try {
        x25519AssertPublicKey(pk, name);
      } catch (err) {
        invalid(this.name, clientId, (err as Error).message);
      }
    }
    if (equalBytes(m.encryptionPublicKey, m.maskingPublicKey)) invalid(this.name, clientId, 'the two public keys are equal');
    for (const other of this.responses.values()) {
      for (const pk of [other.encryptionPublicKey, other.maskingPublicKey]) {
        if (equalBytes(pk, m.encryptionPublicKey) || equalBytes(pk, m.maskingPublicKey)) {
          invalid(this.name, clientId, `public key already advertised by client ${other.clientId}`);
        }
      }
    }
    const entry: AdvertisedKeys = {
      clientId,
      encryptionPublicKey: m.encryptionPublicKey,
      maskingPublicKey: m.maskingPublicKey,
      signature: m.signature,
    };
    if (config.mode === 'active') {
      if (m.signature === null) invalid(this.name, clientId, 'active mode requires a signature');
      const identity = roster?.get(clientId);
      if (roster !== null && (identity === undefined || !verifyAdvertise(identity, config, entry))) {
        invalid(this.name, clientId, 'signature does not verify against the roster');
      }
    } else if (m.signature !== null) {
      invalid(this.name, clientId, 'semi-honest mode takes no signature');
    }
    return entry;
  }

  close(): ServerTransition {
    const { session } = this;
    const u1 = this.responders();
    if (u1.length < session.config.threshold) {
      return { abort: 'TOO_FEW_ADVERTISED', detail: `${u1.length} clients advertised keys, threshold ${session.config.threshold}` };
    }
    const entries = u1.map((id) => this.responses.get(id)!);
    session.advertised = new Map(entries.map((e) => [e.clientId, e]));
    session.u1 = u1;
    session.sessionId = computeSessionId(session.config, entries);
    session.graph = buildGraph(u1, session.config.degree, session.sessionId);
    const message = { kind: 'key-list', entries } as const;
    const sends: ServerSend[] = u1.map((to) => ({ to, message }));
    return { next: new ShareKeysRound(session, u1), sends };
  }
}
