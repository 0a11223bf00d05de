/**
 * Client round 1, ShareKeys: the client has sent its encrypted shares and waits for
 * the shares its neighbours sent it. The senders whose shares open are this client's
 * view of U2: it masks its input with exactly those neighbours (sign + if own id < peer
 * id, else -) plus its self-mask, and sends the masked vector - preceded by a
 * share-report naming every sender whose ciphertext it could not use.
 */
import {
  aeadOpen, applyMasks, derivePairwiseMaskSeed, deriveSelfMaskSeed, x25519SharedSecret, type MaskTerm,
} from '../../crypto/index.js';
import { SHARE_FAULT_CAUSES, type ClientMessage, type ServerMessage, type ShareDeliveryMessage, type ShareFault } from '../messages.js';
import { ABORT_REASONS, SecAggAbortError } from '../reasons.js';
import { readSharePlaintext, shareAssociatedData } from '../session.js';
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
    const { held, faults } = this.openShares(message);
    const { ctx, session } = this;
    const t = ctx.config.threshold;
    const sends: ClientMessage[] = faults.length > 0 ? [{ kind: 'share-report', clientId: ctx.id, faults }] : [];
    // Only senders whose shares opened are masked with. With fewer than t - 1 of them the
    // masked input would rest on fewer pairwise masks than the protocol guarantees (a server
    // could otherwise strip a client's masks by spoiling ciphertexts, where it can now only
    // withhold them): report the culprits, then leave, sending no masked input.
    if (held.keyShares.size + 1 < t) {
      const culprits = faults.map((f) => f.senderId).join(', ');
      return {
        sends,
        abort: new SecAggAbortError(
          ABORT_REASONS.SHARE_DECRYPTION_FAILED,
          `${held.keyShares.size} neighbours sent shares that open; threshold ${t} needs ${t - 1}; unusable shares from ${culprits}`,
        ),
      };
    }
    const peers = [...held.keyShares.keys()];
    const vector = maskInput(ctx, session, peers);
    sends.push({ kind: 'masked-input', clientId: ctx.id, bits: ctx.config.bits, vector });
    return { next: new MaskedInputState(ctx, session, held), sends };
  }

  /**
   * Checks the delivery (a faithless server's mistakes abort) and opens every ciphertext;
   * one that does not open, or opens to a malformed or out-of-field plaintext, is the
   * sender's fault: it is reported, its shares are not held and its sender is not masked with.
   */
  private openShares(message: ShareDeliveryMessage): { held: HeldShares; faults: ShareFault[] } {
    const { ctx, session } = this;
    if (message.recipientId !== ctx.id) clientAbort('INVALID_SHARE_DELIVERY', `share delivery addressed to ${message.recipientId}`);
    const keyShares = new Map<number, Uint8Array>();
    const selfMaskShares = new Map<number, Uint8Array>();
    const faults: ShareFault[] = [];
    let prev = 0;
    for (const { peerId } of message.shares) {
      if (!Number.isInteger(peerId) || peerId <= prev) clientAbort('INVALID_SHARE_DELIVERY', 'sender ids are not strictly increasing');
      prev = peerId;
      if (!session.graph.adjacent(ctx.id, peerId)) clientAbort('INVALID_SHARE_DELIVERY', `client ${peerId} is not a neighbour`);
    }
    // This client holds one share of its own secrets, so t-1 live neighbours suffice.
    if (message.shares.length + 1 < ctx.config.threshold) {
      clientAbort('NEIGHBOURHOOD_TOO_SMALL', `${message.shares.length} neighbours sent shares; threshold ${ctx.config.threshold} needs ${ctx.config.threshold - 1}`);
    }
    for (const { peerId, ciphertext } of message.shares) {
      const key = session.shareKeys.get(peerId)!;
      let plain: Uint8Array;
      try {
        plain = aeadOpen(key, ciphertext, shareAssociatedData(session.sessionId, peerId, ctx.id));
      } catch {
        faults.push({ senderId: peerId, cause: SHARE_FAULT_CAUSES.UNOPENABLE });
        continue;
      }
      const parsed = readSharePlaintext(plain, peerId, ctx.id);
      if ('cause' in parsed) {
        faults.push({ senderId: peerId, cause: parsed.cause });
        continue;
      }
      keyShares.set(peerId, parsed.keyShare);
      selfMaskShares.set(peerId, parsed.selfMaskShare);
    }
    return { held: { keyShares, selfMaskShares }, faults };
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
