/**
 * Client round 1, ShareKeys: the client has sent its encrypted shares and waits for
 * the shares its neighbours sent it. The senders are this client's view of U2: it
 * masks its input with exactly those neighbours (sign + if own id < peer id, else -)
 * plus its self-mask, and sends the masked vector.
 */
import {
  aeadOpen, applyMasks, derivePairwiseMaskSeed, deriveSelfMaskSeed, x25519SharedSecret, type MaskTerm,
} from '../../crypto/index.js';
import type { ServerMessage, ShareDeliveryMessage } from '../messages.js';
import { decodeSharePlaintext, shareAssociatedData } from '../session.js';
import { clientAbort } from './abort.js';
import type { ClientContext, ClientRoundState, ClientSession, ClientTransition, HeldShares } from './context.js';
import { MaskedInputState } from './r2-masked-input.js';

export class ShareKeysState implements ClientRoundState {
  readonly name = 'share-keys';
  constructor(
    private readonly ctx: ClientContext,
    private readonly session: ClientSession,
  ) {}

  receive(message: ServerMessage): ClientTransition {
    if (message.kind !== 'share-delivery') clientAbort('PROTOCOL_VIOLATION', `expected share-delivery in share-keys, got ${message.kind}`);
    const held = this.openShares(message);
    const { ctx, session } = this;
    const peers = [...held.keyShares.keys()];
    const vector = maskInput(ctx, session, peers);
    return {
      next: new MaskedInputState(ctx, session, held),
      sends: [{ kind: 'masked-input', clientId: ctx.id, bits: ctx.config.bits, vector }],
    };
  }

  private openShares(message: ShareDeliveryMessage): HeldShares {
    const { ctx, session } = this;
    if (message.recipientId !== ctx.id) clientAbort('INVALID_SHARE_DELIVERY', `share delivery addressed to ${message.recipientId}`);
    const keyShares = new Map<number, Uint8Array>();
    const selfMaskShares = new Map<number, Uint8Array>();
    let prev = 0;
    for (const { peerId, ciphertext } of message.shares) {
      if (!Number.isInteger(peerId) || peerId <= prev) clientAbort('INVALID_SHARE_DELIVERY', 'sender ids are not strictly increasing');
      prev = peerId;
      if (!session.graph.adjacent(ctx.id, peerId)) clientAbort('INVALID_SHARE_DELIVERY', `client ${peerId} is not a neighbour`);
      const key = session.shareKeys.get(peerId)!;
      let plain: Uint8Array;
      try {
        plain = aeadOpen(key, ciphertext, shareAssociatedData(session.sessionId, peerId, ctx.id));
      } catch {
        clientAbort('SHARE_DECRYPTION_FAILED', `shares from client ${peerId} do not decrypt`);
      }
      const parsed = decodeSharePlaintext(plain, peerId, ctx.id);
      if (parsed === null) clientAbort('SHARE_DECRYPTION_FAILED', `shares from client ${peerId} carry wrong ids or length`);
      keyShares.set(peerId, parsed.keyShare);
      selfMaskShares.set(peerId, parsed.selfMaskShare);
    }
    // This client holds one share of its own secrets, so t-1 live neighbours suffice.
    if (keyShares.size + 1 < ctx.config.threshold) {
      clientAbort('NEIGHBOURHOOD_TOO_SMALL', `${keyShares.size} neighbours sent shares; threshold ${ctx.config.threshold} needs ${ctx.config.threshold - 1}`);
    }
    return { keyShares, selfMaskShares };
  }
}

/** Reads and checks the input vector (evaluating it lazily if it is a function). */
function readInput(ctx: ClientContext): Uint32Array {
  const { vectorLength, bits } = ctx.config;
  let input: unknown;
  try {
    input = typeof ctx.input === 'function' ? ctx.input() : ctx.input;
  } catch (err) {
    clientAbort('INVALID_LOCAL_INPUT', `input callback threw: ${(err as Error).message}`);
  }
  if (!(input instanceof Uint32Array) || input.length !== vectorLength) {
    clientAbort('INVALID_LOCAL_INPUT', `input: expected a Uint32Array of ${vectorLength} entries`);
  }
  if (bits < 32) {
    const limit = 2 ** bits;
    for (let i = 0; i < input.length; i++) {
      if (input[i]! >= limit) clientAbort('INVALID_LOCAL_INPUT', `input[${i}] = ${input[i]} is not < 2^${bits}`);
    }
  }
  return input;
}

/**
 * y_u = x_u + PRG(b_u) + sum over peers v of (+PRG(s_uv) if u < v else -PRG(s_uv)), mod 2^bits.
 * @param peers this client's neighbours in U2
 */
export function maskInput(ctx: ClientContext, session: ClientSession, peers: readonly number[]): Uint32Array {
  const y = new Uint32Array(readInput(ctx));
  const terms: MaskTerm[] = [{ seed: deriveSelfMaskSeed(session.selfSecret, session.sessionId, ctx.id), sign: 1 }];
  for (const v of peers) {
    const shared = x25519SharedSecret(session.keys.sSk, session.peerKeys.get(v)!.sPk);
    terms.push({ seed: derivePairwiseMaskSeed(shared, session.sessionId, ctx.id, v), sign: ctx.id < v ? 1 : -1 });
  }
  return applyMasks(y, terms, ctx.config.bits);
}
