/**
 * Server round 1, ShareKeys: collect from each client of U1 one ciphertext per graph
 * neighbour. On close: U2 = responders; abort if |U2| < t or if some client of U2
 * keeps fewer than t live share holders; forward to each client of U2 the ciphertexts
 * its neighbours in U2 addressed to it.
 */
import type { EncryptedShare, ShareKeysMessage } from '../messages.js';
import { SHARE_CIPHERTEXT_BYTES } from '../session.js';
import { shortOfHolders } from '../graph.js';
import type { ServerSend, ServerSession, ServerTransition } from './context.js';
import { CollectingRound, invalid } from './round-base.js';
import { MaskedInputRound } from './r2-masked-input.js';

export class ShareKeysRound extends CollectingRound<'share-keys', ShareKeysMessage> {
  readonly name = 'share-keys';
  protected readonly kind = 'share-keys';

  constructor(session: ServerSession, u1: readonly number[]) {
    super(session, u1);
  }

  protected validate(clientId: number, m: ShareKeysMessage): ShareKeysMessage {
    const neighbours = this.session.graph!.neighbours(clientId);
    if (m.shares.length !== neighbours.length) invalid(this.name, clientId, `${m.shares.length} shares for ${neighbours.length} neighbours`);
    m.shares.forEach((s, i) => {
      if (s.peerId !== neighbours[i]) invalid(this.name, clientId, `share ${i} addressed to ${s.peerId}, expected neighbour ${neighbours[i]}`);
      if (!(s.ciphertext instanceof Uint8Array) || s.ciphertext.length !== SHARE_CIPHERTEXT_BYTES) {
        invalid(this.name, clientId, `ciphertext for ${s.peerId} is not ${SHARE_CIPHERTEXT_BYTES} bytes`);
      }
    });
    return m;
  }

  close(): ServerTransition {
    const { session } = this;
    const { threshold } = session.config;
    const graph = session.graph!;
    const u2 = this.responders();
    if (u2.length < threshold) return { abort: 'TOO_FEW_SHARED', detail: `${u2.length} clients sent shares, threshold ${threshold}` };
    const short = shortOfHolders(graph, u2, new Set(u2), threshold);
    if (short) return { abort: 'NEIGHBOURHOOD_TOO_SMALL', detail: `client ${short.id} keeps ${short.holders} live share holders, threshold ${threshold}` };
    session.shareKeys = new Map(u2.map((id) => [id, this.responses.get(id)!]));
    session.u2 = u2;
    // Route every ciphertext once: inbox[to] collects (from, ciphertext) in ascending `from`.
    const inbox = new Map<number, EncryptedShare[]>(u2.map((id) => [id, []]));
    for (const from of u2) {
      for (const s of session.shareKeys.get(from)!.shares) inbox.get(s.peerId)?.push({ peerId: from, ciphertext: s.ciphertext });
    }
    const sends: ServerSend[] = u2.map((to) => {
      const shares = inbox.get(to)!;
      return { to, message: { kind: 'share-delivery', recipientId: to, shares } };
    });
    return { next: new MaskedInputRound(session, u2), sends };
  }
}
