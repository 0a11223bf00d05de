/**
 * Server round 3, ConsistencyCheck (active mode): collect each survivor's Ed25519
 * signature over (session id, U3). With a roster the server verifies them (a forged
 * one is rejected); clients verify again. On close: U4 = signers (abort if
 * |U4| < t); send U3 with the signatures of U4 to every member of U4.
 */
import type { ConsistencySignatureMessage } from '../messages.js';
import { verifyConsistency } from '../session.js';
import type { ServerSend, ServerSession, ServerTransition } from './context.js';
import { shortOfHolders } from '../graph.js';
import { CollectingRound, invalid } from './round-base.js';
import { UnmaskingRound } from './r4-unmasking.js';

export class ConsistencyCheckRound extends CollectingRound<'consistency-signature', Uint8Array> {
  readonly name = 'consistency-check';
  protected readonly kind = 'consistency-signature';

  constructor(session: ServerSession, u3: readonly number[]) {
    super(session, u3);
  }

  protected validate(clientId: number, m: ConsistencySignatureMessage): Uint8Array {
    const { roster, sessionId, u3 } = this.session;
    if (!(m.signature instanceof Uint8Array) || m.signature.length !== 64) invalid(this.name, clientId, 'signature must be 64 bytes');
    const identity = roster?.get(clientId);
    if (roster !== null && (identity === undefined || !verifyConsistency(identity, sessionId!, u3!, m.signature))) {
      invalid(this.name, clientId, 'signature over the survivor set does not verify');
    }
    return m.signature;
  }

  close(): ServerTransition {
    const { session } = this;
    const u4 = this.responders();
    if (u4.length < session.config.threshold) {
      return { abort: 'TOO_FEW_SIGNATURES', detail: `${u4.length} consistency signatures, threshold ${session.config.threshold}` };
    }
    // Each signer accepts only signatures of its own holders (the clients' check).
    const short = shortOfHolders(session.graph!, u4, new Set(u4), session.config.threshold);
    if (short) {
      return { abort: 'NEIGHBOURHOOD_TOO_SMALL', detail: `client ${short.id} has ${short.holders} signing share holders, threshold ${session.config.threshold}` };
    }
    session.u4 = u4;
    const signatures = u4.map((clientId) => ({ clientId, signature: this.responses.get(clientId)! }));
    const message = { kind: 'unmask-request', survivors: session.u3!, signatures } as const;
    const sends: ServerSend[] = u4.map((to) => ({ to, message }));
    return { next: new UnmaskingRound(session, u4), sends };
  }
}
