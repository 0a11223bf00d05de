/**
 * What the server machine carries between rounds, and the contract of its per-round
 * states. Only server.ts creates the session; round modules read and extend it.
 */
import type { Rng } from '../../rng.js';
import type { NormalizedConfig } from '../config.js';
import type { CommunicationGraph } from '../graph.js';
import type { AdvertisedKeys, ClientMessage, ServerMessage, ShareKeysMessage } from '../messages.js';
import type { AbortReasonName } from '../reasons.js';

export type ServerStateName =
  | 'advertise-keys'
  | 'share-keys'
  | 'masked-input'
  | 'consistency-check'
  | 'unmasking'
  | 'completed'
  | 'aborted';

/** A message the host must deliver to one client. */
export interface ServerSend {
  readonly to: number;
  readonly message: ServerMessage;
}

/** The final aggregate. */
export interface AggregationResult {
  /** Sum over `survivors` of their inputs, mod 2^bits. */
  readonly sum: Uint32Array;
  /** U3: the clients whose inputs are in the sum (sorted). */
  readonly survivors: readonly number[];
  /** Every configured client not in the sum (sorted). */
  readonly dropped: readonly number[];
}

export interface ServerSession {
  readonly config: NormalizedConfig;
  readonly rng: Rng;
  readonly roster: ReadonlyMap<number, Uint8Array> | null;
  /** The server's floor on |U3| (local option `minSurvivors`), or null for none beyond t. */
  readonly minSurvivors: number | null;
  /** Clients whose connection the host reported closed (never un-dropped). */
  readonly disconnected: Set<number>;
  /** Round 0 output. */
  advertised?: Map<number, AdvertisedKeys>;
  u1?: number[];
  sessionId?: Uint8Array;
  graph?: CommunicationGraph;
  /** Round 1 output. */
  shareKeys?: Map<number, ShareKeysMessage>;
  u2?: number[];
  /** Round 2 output. */
  maskedInputs?: Map<number, Uint32Array>;
  u3?: number[];
  /** Round 3 output (active mode). */
  u4?: number[];
}

/** What closing a round produced. */
export type ServerTransition =
  | { readonly next: ServerRoundState; readonly sends: ServerSend[] }
  | { readonly abort: AbortReasonName; readonly detail: string }
  | { readonly result: AggregationResult };

/** One collecting state of the server. */
export interface ServerRoundState {
  readonly name: ServerStateName;
  /** Clients the round still waits for (not responded, not disconnected). */
  pending(): number[];
  /** Every client that takes part in this round (responded or pending). */
  participants(): number[];
  /**
   * Validates and stores one client's message.
   * @throws SecAggProtocolError; the state is unchanged
   */
  receive(clientId: number, message: ClientMessage): void;
  /** Ends the round with whoever responded. */
  close(): ServerTransition;
}
