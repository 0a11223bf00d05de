/**
 * The SecAgg / SecAgg+ server machine (sans-IO). The host owns sockets and clocks:
 *
 *   const server = new SecAggServer(config, rng);
 *   on message (id, m):   deliver(server.receive(id, m));   // may throw SecAggProtocolError
 *   on socket close (id): deliver(server.clientDropped(id));
 *   on deadline, or as soon as server.readyToAdvance: deliver(server.closeRound());
 *   ... until server.state is 'completed' (server.result) or 'aborted' (server.abortReason).
 *
 * `deliver(outputs)` sends each `outputs.sends[i].message` to client `outputs.sends[i].to`.
 * A rejected message (wrong round, late, duplicate, malformed) throws a typed
 * SecAggProtocolError and changes nothing: the round goes on. Aborts never throw: the
 * machine moves to 'aborted' and returns an `abort` message for every live participant.
 *
 * A client's `abort` message counts as its dropout, except a survivor's refusal of the
 * survivor set (TOO_FEW_SURVIVORS, while the round it was shown U3 in waits for it): that
 * makes the round ready to close, and closing it aborts the session with that reason -
 * the sum would hold the refusing client's input. With `minSurvivors` the server also
 * aborts (TOO_FEW_SURVIVORS) when MaskedInputCollection closes with fewer survivors.
 */
import { InvalidArgumentError } from '../../errors.js';
import { systemRng, type Rng } from '../../rng.js';
import { normalizeConfig, normalizeMinSurvivors, type NormalizedConfig, type SecAggConfig } from '../config.js';
import type { AbortMessage, ClientMessage } from '../messages.js';
import { ABORT_REASONS, SecAggProtocolError, type AbortReasonCode, type AbortReasonName } from '../reasons.js';
import { collectFaults, faultText, newFaultLog, type AggregationResult, type ServerFault, type ServerRoundState, type ServerSend, type ServerSession, type ServerStateName } from './context.js';
import { AdvertiseKeysRound } from './r0-advertise-keys.js';

export type { AggregationResult, ServerFault, ServerSend, ServerStateName } from './context.js';

/** Longest abort detail on the wire (04-messages.md): longer ones end in '...' at this many UTF-8 bytes. */
const MAX_DETAIL_BYTES = 1024;

/** What a call into the server produced for the host to do. */
export interface ServerOutputs {
  /** Messages to deliver, in order. */
  readonly sends: readonly ServerSend[];
}

export interface SecAggServerOptions {
  /**
   * Identity public keys of the expected clients. In active mode the server then
   * rejects advertise/consistency messages whose signatures do not verify (clients
   * verify in any case).
   */
  readonly roster?: ReadonlyMap<number, Uint8Array>;
  /**
   * The server's floor on a released sum: the fewest survivors (|U3|) it accepts, an
   * integer >= 2. MaskedInputCollection closing with fewer aborts the session with
   * TOO_FEW_SURVIVORS before any consistency or unmask request goes out. Local
   * configuration, not sent to clients (each client applies its own). Default: no floor
   * beyond the threshold t.
   */
  readonly minSurvivors?: number;
}

export class SecAggServer {
  readonly config: NormalizedConfig;
  private readonly known: ReadonlySet<number>;
  private readonly session: ServerSession;
  private round: ServerRoundState | null;
  private finalState: 'completed' | 'aborted' | null = null;
  private outcome: AggregationResult | null = null;
  private reason: AbortReasonCode | null = null;
  private reasonDetail = '';
  /** A survivor that refused the survivor set (TOO_FEW_SURVIVORS): closing the round aborts. */
  private refusedBy: number | null = null;

  /**
   * @param config the session config (validated; throws InvalidArgumentError naming the field)
   * @param rng reserved for server-side randomness (the protocol's server needs none today)
   * @throws InvalidArgumentError for a bad config, roster or minSurvivors (naming it)
   */
  constructor(config: SecAggConfig, rng: Rng = systemRng, options: SecAggServerOptions = {}) {
    this.config = normalizeConfig(config);
    this.known = new Set(this.config.clientIds);
    if (options.roster !== undefined && !(options.roster instanceof Map)) throw new InvalidArgumentError('options.roster: expected a Map');
    const minSurvivors = normalizeMinSurvivors(options.minSurvivors, 'options.minSurvivors');
    this.session = {
      config: this.config, rng, roster: options.roster ? new Map(options.roster) : null, minSurvivors, disconnected: new Set(), faultLog: newFaultLog(),
    };
    this.round = new AdvertiseKeysRound(this.session);
  }

  /** The current round, or 'completed' / 'aborted'. */
  get state(): ServerStateName {
    return this.finalState ?? this.round!.name;
  }

  /**
   * True when every client the round waits for has answered or dropped, or a survivor
   * refused the survivor set (closing the round then aborts).
   */
  get readyToAdvance(): boolean {
    return this.round !== null && (this.refusedBy !== null || this.round.pending().length === 0);
  }

  /** Clients the current round still waits for. */
  get pendingClients(): readonly number[] {
    return this.round?.pending() ?? [];
  }

  /** The session id once AdvertiseKeys closed (null before). */
  get sessionId(): Uint8Array | null {
    return this.session.sessionId ?? null;
  }

  /** The aggregate once 'completed'. */
  get result(): AggregationResult | null {
    return this.outcome;
  }

  /** The registered reason once 'aborted'. */
  get abortReason(): AbortReasonCode | null {
    return this.reason;
  }

  /** The detail of the abort message (wire bytes, worded as in 07-abort-reasons.md). */
  get abortDetail(): string {
    return this.reasonDetail;
  }

  /**
   * Members found at fault so far (any state; final once completed or aborted): clients
   * reported for unusable share ciphertexts, clients with a refused (ERR_INVALID_MESSAGE)
   * message, holders whose unmask shares were off the polynomial. See ServerFault.
   */
  get faults(): readonly ServerFault[] {
    return collectFaults(this.session.faultLog);
  }

  /**
   * Hands one client's message to the current round.
   * @param clientId the id the transport authenticated (must match the message's own id)
   * @throws SecAggProtocolError (ERR_UNKNOWN_CLIENT, ERR_CLIENT_ID_MISMATCH,
   *   ERR_UNEXPECTED_MESSAGE, ERR_LATE_MESSAGE, ERR_NOT_PARTICIPATING, ERR_DUPLICATE_MESSAGE,
   *   ERR_INVALID_MESSAGE, ERR_SESSION_FINISHED); the session state is unchanged
   */
  receive(clientId: number, message: ClientMessage): ServerOutputs {
    if (!this.known.has(clientId)) throw new SecAggProtocolError('ERR_UNKNOWN_CLIENT', `receive: client ${String(clientId)} is not in the session`);
    if (message === null || typeof message !== 'object') throw new SecAggProtocolError('ERR_INVALID_MESSAGE', 'receive: message is not an object', { clientId });
    if ('clientId' in message && message.clientId !== clientId) {
      throw new SecAggProtocolError('ERR_CLIENT_ID_MISMATCH', `receive: message claims client ${message.clientId}, transport says ${clientId}`, { clientId });
    }
    if (this.round === null) throw new SecAggProtocolError('ERR_SESSION_FINISHED', `receive: session ${this.finalState}; ${message.kind} from client ${clientId} ignored`, { clientId });
    if (message.kind === 'abort') return this.clientAborted(clientId, message);
    if (message.kind === 'masked-input' && this.session.u3 !== undefined) {
      throw new SecAggProtocolError('ERR_LATE_MESSAGE', `receive: masked input from client ${clientId} after MaskedInputCollection closed`, { clientId });
    }
    try {
      this.round.receive(clientId, message);
    } catch (err) {
      // A refused malformed message names its sender as faulty; the round goes on without it.
      if (err instanceof SecAggProtocolError && err.code === 'ERR_INVALID_MESSAGE') {
        const log = this.session.faultLog.invalid;
        if (!log.has(clientId)) log.set(clientId, new Set());
        log.get(clientId)!.add(message.kind);
      }
      throw err;
    }
    return { sends: [] };
  }

  /**
   * A client's abort message: it is out of the session like a dropped client. A refusal of
   * the survivor set (TOO_FEW_SURVIVORS) from a client the consistency-check or unmasking
   * round waits for - it was shown U3 and its input is in the sum - also dooms the round:
   * closing it aborts with that reason. Any other reason, or one from a client not shown
   * U3 or already answered, is a plain dropout.
   */
  private clientAborted(clientId: number, message: AbortMessage): ServerOutputs {
    const round = this.round!;
    const shownSurvivors = round.name === 'consistency-check' || round.name === 'unmasking';
    if (message.reason === ABORT_REASONS.TOO_FEW_SURVIVORS && shownSurvivors && this.refusedBy === null && round.pending().includes(clientId)) {
      this.refusedBy = clientId;
    }
    return this.clientDropped(clientId);
  }

  /**
   * The host reports that a client's connection is gone. The client is out of every
   * later round; the current round may now be ready to advance.
   */
  clientDropped(clientId: number): ServerOutputs {
    if (!this.known.has(clientId)) throw new SecAggProtocolError('ERR_UNKNOWN_CLIENT', `clientDropped: client ${String(clientId)} is not in the session`);
    this.session.disconnected.add(clientId);
    return { sends: [] };
  }

  /**
   * Closes the current round with whoever answered (the host's deadline fired, or
   * readyToAdvance). Returns the next round's messages, or abort messages (always the
   * TOO_FEW_SURVIVORS abort once a survivor refused the survivor set).
   * @throws SecAggProtocolError ERR_SESSION_FINISHED after completion/abort
   */
  closeRound(): ServerOutputs {
    if (this.round === null) throw new SecAggProtocolError('ERR_SESSION_FINISHED', `closeRound: session ${this.finalState}`);
    const participants = this.round.participants();
    if (this.refusedBy !== null) {
      const detail = `client ${this.refusedBy} refused the survivor set of ${this.session.u3!.length} (below its floor)${faultText(this.faults)}`;
      return this.enterAbort('TOO_FEW_SURVIVORS', detail, participants);
    }
    const t = this.round.close();
    if ('next' in t) {
      this.round = t.next;
      // Nothing is sent to a closed connection; the client is simply pending-dropped.
      return { sends: t.sends.filter((s) => !this.session.disconnected.has(s.to)) };
    }
    if ('result' in t) {
      this.round = null;
      this.finalState = 'completed';
      this.outcome = t.result;
      return { sends: [] };
    }
    return this.enterAbort(t.abort, t.detail + faultText(this.faults), participants);
  }

  /** Host-initiated abort (e.g. shutdown): every live participant gets an abort message with `detail` as given. */
  abort(detail = 'cancelled by the host'): ServerOutputs {
    if (this.round === null) return { sends: [] };
    return this.enterAbort('CANCELLED', detail, this.round.participants());
  }

  private enterAbort(name: AbortReasonName, detail: string, participants: readonly number[]): ServerOutputs {
    this.round = null;
    this.finalState = 'aborted';
    this.reason = ABORT_REASONS[name];
    this.reasonDetail = clipDetail(detail);
    const message = { kind: 'abort', reason: this.reason, detail: this.reasonDetail } as const;
    return { sends: participants.filter((id) => !this.session.disconnected.has(id)).map((to) => ({ to, message })) };
  }
}

/** `detail` cut to at most MAX_DETAIL_BYTES UTF-8 bytes: longer ones keep whole characters and end in '...'. */
export function clipDetail(detail: string): string {
  const enc = new TextEncoder();
  if (enc.encode(detail).length <= MAX_DETAIL_BYTES) return detail;
  let out = '';
  let bytes = 0;
  for (const ch of detail) {
    const n = enc.encode(ch).length;
    if (bytes + n > MAX_DETAIL_BYTES - 3) break;
    out += ch;
    bytes += n;
  }
  return `${out}...`;
}
