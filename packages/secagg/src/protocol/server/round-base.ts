/**
 * Common bookkeeping of a server round: who is expected, who answered, rejection of
 * duplicates and of clients that are not (or no longer) part of the round. Subclasses
 * only validate their message kind and say what closing the round does.
 */
import type { ClientMessage } from '../messages.js';
import { SecAggProtocolError } from '../reasons.js';
import type { ServerRoundState, ServerSession, ServerStateName, ServerTransition } from './context.js';

export abstract class CollectingRound<K extends ClientMessage['kind'], V> implements ServerRoundState {
  abstract readonly name: ServerStateName;
  protected abstract readonly kind: K;
  protected readonly responses = new Map<number, V>();
  private readonly expectedSet: ReadonlySet<number>;

  constructor(
    protected readonly session: ServerSession,
    /** Sorted ids expected to answer in this round. */
    protected readonly expected: readonly number[],
  ) {
    this.expectedSet = new Set(expected);
  }

  pending(): number[] {
    return this.expected.filter((id) => !this.responses.has(id) && !this.session.disconnected.has(id));
  }

  participants(): number[] {
    return this.expected.filter((id) => this.responses.has(id) || !this.session.disconnected.has(id));
  }

  /**
   * Everyone who answered, sorted - even if the connection closed afterwards: what they
   * sent is here, and a later silence is just a dropout in the next round.
   */
  protected responders(): number[] {
    return this.expected.filter((id) => this.responses.has(id));
  }

  receive(clientId: number, message: ClientMessage): void {
    if (message.kind !== this.kind) {
      throw new SecAggProtocolError('ERR_UNEXPECTED_MESSAGE', `${this.name}: ${message.kind} from client ${clientId} is not accepted in this round`, { clientId });
    }
    this.admit(clientId, message.kind);
    if (this.responses.has(clientId)) {
      throw new SecAggProtocolError('ERR_DUPLICATE_MESSAGE', `${this.name}: client ${clientId} already answered this round`, { clientId });
    }
    this.responses.set(clientId, this.validate(clientId, message as Extract<ClientMessage, { kind: K }>));
  }

  /** The sender must take part in this round and not be dropped. @throws SecAggProtocolError */
  protected admit(clientId: number, kind: ClientMessage['kind']): void {
    if (!this.expectedSet.has(clientId)) {
      throw new SecAggProtocolError('ERR_NOT_PARTICIPATING', `${this.name}: client ${clientId} is not part of this round (${kind})`, { clientId });
    }
    if (this.session.disconnected.has(clientId)) {
      throw new SecAggProtocolError('ERR_LATE_MESSAGE', `${this.name}: client ${clientId} was already declared dropped (${kind})`, { clientId });
    }
  }

  /** Checks one message and returns what to store. @throws SecAggProtocolError ERR_INVALID_MESSAGE */
  protected abstract validate(clientId: number, message: Extract<ClientMessage, { kind: K }>): V;
  abstract close(): ServerTransition;
}

/** Throws the rejection for a malformed field. */
export function invalid(round: string, clientId: number, detail: string): never {
  throw new SecAggProtocolError('ERR_INVALID_MESSAGE', `${round}: message from client ${clientId} rejected: ${detail}`, { clientId });
}
