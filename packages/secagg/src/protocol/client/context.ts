/**
 * What a client machine carries from round to round. The per-round state modules read
 * and extend it; only client.ts creates it. Secrets stay in here and never leave
 * except as the shares the protocol allows.
 */
import type { Rng } from '../../rng.js';
import type { NormalizedConfig } from '../config.js';
import type { CommunicationGraph } from '../graph.js';
import type { ClientMessage, ServerMessage } from '../messages.js';
import type { ShamirShare } from '../../shamir/index.js';
import type { SecAggAbortError } from '../reasons.js';

export interface ClientIdentity {
  /** Ed25519 secret key (32 bytes) of this client's long-term identity. */
  readonly secretKey: Uint8Array;
}

export interface ClientContext {
  readonly id: number;
  readonly config: NormalizedConfig;
  readonly rng: Rng;
  readonly identity: ClientIdentity | null;
  /** Identity public keys of every expected client (active mode). */
  readonly roster: ReadonlyMap<number, Uint8Array> | null;
  readonly input: Uint32Array | (() => Uint32Array);
  /** This client's floor on |U3| (local option `minSurvivors`), or null for none beyond t. */
  readonly minSurvivors: number | null;
}

/** Key material generated in AdvertiseKeys. */
export interface ClientKeys {
  readonly cSk: Uint8Array;
  readonly cPk: Uint8Array;
  readonly sSk: Uint8Array;
  readonly sPk: Uint8Array;
}

/** What the key list fixed: session id, graph and every peer's keys. */
export interface ClientSession {
  readonly keys: ClientKeys;
  readonly sessionId: Uint8Array;
  readonly graph: CommunicationGraph;
  readonly peerKeys: ReadonlyMap<number, { cPk: Uint8Array; sPk: Uint8Array }>;
  /** AEAD key shared with each neighbour (derived once from the c agreement). */
  readonly shareKeys: ReadonlyMap<number, Uint8Array>;
  /** The self-mask secret b_u. */
  readonly selfSecret: Uint8Array;
  /** This client's own shares of its s_sk and b_u (it is one of its holders). */
  readonly ownKeyShare: ShamirShare;
  readonly ownSelfMaskShare: ShamirShare;
}

/** Shares received from neighbours in U2 (the server's implicit U2 as seen by this client). */
export interface HeldShares {
  /** ownerId -> share of the owner's s_sk. */
  readonly keyShares: ReadonlyMap<number, Uint8Array>;
  /** ownerId -> share of the owner's b. */
  readonly selfMaskShares: ReadonlyMap<number, Uint8Array>;
}

/**
 * Result of handing a message to a client round state: the next state and the messages to
 * send, or - when the client must leave but still has something to tell the server (its
 * share-report) - those messages and the abort the machine ends with (its abort message
 * is sent after them).
 */
export type ClientTransition =
  | { readonly next: ClientRoundState; readonly sends: ClientMessage[]; readonly abort?: undefined }
  | { readonly next?: undefined; readonly sends: ClientMessage[]; readonly abort: SecAggAbortError };

/** One waiting state of the client; `receive` either transitions or throws SecAggAbortError. */
export interface ClientRoundState {
  readonly name: ClientStateName;
  receive(message: ServerMessage): ClientTransition;
}

export type ClientStateName =
  | 'idle'
  | 'advertise-keys'
  | 'share-keys'
  | 'masked-input'
  | 'consistency-check'
  | 'completed'
  | 'aborted';
