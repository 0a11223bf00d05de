/**
 * Server round 4, Unmasking: each responder reveals, for every neighbour in U2, the
 * b-share (neighbour in U3) or the s_sk-share (neighbour dropped after ShareKeys), plus
 * its own b-share. On close (|U5| >= t, else abort) the server reconstructs every b_u of
 * U3 and every s_sk of U2 \ U3 from >= t shares (all shares received are checked to lie
 * on one polynomial; a reconstructed s_sk must match its advertised s_pk), then
 *   sum = sum_{u in U3} y_u - sum_{u in U3} PRG(b_u)
 *         - sum_{v in U2\U3} sum_{u in U3 adjacent v} (+-) PRG(s_uv)   mod 2^bits.
 */
import {
  addVectors, applyMasks, derivePairwiseMaskSeed, deriveSelfMaskSeed, equalBytes, x25519PublicKey, x25519SharedSecret, type MaskTerm,
} from '../../crypto/index.js';
import { SecAggError } from '../../errors.js';
import { SHAMIR_SHARE_BYTES, shamirCombine, type ShamirShare } from '../../shamir/index.js';
import type { UnmaskResponseMessage, RevealedShare } from '../messages.js';
import type { AggregationResult, ServerSession, ServerTransition } from './context.js';
import { CollectingRound, invalid } from './round-base.js';

export class UnmaskingRound extends CollectingRound<'unmask-response', UnmaskResponseMessage> {
  readonly name = 'unmasking';
  protected readonly kind = 'unmask-response';

  private readonly inU2: ReadonlySet<number>;
  private readonly inU3: ReadonlySet<number>;

  constructor(session: ServerSession, askedClients: readonly number[]) {
    super(session, askedClients);
    this.inU2 = new Set(session.u2);
    this.inU3 = new Set(session.u3);
  }

  protected validate(clientId: number, m: UnmaskResponseMessage): UnmaskResponseMessage {
    const { graph } = this.session;
    const { inU2, inU3 } = this;
    const wantSelf = [clientId, ...graph!.neighbours(clientId).filter((v) => inU3.has(v))].sort((a, b) => a - b);
    const wantKey = graph!.neighbours(clientId).filter((v) => inU2.has(v) && !inU3.has(v));
    const check = (got: readonly RevealedShare[], want: readonly number[], field: string): void => {
      if (got.length !== want.length || got.some((s, i) => s.ownerId !== want[i])) {
        invalid(this.name, clientId, `${field} owners [${got.map((s) => s.ownerId).join(',')}], expected [${want.join(',')}]`);
      }
      for (const s of got) {
        if (!(s.share instanceof Uint8Array) || s.share.length !== SHAMIR_SHARE_BYTES) invalid(this.name, clientId, `${field} share is not ${SHAMIR_SHARE_BYTES} bytes`);
      }
    };
    check(m.selfMaskShares, wantSelf, 'selfMaskShares');
    check(m.keyShares, wantKey, 'keyShares');
    return m;
  }

  /** Responses count even if the client disconnected after sending: the shares are here. */
  close(): ServerTransition {
    const { session } = this;
    const { config } = session;
    const t = config.threshold;
    const u5 = this.expected.filter((id) => this.responses.has(id));
    if (u5.length < t) return { abort: 'TOO_FEW_UNMASK_RESPONSES', detail: `${u5.length} unmask responses, threshold ${t}` };
    const u3 = session.u3!;
    const inU3 = new Set(u3);
    const droppedAfterSharing = session.u2!.filter((v) => !inU3.has(v));
    const selfShares = new Map<number, ShamirShare[]>(u3.map((u) => [u, []]));
    const keyShares = new Map<number, ShamirShare[]>(droppedAfterSharing.map((v) => [v, []]));
    for (const holder of u5) {
      const r = this.responses.get(holder)!;
      for (const s of r.selfMaskShares) selfShares.get(s.ownerId)!.push({ x: holder, y: s.share });
      for (const s of r.keyShares) keyShares.get(s.ownerId)!.push({ x: holder, y: s.share });
    }
    const terms: MaskTerm[] = [];
    for (const u of u3) {
      const b = reconstruct(u, selfShares.get(u)!, t, 'b');
      if ('abort' in b) return b;
      terms.push({ seed: deriveSelfMaskSeed(b.secret, session.sessionId!, u), sign: -1 });
    }
    for (const v of droppedAfterSharing) {
      const sk = reconstruct(v, keyShares.get(v)!, t, 's_sk');
      if ('abort' in sk) return sk;
      if (!equalBytes(x25519PublicKey(sk.secret), session.advertised!.get(v)!.maskingPublicKey)) {
        return { abort: 'INCONSISTENT_SHARES', detail: `reconstructed s_sk of client ${v} does not match its s_pk` };
      }
      for (const u of session.graph!.neighbours(v)) {
        if (!inU3.has(u)) continue;
        const shared = x25519SharedSecret(sk.secret, session.advertised!.get(u)!.maskingPublicKey);
        // u added +PRG(s_uv) if u < v, else subtracted it: undo that.
        terms.push({ seed: derivePairwiseMaskSeed(shared, session.sessionId!, u, v), sign: u < v ? -1 : 1 });
      }
    }
    const sum = sumVectors(u3.map((u) => session.maskedInputs!.get(u)!), config.vectorLength);
    applyMasks(sum, terms, config.bits);
    const result: AggregationResult = { sum, survivors: u3, dropped: config.clientIds.filter((id) => !inU3.has(id)) };
    return { result };
  }
}

/**
 * Combines the shares of one secret with all received shares checked to lie on one
 * polynomial. Returns the secret or the abort the round ends with.
 */
function reconstruct(
  owner: number,
  shares: readonly ShamirShare[],
  t: number,
  what: string,
): { secret: Uint8Array } | { abort: 'TOO_FEW_SHARES' | 'INCONSISTENT_SHARES'; detail: string } {
  if (shares.length < t) return { abort: 'TOO_FEW_SHARES', detail: `${what} of client ${owner}: ${shares.length} shares, threshold ${t}` };
  try {
    return { secret: shamirCombine(shares, t) };
  } catch (err) {
    if (err instanceof SecAggError) return { abort: 'INCONSISTENT_SHARES', detail: `${what} of client ${owner}: ${err.code}` };
    throw err;
  }
}

/** Plain sum mod 2^32 (applyMasks reduces mod 2^bits afterwards). */
function sumVectors(vectors: readonly Uint32Array[], length: number): Uint32Array {
  return addVectors(new Uint32Array(length), vectors);
}
