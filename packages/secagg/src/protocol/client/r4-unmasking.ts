/**
 * Client round 4, Unmasking: for each neighbour in its U2 view the client reveals
 * exactly one share: the b-share if the neighbour survived (in U3), the s_sk-share if
 * it dropped. It never reveals both for the same peer - the invariant that keeps a late
 * or withheld masked input private. It also reveals its own b-share (it is a holder).
 */
import { SecAggError } from '../../errors.js';
import type { ServerMessage, UnmaskResponseMessage, RevealedShare } from '../messages.js';
import { clientAbort } from './abort.js';
import type { ClientContext, ClientRoundState, ClientSession, ClientTransition, HeldShares } from './context.js';

export function unmaskResponse(
  ctx: ClientContext,
  session: ClientSession,
  held: HeldShares,
  survivors: readonly number[],
): UnmaskResponseMessage {
  const alive = new Set(survivors);
  const selfMaskShares: RevealedShare[] = [];
  const keyShares: RevealedShare[] = [];
  const owners = [...held.keyShares.keys(), ctx.id].sort((a, b) => a - b);
  for (const owner of owners) {
    if (owner === ctx.id) selfMaskShares.push({ ownerId: owner, share: session.ownSelfMaskShare.y });
    else if (alive.has(owner)) selfMaskShares.push({ ownerId: owner, share: held.selfMaskShares.get(owner)! });
    else keyShares.push({ ownerId: owner, share: held.keyShares.get(owner)! });
  }
  // Defence in depth: the two owner lists are disjoint by construction; fail closed if not.
  const revealedSelf = new Set(selfMaskShares.map((s) => s.ownerId));
  if (keyShares.some((s) => revealedSelf.has(s.ownerId))) {
    throw new SecAggError('ERR_INTERNAL', 'refusing to reveal both shares of one peer');
  }
  return { kind: 'unmask-response', clientId: ctx.id, selfMaskShares, keyShares };
}

/** Terminal state after the unmask response: nothing else is expected but a server abort. */
export class CompletedState implements ClientRoundState {
  readonly name = 'completed';
  receive(message: ServerMessage): ClientTransition {
    clientAbort('PROTOCOL_VIOLATION', `unexpected ${message.kind} after completion`);
  }
}
