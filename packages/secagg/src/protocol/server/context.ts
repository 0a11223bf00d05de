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

/**
 * A member the server found at fault (protocol-spec/05-state-machines.md sec. 7):
 * - 'share-reports': it was left out of U3 to settle share-reports (settleReports): members
 *   reported its share ciphertexts unusable (`reportedBy`) and/or it reported theirs
 *   (`reported`). The server cannot check a report (a ciphertext can also be spoiled in
 *   transit): a greedy cover picks a small set of members that settles every report pair.
 * - 'invalid-message': the server refused a message of this kind from it (ERR_INVALID_MESSAGE),
 *   e.g. an unmask share >= p.
 * - 'unmask-shares': its revealed shares of these owners' secrets were off the polynomial
 *   the other shares determine (found by robust reconstruction); they were discarded.
 */
export type ServerFault =
  | { readonly clientId: number; readonly kind: 'share-reports'; readonly reportedBy: readonly number[]; readonly reported: readonly number[] }
  | { readonly clientId: number; readonly kind: 'invalid-message'; readonly message: ClientMessage['kind'] }
  | { readonly clientId: number; readonly kind: 'unmask-shares'; readonly owners: readonly number[] };

/** The final aggregate. */
export interface AggregationResult {
  /** Sum over `survivors` of their inputs, mod 2^bits. */
  readonly sum: Uint32Array;
  /** U3: the clients whose inputs are in the sum (sorted). */
  readonly survivors: readonly number[];
  /** Every configured client not in the sum (sorted). */
  readonly dropped: readonly number[];
  /** Every member named in `faults` (sorted, distinct); empty in a round without faults. */
  readonly faulty: readonly number[];
  /** What each faulty member did, by client id then kind (see ServerFault). */
  readonly faults: readonly ServerFault[];
}

export interface ServerSession {
  readonly config: NormalizedConfig;
  readonly rng: Rng;
  readonly roster: ReadonlyMap<number, Uint8Array> | null;
  /** The server's floor on |U3| (local option `minSurvivors`), or null for none beyond t. */
  readonly minSurvivors: number | null;
  /** Clients whose connection the host reported closed (never un-dropped). */
  readonly disconnected: Set<number>;
  /** Faults found so far, recorded by the rounds (see collectFaults). */
  readonly faultLog: FaultLog;
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
  /** Round 2: reporter -> the senders it reported (share-report), and sender -> its reporters (ascending). */
  reportedBy?: ReadonlyMap<number, ReadonlySet<number>>;
  accused?: ReadonlyMap<number, readonly number[]>;
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

/** What the rounds record about faulty members; collectFaults turns it into ServerFaults. */
export interface FaultLog {
  /** client -> kinds of its refused (ERR_INVALID_MESSAGE) messages. */
  readonly invalid: Map<number, Set<ClientMessage['kind']>>;
  /** member left out of U3 over share-reports -> who reported it, whom it reported (both ascending). */
  readonly excluded: Map<number, { readonly reportedBy: readonly number[]; readonly reported: readonly number[] }>;
  /** holder -> owners whose secret it sent a share of that was off the polynomial. */
  readonly badShares: Map<number, Set<number>>;
}

export function newFaultLog(): FaultLog {
  return { invalid: new Map(), excluded: new Map(), badShares: new Map() };
}

/** The log as ServerFaults: by client id, then share-reports, invalid-message (by message kind), unmask-shares. */
export function collectFaults(log: FaultLog): ServerFault[] {
  const ids = new Set([...log.invalid.keys(), ...log.excluded.keys(), ...log.badShares.keys()]);
  const out: ServerFault[] = [];
  for (const clientId of [...ids].sort((a, b) => a - b)) {
    const ex = log.excluded.get(clientId);
    if (ex) out.push({ clientId, kind: 'share-reports', reportedBy: [...ex.reportedBy], reported: [...ex.reported] });
    for (const message of [...(log.invalid.get(clientId) ?? [])].sort()) out.push({ clientId, kind: 'invalid-message', message });
    const owners = log.badShares.get(clientId);
    if (owners) out.push({ clientId, kind: 'unmask-shares', owners: [...owners].sort((a, b) => a - b) });
  }
  return out;
}

/**
 * The faults as abort-detail text (wire bytes, 07-abort-reasons.md): '' without faults, else
 * ` (faulty: ` entries joined by `; ` `)`, each entry `client <id>: ` and one of
 * `left out over share-reports (reported by <ids>; reported <ids>)`, `invalid <message kind>`,
 * `bad unmask shares for <ids>` (ids ascending, joined by `,`; `none` for an empty list).
 */
export function faultText(faults: readonly ServerFault[]): string {
  if (faults.length === 0) return '';
  const list = (ids: readonly number[]): string => (ids.length === 0 ? 'none' : ids.join(','));
  const entry = (f: ServerFault): string => {
    switch (f.kind) {
      case 'share-reports': return `client ${f.clientId}: left out over share-reports (reported by ${list(f.reportedBy)}; reported ${list(f.reported)})`;
      case 'invalid-message': return `client ${f.clientId}: invalid ${f.message}`;
      case 'unmask-shares': return `client ${f.clientId}: bad unmask shares for ${f.owners.join(',')}`;
    }
  };
  return ` (faulty: ${faults.map(entry).join('; ')})`;
}
