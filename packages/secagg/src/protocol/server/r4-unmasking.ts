/**
 * Server round 4, Unmasking: each responder reveals, for every neighbour in U2 whose shares
 * it holds, the b-share (neighbour in U3) or the s_sk-share (neighbour out of U3), plus
 * its own b-share; a share value >= p is refused on receipt. On close (|U5| >= t, else
 * abort) the server reconstructs every s_sk it needs (U2 \ U3, except a reported sender
 * nobody masked with) and every b_u of U3 from >= t shares, robustly: wrong shares are
 * corrected and their holders named while enough shares agree (shamirDecode; an s_sk must
 * match its advertised s_pk); else it aborts INCONSISTENT_SHARES. Then
 *   sum = sum_{u in U3} y_u - sum_{u in U3} PRG(b_u)
 *         - sum_{v} sum_{u in U3 adjacent v, u masked with v} (+-) PRG(s_uv)   mod 2^bits.
 */
import {
  addVectors, applyMasks, derivePairwiseMaskSeed, deriveSelfMaskSeed, equalBytes, x25519PublicKey, x25519SharedSecret, type MaskTerm,
} from '../../crypto/index.js';
import { bytesToBigint, correctableErrors, SHAMIR_PRIME, SHAMIR_SHARE_BYTES, shamirDecode, type ShamirShare } from '../../shamir/index.js';
import type { UnmaskResponseMessage, RevealedShare } from '../messages.js';
import { collectFaults, type AggregationResult, type ServerSession, type ServerTransition } from './context.js';
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
    const { graph, reportedBy } = this.session;
    const { inU2, inU3 } = this;
    const reported = reportedBy?.get(clientId) ?? new Set<number>();
    const wantSelf = [clientId, ...graph!.neighbours(clientId).filter((v) => inU3.has(v))].sort((a, b) => a - b);
    // It holds nothing of a sender it reported (and reveals nothing for it).
    const wantKey = graph!.neighbours(clientId).filter((v) => inU2.has(v) && !inU3.has(v) && !reported.has(v));
    const check = (got: readonly RevealedShare[], want: readonly number[], field: string): void => {
      if (got.length !== want.length || got.some((s, i) => s.ownerId !== want[i])) {
        invalid(this.name, clientId, `${field} owners [${got.map((s) => s.ownerId).join(',')}], expected [${want.join(',')}]`);
      }
      for (const s of got) {
        if (!(s.share instanceof Uint8Array) || s.share.length !== SHAMIR_SHARE_BYTES) invalid(this.name, clientId, `${field} share is not ${SHAMIR_SHARE_BYTES} bytes`);
        // Refused here, not at reconstruction: no honest holder sends one, and the sender is known.
        if (bytesToBigint(s.share) >= SHAMIR_PRIME) invalid(this.name, clientId, `${field} share of client ${s.ownerId} is not a field element (>= p)`);
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
    const accused = session.accused ?? new Map<number, readonly number[]>();
    // The survivors that masked with v: its neighbours in U3 that did not report it. The s_sk
    // of a reported sender is needed only if there is one.
    const maskedWith = (v: number): number[] => session.graph!.neighbours(v).filter((u) => inU3.has(u) && !(accused.get(v) ?? []).includes(u));
    const droppedAfterSharing = session.u2!.filter((v) => !inU3.has(v) && (!accused.has(v) || maskedWith(v).length > 0));
    const selfShares = new Map<number, ShamirShare[]>(u3.map((u) => [u, []]));
    const keyShares = new Map<number, ShamirShare[]>(droppedAfterSharing.map((v) => [v, []]));
    for (const holder of u5) {
      const r = this.responses.get(holder)!;
      for (const s of r.selfMaskShares) selfShares.get(s.ownerId)!.push({ x: holder, y: s.share });
      for (const s of r.keyShares) keyShares.get(s.ownerId)?.push({ x: holder, y: s.share });
    }
    for (const u of u3) {
      const n = selfShares.get(u)!.length;
      if (n < t) return { abort: 'TOO_FEW_SHARES', detail: `b of client ${u}: ${n} shares, threshold ${t}` };
    }
    for (const v of droppedAfterSharing) {
      const n = keyShares.get(v)!.length;
      if (n < t) return { abort: 'TOO_FEW_SHARES', detail: `s_sk of client ${v}: ${n} shares, threshold ${t}` };
    }
    // Robust reconstruction: the keys first (their public check locates a wrong share even
    // among t + 1), then the self-mask seeds; a holder caught once is a suspect for the rest.
    const suspects = new Set<number>();
    const decode = (owner: number, shares: readonly ShamirShare[], what: 'b' | 's_sk', check?: (s: Uint8Array) => boolean): { secret: Uint8Array } | { abort: 'INCONSISTENT_SHARES'; detail: string } => {
      const out = shamirDecode(shares, t, { suspects, ...(check ? { check } : {}) });
      if (out === null) {
        const holders = shares.map((s) => s.x).sort((a, b) => a - b);
        const e = correctableErrors(shares.length, t, check !== undefined);
        const goal = what === 'b' ? 'fit one polynomial of degree < ' + t : 'reconstruct a key matching its s_pk';
        return { abort: 'INCONSISTENT_SHARES', detail: `${what} of client ${owner}: the ${shares.length} shares from holders ${holders.join(',')} do not ${goal} with at most ${e} of them wrong` };
      }
      for (const h of out.faulty) {
        suspects.add(h);
        if (!session.faultLog.badShares.has(h)) session.faultLog.badShares.set(h, new Set());
        session.faultLog.badShares.get(h)!.add(owner);
      }
      return { secret: out.secret };
    };
    const terms: MaskTerm[] = [];
    for (const v of droppedAfterSharing) {
      const sPk = session.advertised!.get(v)!.maskingPublicKey;
      const sk = decode(v, keyShares.get(v)!, 's_sk', (secret) => equalBytes(x25519PublicKey(secret), sPk));
      if ('abort' in sk) return { abort: sk.abort, detail: sk.detail };
      for (const u of maskedWith(v)) {
        const shared = x25519SharedSecret(sk.secret, session.advertised!.get(u)!.maskingPublicKey);
        // u added +PRG(s_uv) if u < v, else subtracted it: undo that.
        terms.push({ seed: derivePairwiseMaskSeed(shared, session.sessionId!, u, v), sign: u < v ? -1 : 1 });
      }
    }
    for (const u of u3) {
      const b = decode(u, selfShares.get(u)!, 'b');
      if ('abort' in b) return { abort: b.abort, detail: b.detail };
      terms.push({ seed: deriveSelfMaskSeed(b.secret, session.sessionId!, u), sign: -1 });
    }
    const sum = sumVectors(u3.map((u) => session.maskedInputs!.get(u)!), config.vectorLength);
    applyMasks(sum, terms, config.bits);
    const faults = collectFaults(session.faultLog);
    const result: AggregationResult = {
      sum,
      survivors: u3,
      dropped: config.clientIds.filter((id) => !inU3.has(id)),
      faulty: [...new Set(faults.map((f) => f.clientId))],
      faults,
    };
    return { result };
  }
}

/** Plain sum mod 2^32 (applyMasks reduces mod 2^bits afterwards). */
function sumVectors(vectors: readonly Uint32Array[], length: number): Uint32Array {
  return addVectors(new Uint32Array(length), vectors);
}
