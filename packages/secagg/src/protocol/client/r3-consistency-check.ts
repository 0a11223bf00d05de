/**
 * Client round 3, ConsistencyCheck (active mode only): the client signed U3 and waits
 * for the unmask request, which must hold at least the client's floor (minSurvivors) of
 * survivors and carry the same U3 and at least t valid signatures
 * over it from clients in U3 (verified against the roster), t of them from its own share
 * holders (itself and its neighbours). Only then does it reveal shares.
 */
import type { ServerMessage } from '../messages.js';
import { liveHolders } from '../graph.js';
import { verifyConsistency } from '../session.js';
import { clientAbort } from './abort.js';
import type { ClientContext, ClientRoundState, ClientSession, ClientTransition, HeldShares } from './context.js';
import { checkSurvivorFloor } from './floor.js';
import { CompletedState, unmaskResponse } from './r4-unmasking.js';

export class ConsistencyCheckState implements ClientRoundState {
  readonly name = 'consistency-check';
  constructor(
    private readonly ctx: ClientContext,
    private readonly session: ClientSession,
    private readonly held: HeldShares,
    private readonly signed: readonly number[],
  ) {}

  receive(message: ServerMessage): ClientTransition {
    const { ctx, session, held, signed } = this;
    if (message.kind !== 'unmask-request') clientAbort('PROTOCOL_VIOLATION', `expected unmask-request in consistency-check, got ${message.kind}`);
    // The floor again, before anything else: a set below it is refused as such even when it
    // also differs from the signed one (which passed the floor when it was signed).
    checkSurvivorFloor(ctx, message.survivors);
    const same = message.survivors.length === signed.length && message.survivors.every((v, i) => v === signed[i]);
    if (!same) clientAbort('INCONSISTENT_SURVIVORS', 'unmask-request survivor set differs from the one this client signed');
    const members = new Set(signed);
    let prev = 0;
    for (const { clientId, signature } of message.signatures) {
      if (!Number.isInteger(clientId) || clientId <= prev) clientAbort('INVALID_CONSISTENCY_SIGNATURES', 'signer ids are not strictly increasing');
      prev = clientId;
      if (!members.has(clientId)) clientAbort('INVALID_CONSISTENCY_SIGNATURES', `signer ${clientId} is not a survivor`);
      const identity = ctx.roster!.get(clientId);
      if (identity === undefined || !verifyConsistency(identity, session.sessionId, signed, signature)) {
        clientAbort('INVALID_CONSISTENCY_SIGNATURES', `signature of client ${clientId} over the survivor set does not verify`);
      }
    }
    if (message.signatures.length < ctx.config.threshold) {
      clientAbort('INVALID_CONSISTENCY_SIGNATURES', `${message.signatures.length} signatures < threshold ${ctx.config.threshold}`);
    }
    // Only this client's holders can vouch for it: with 2t > holders, two different survivor
    // sets cannot both gather t signatures inside one neighbourhood, wherever else they gather them.
    const fromHolders = liveHolders(session.graph, ctx.id, new Set(message.signatures.map((s) => s.clientId)));
    if (fromHolders < ctx.config.threshold) {
      clientAbort('INVALID_CONSISTENCY_SIGNATURES', `${fromHolders} signatures from this client's share holders < threshold ${ctx.config.threshold}`);
    }
    return { next: new CompletedState(), sends: [unmaskResponse(ctx, session, held, signed)] };
  }
}
