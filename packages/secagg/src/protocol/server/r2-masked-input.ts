/**
 * Server round 2, MaskedInputCollection: collect the masked vectors of U2. On close the
 * round is sealed: U3 = responders (abort if |U3| < t, or below the server's floor
 * minSurvivors), and any masked input that
 * arrives later is rejected (ERR_LATE_MESSAGE) and never stored - the server is about
 * to ask for the s_sk shares of everyone outside U3. Active mode continues with the
 * ConsistencyCheck, semi-honest mode straight with Unmasking.
 */
import type { MaskedInputMessage } from '../messages.js';
import type { ServerSend, ServerSession, ServerTransition } from './context.js';
import { shortOfHolders } from '../graph.js';
import { CollectingRound, invalid } from './round-base.js';
import { ConsistencyCheckRound } from './r3-consistency-check.js';
import { UnmaskingRound } from './r4-unmasking.js';

export class MaskedInputRound extends CollectingRound<'masked-input', Uint32Array> {
  readonly name = 'masked-input';
  protected readonly kind = 'masked-input';

  constructor(session: ServerSession, u2: readonly number[]) {
    super(session, u2);
  }

  protected validate(clientId: number, m: MaskedInputMessage): Uint32Array {
    const { bits, vectorLength } = this.session.config;
    if (m.bits !== bits) invalid(this.name, clientId, `bits ${m.bits}, session uses ${bits}`);
    if (!(m.vector instanceof Uint32Array) || m.vector.length !== vectorLength) {
      invalid(this.name, clientId, `vector must be a Uint32Array of ${vectorLength} entries`);
    }
    if (bits < 32) {
      const limit = 2 ** bits;
      for (let i = 0; i < m.vector.length; i++) if (m.vector[i]! >= limit) invalid(this.name, clientId, `vector[${i}] >= 2^${bits}`);
    }
    return m.vector;
  }

  close(): ServerTransition {
    const { session } = this;
    const u3 = this.responders();
    if (u3.length < session.config.threshold) {
      return { abort: 'TOO_FEW_MASKED_INPUTS', detail: `${u3.length} masked inputs, threshold ${session.config.threshold}` };
    }
    // The server's own floor: the sum over U3 is fixed here, so a U3 below it is never
    // shown to anyone (no consistency or unmask request goes out).
    if (session.minSurvivors !== null && u3.length < session.minSurvivors) {
      return { abort: 'TOO_FEW_SURVIVORS', detail: `${u3.length} masked inputs, below the server's floor of ${session.minSurvivors} (minSurvivors)` };
    }
    // Fail before anyone reveals: each survivor's b_u and each dropped client's s_sk_v can
    // only be rebuilt from t holders in U3, and a survivor refuses to reveal unless t of its
    // own holders survive (the clients' check).
    const inU3 = new Set(u3);
    const short = shortOfHolders(session.graph!, session.u2!, inU3, session.config.threshold);
    if (short) {
      const what = inU3.has(short.id) ? 'survivor' : 'dropped client';
      return { abort: 'NEIGHBOURHOOD_TOO_SMALL', detail: `${what} ${short.id} keeps ${short.holders} share holders in U3, threshold ${session.config.threshold}` };
    }
    session.maskedInputs = new Map(u3.map((id) => [id, this.responses.get(id)!]));
    session.u3 = u3;
    if (session.config.mode === 'active') {
      const message = { kind: 'consistency-request', survivors: u3 } as const;
      const sends: ServerSend[] = u3.map((to) => ({ to, message }));
      return { next: new ConsistencyCheckRound(session, u3), sends };
    }
    const message = { kind: 'unmask-request', survivors: u3, signatures: [] } as const;
    const sends: ServerSend[] = u3.map((to) => ({ to, message }));
    return { next: new UnmaskingRound(session, u3), sends };
  }
}
