/**
 * Client round 0, AdvertiseKeys: the client has sent its two X25519 public keys and
 * waits for the server's key list. On it, the client checks the list, derives the
 * session id and the graph, Shamir-shares s_sk and a fresh b_u among itself and its
 * neighbours, and sends each neighbour its shares under an AEAD key from the c agreement.
 */
import {
  aeadSeal, deriveShareKey, equalBytes, x25519AssertPublicKey, x25519SharedSecret,
} from '../../crypto/index.js';
import { shamirSplit } from '../../shamir/index.js';
import { buildGraph } from '../graph.js';
import type { EncryptedShare, KeyListMessage, ServerMessage } from '../messages.js';
import {
  computeSessionId, encodeSharePlaintext, shareAssociatedData, verifyAdvertise,
} from '../session.js';
import { clientAbort } from './abort.js';
import type { ClientContext, ClientKeys, ClientRoundState, ClientSession, ClientTransition } from './context.js';
import { ShareKeysState } from './r1-share-keys.js';


export class AdvertiseKeysState implements ClientRoundState {
  readonly name = 'advertise-keys';
  constructor(
    private readonly ctx: ClientContext,
    private readonly keys: ClientKeys,
  ) {}

  receive(message: ServerMessage): ClientTransition {
    if (message.kind !== 'key-list') clientAbort('PROTOCOL_VIOLATION', `expected key-list in advertise-keys, got ${message.kind}`);
    const { ctx, keys } = this;
    const session = this.checkKeyList(message);
    const { sessionId, graph } = session;
    const neighbours = graph.neighbours(ctx.id);
    const holders = [...neighbours, ctx.id].sort((a, b) => a - b);
    if (holders.length < ctx.config.threshold) {
      clientAbort('NEIGHBOURHOOD_TOO_SMALL', `${holders.length} share holders < threshold ${ctx.config.threshold}`);
    }
    const t = ctx.config.threshold;
    const keyShares = shamirSplit(keys.sSk, t, holders, ctx.rng);
    const selfShares = shamirSplit(session.selfSecret, t, holders, ctx.rng);
    const shares: EncryptedShare[] = [];
    const shareKeys = new Map<number, Uint8Array>();
    let ownKeyShare = keyShares[0]!;
    let ownSelfMaskShare = selfShares[0]!;
    holders.forEach((holder, i) => {
      const ks = keyShares[i]!;
      const bs = selfShares[i]!;
      if (holder === ctx.id) {
        ownKeyShare = ks;
        ownSelfMaskShare = bs;
        return;
      }
      const peer = session.peerKeys.get(holder)!;
      const key = deriveShareKey(x25519SharedSecret(keys.cSk, peer.cPk), sessionId, ctx.id, holder);
      shareKeys.set(holder, key);
      const plain = encodeSharePlaintext(ctx.id, holder, ks.y, bs.y);
      shares.push({ peerId: holder, ciphertext: aeadSeal(key, plain, shareAssociatedData(sessionId, ctx.id, holder), ctx.rng) });
    });
    const full: ClientSession = { ...session, shareKeys, ownKeyShare, ownSelfMaskShare };
    return {
      next: new ShareKeysState(ctx, full),
      sends: [{ kind: 'share-keys', clientId: ctx.id, shares }],
    };
  }

  /** Validates the key list; aborts on anything a faithful server would never send. */
  private checkKeyList(message: KeyListMessage): Omit<ClientSession, 'ownKeyShare' | 'ownSelfMaskShare' | 'shareKeys'> {
    const { ctx, keys } = this;
    const { config } = ctx;
    const entries = message.entries;
    if (entries.length < config.threshold) {
      clientAbort('INVALID_KEY_LIST', `key list has ${entries.length} entries < threshold ${config.threshold}`);
    }
    const allowed = new Set(config.clientIds);
    const seenKeys = new Set<string>();
    const peerKeys = new Map<number, { cPk: Uint8Array; sPk: Uint8Array }>();
    let prev = 0;
    let sawSelf = false;
    for (const e of entries) {
      if (!Number.isInteger(e.clientId) || e.clientId <= prev) clientAbort('INVALID_KEY_LIST', 'key list ids are not strictly increasing');
      prev = e.clientId;
      if (!allowed.has(e.clientId)) clientAbort('INVALID_KEY_LIST', `key list names unknown client ${e.clientId}`);
      for (const [name, pk] of [['encryption', e.encryptionPublicKey], ['masking', e.maskingPublicKey]] as const) {
        try {
          x25519AssertPublicKey(pk, `key-list[${e.clientId}].${name}PublicKey`);
        } catch (err) {
          clientAbort('INVALID_KEY_LIST', (err as Error).message);
        }
        const hex = Buffer.from(pk).toString('hex');
        // A repeated key would let the server reflect a client's own key back at it.
        if (seenKeys.has(hex)) clientAbort('INVALID_KEY_LIST', `key list repeats a public key (client ${e.clientId})`);
        seenKeys.add(hex);
      }
      if (e.clientId === ctx.id) {
        sawSelf = true;
        if (!equalBytes(e.encryptionPublicKey, keys.cPk) || !equalBytes(e.maskingPublicKey, keys.sPk)) {
          clientAbort('INVALID_KEY_LIST', 'key list carries altered keys for this client');
        }
      }
      if (config.mode === 'active') {
        const identity = ctx.roster!.get(e.clientId);
        if (identity === undefined || !verifyAdvertise(identity, config, e)) {
          clientAbort('INVALID_KEY_SIGNATURE', `advertised keys of client ${e.clientId} do not verify against the roster`);
        }
      } else if (e.signature !== null) {
        clientAbort('INVALID_KEY_LIST', `semi-honest key list carries a signature (client ${e.clientId})`);
      }
      peerKeys.set(e.clientId, { cPk: e.encryptionPublicKey, sPk: e.maskingPublicKey });
    }
    if (!sawSelf) clientAbort('INVALID_KEY_LIST', 'key list does not include this client');
    const sessionId = computeSessionId(config, entries);
    const graph = buildGraph(entries.map((e) => e.clientId), config.degree, sessionId);
    const selfSecret = ctx.rng.fill(new Uint8Array(32));
    return { keys, sessionId, graph, peerKeys, selfSecret };
  }
}
