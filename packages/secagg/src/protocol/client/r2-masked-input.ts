/**
 * Client round 2, MaskedInputCollection: the masked input is sent; the client waits
 * for the survivor set U3 - as a consistency-request to sign (active mode) or directly
 * as an unmask-request (semi-honest mode). A U3 below the client's own floor
 * (minSurvivors) is refused before anything else is checked, signed or revealed.
 */
import type { ServerMessage } from '../messages.js';
import { liveHolders } from '../graph.js';
import { signConsistency } from '../session.js';
import { clientAbort } from './abort.js';
import { checkSurvivorFloor } from './floor.js';
import type { ClientContext, ClientRoundState, ClientSession, ClientTransition, HeldShares } from './context.js';
import { ConsistencyCheckState } from './r3-consistency-check.js';
import { CompletedState, unmaskResponse } from './r4-unmasking.js';

export class MaskedInputState implements ClientRoundState {
  readonly name = 'masked-input';
  constructor(
    private readonly ctx: ClientContext,
    private readonly session: ClientSession,
    private readonly held: HeldShares,
  ) {}

  receive(message: ServerMessage): ClientTransition {
    const { ctx, session, held } = this;
    const active = ctx.config.mode === 'active';
    if (active && message.kind === 'consistency-request') {
      checkSurvivors(ctx, session, held, message.survivors);
      const signature = signConsistency(ctx.identity!.secretKey, session.sessionId, message.survivors);
      return {
        next: new ConsistencyCheckState(ctx, session, held, [...message.survivors]),
        sends: [{ kind: 'consistency-signature', clientId: ctx.id, signature }],
      };
    }
    if (!active && message.kind === 'unmask-request') {
      if (message.signatures.length !== 0) clientAbort('PROTOCOL_VIOLATION', 'semi-honest unmask-request carries signatures');
      checkSurvivors(ctx, session, held, message.survivors);
      return { next: new CompletedState(), sends: [unmaskResponse(ctx, session, held, message.survivors)] };
    }
    clientAbort('PROTOCOL_VIOLATION', `unexpected ${message.kind} in masked-input (${ctx.config.mode} mode)`);
  }
}

/**
 * Checks a survivor set U3 against everything this client saw: first its own floor
 * (checkSurvivorFloor), then strictly increasing ids of U1, contains this client, at
 * least t members and at least t of this client's own
 * holders (itself and its neighbours), and every neighbour in it sent this
 * client shares (a neighbour the server earlier treated as dropped - no shares - can
 * never come back as a survivor: revealing its b-share could complete a leak).
 */
export function checkSurvivors(ctx: ClientContext, session: ClientSession, held: HeldShares, survivors: readonly number[]): void {
  checkSurvivorFloor(ctx, survivors);
  let prev = 0;
  let sawSelf = false;
  for (const v of survivors) {
    if (!Number.isInteger(v) || v <= prev) clientAbort('INCONSISTENT_SURVIVORS', 'survivor ids are not strictly increasing');
    prev = v;
    if (!session.peerKeys.has(v)) clientAbort('INCONSISTENT_SURVIVORS', `survivor ${v} did not advertise keys`);
    if (v === ctx.id) sawSelf = true;
    else if (session.graph.adjacent(ctx.id, v) && !held.keyShares.has(v)) {
      clientAbort('INCONSISTENT_SURVIVORS', `neighbour ${v} is listed as a survivor but sent no shares (dropped earlier)`);
    }
  }
  if (!sawSelf) clientAbort('INCONSISTENT_SURVIVORS', 'survivor set does not include this client');
  if (survivors.length < ctx.config.threshold) {
    clientAbort('INCONSISTENT_SURVIVORS', `${survivors.length} survivors < threshold ${ctx.config.threshold}`);
  }
  // SecAgg+ (Bell et al.): the bound that matters is per neighbourhood. With fewer than t of
  // its own holders surviving, this client's b_u cannot be rebuilt, and the shares it would
  // reveal serve no honest round.
  const holders = liveHolders(session.graph, ctx.id, new Set(survivors));
  if (holders < ctx.config.threshold) {
    clientAbort('NEIGHBOURHOOD_TOO_SMALL', `${holders} of this client's share holders survive < threshold ${ctx.config.threshold}`);
  }
}
