/**
 * Drives ONE aggregation round over the connected cohort. All protocol logic is the
 * secagg server machine's; this module only moves bytes and keeps the clocks:
 * roundStart to every member, secagg frames in and out, a deadline per phase, drops
 * reported to the machine, and the machine's rejections turned into typed refusals.
 * In plaintext mode (bench baseline) it collects and sums the unmasked encoded inputs.
 */
import {
  addEncoded,
  decodeMessage,
  encodeMessage,
  SecAggError,
  SecAggServer,
  abortReasonName,
  type ClientMessage,
  type SecAggConfig,
  type ServerMessage,
  type Rng,
} from '@fedmeta/secagg';
import { TransportError, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import type { Peer } from './peer.js';
import type { ServerPhase } from './options.js';

/** Bulk cap of an authenticated peer outside its rounds: it has nothing large to send. */
export const IDLE_BULK_CAP = 64 << 10;

export interface RoundDeadlines {
  trainingMs: number;
  shareKeysMs: number;
  maskedInputMs: number;
  consistencyMs: number;
  unmaskingMs: number;
}

export interface RoundInput {
  round: number;
  /** Cohort members; member i gets secagg id i + 1. */
  cohort: Peer[];
  config: RoundConfig;
  params: Float32Array;
  secagg: SecAggConfig | null;
  /** Identity public keys per secagg id (active mode). */
  identities: Map<number, Uint8Array> | null;
  deadlines: RoundDeadlines;
  rng: Rng;
  /** The floor on the released sum: fewer surviving inputs abort the round, nothing is released. */
  minAggregate: number;
  log(level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void;
  progress(phase: ServerPhase, responded: number, dropped: number): void;
}

export type RoundOutcome =
  | { status: 'completed'; sum: Uint32Array; survivors: Peer[]; dropped: Peer[] }
  | { status: 'aborted'; reason: string; detail: string; dropped: Peer[] };

/** secagg state -> the runtime phase shown in progress, and its deadline. */
function phaseOf(state: string, d: RoundDeadlines): { phase: ServerPhase; ms: number } {
  switch (state) {
    case 'advertise-keys': return { phase: 'training', ms: d.trainingMs };
    case 'share-keys': return { phase: 'share-keys', ms: d.shareKeysMs };
    case 'masked-input': return { phase: 'masked-input', ms: d.maskedInputMs };
    case 'consistency-check': return { phase: 'consistency', ms: d.consistencyMs };
    default: return { phase: 'unmasking', ms: d.unmaskingMs };
  }
}

/** Maps a secagg rejection to the runtime code the peer sees. */
function refusalFor(err: SecAggError, what: string): TransportError {
  const code = /length/i.test(err.message) ? 'ERR_VECTOR_LENGTH' : 'ERR_PROTOCOL';
  return new TransportError(code, `${what}: ${err.code}: ${err.message}`, { cause: err });
}

export interface RunningRound {
  readonly outcome: Promise<RoundOutcome>;
  /** Host shutdown: aborts the session (abort messages go out) and resolves the outcome. */
  cancel(detail: string): void;
  /**
   * A member was revoked: it leaves the round like a dropout, unless its masked (or plain)
   * input was already taken, in which case the round aborts so that no sum holding the
   * revoked member's update is released.
   */
  revoke(peer: Peer, err: TransportError): void;
}

/** Starts the round; the returned promise settles when it completes or aborts. */
export function startRound(input: RoundInput): RunningRound {
  const { round, cohort, config } = input;
  const idOf = new Map<Peer, number>(cohort.map((p, i) => [p, i + 1]));
  const peerOf = new Map<number, Peer>(cohort.map((p, i) => [i + 1, p]));
  const gone = new Set<Peer>();
  let timer: NodeJS.Timeout | null = null;
  let settle!: (o: RoundOutcome) => void;
  const outcome = new Promise<RoundOutcome>((resolve) => (settle = resolve));
  let finished = false;

  const cleanup = () => {
    finished = true;
    if (timer) clearTimeout(timer);
    for (const p of cohort) {
      p.conn.setBulkCap(IDLE_BULK_CAP);
      p.handler = null;
      p.closeListeners.delete(onClose.get(p)!);
    }
  };
  const finish = (o: RoundOutcome) => {
    if (finished) return;
    cleanup();
    settle(o);
  };

  const refuse = (peer: Peer, err: TransportError) => {
    input.log('warn', 'round.refused', { round, peer: peer.name, code: err.code, message: err.message });
    peer.conn.fail(err);
  };

  const onClose = new Map<Peer, (e: TransportError | null) => void>();
  const plaintext = config.aggregation.mode === 'plaintext';
  const machine = plaintext ? null : new SecAggServer(input.secagg!, input.rng, { ...(input.identities ? { roster: input.identities } : {}), minSurvivors: input.minAggregate });
  /** Members whose masked (or plain) input the round has taken. */
  const inputFrom = new Set<Peer>();
  const plainInputs = new Map<Peer, Uint32Array>();
  const encodedCache = new WeakMap<ServerMessage, Uint8Array>();

  const deliver = (sends: readonly { to: number; message: ServerMessage }[]) => {
    for (const { to, message } of sends) {
      const peer = peerOf.get(to);
      if (!peer || gone.has(peer)) continue;
      let payload = encodedCache.get(message);
      if (!payload) {
        payload = encodeMessage(message);
        encodedCache.set(message, payload);
      }
      peer.send({ type: 'secagg', round, payload });
    }
  };

  const droppedPeers = () => cohort.filter((p) => gone.has(p));

  const report = () => {
    if (machine) {
      const { phase } = phaseOf(machine.state, input.deadlines);
      const pending = machine.pendingClients.length;
      input.progress(phase, cohort.length - gone.size - pending, gone.size);
    } else {
      input.progress('masked-input', plainInputs.size, gone.size);
    }
  };

  const armTimer = () => {
    if (timer) clearTimeout(timer);
    const { phase, ms } = machine ? phaseOf(machine.state, input.deadlines) : { phase: 'masked-input' as ServerPhase, ms: input.deadlines.trainingMs };
    timer = setTimeout(() => {
      input.log('info', 'round.deadline', { round, phase, ms });
      advance(true);
    }, ms);
  };

  /** Closes phases for as long as the machine is ready (or once, when a deadline fired). */
  const advance = (deadline: boolean) => {
    if (finished) return;
    if (!machine) {
      if (!deadline && plainInputs.size + gone.size < cohort.length) return;
      const survivors = cohort.filter((p) => plainInputs.has(p));
      if (survivors.length < Math.max(2, input.minAggregate)) {
        finish({ status: 'aborted', reason: 'TOO_FEW_SURVIVORS', detail: `${survivors.length} plaintext inputs, below the floor of ${Math.max(2, input.minAggregate)}`, dropped: cohort.filter((p) => !plainInputs.has(p)) });
        return;
      }
      const sum = new Uint32Array(config.aggregation.vectorLength);
      for (const p of survivors) addEncoded(sum, plainInputs.get(p)!, config.aggregation.bits);
      finish({ status: 'completed', sum, survivors, dropped: cohort.filter((p) => !plainInputs.has(p)) });
      return;
    }
    let force = deadline;
    while (!finished && (force || machine.readyToAdvance)) {
      force = false;
      const before = machine.state;
      deliver(machine.closeRound().sends);
      input.log('debug', 'round.phase', { round, from: before, to: machine.state });
      if (machine.state === 'completed') {
        const r = machine.result!;
        finish({ status: 'completed', sum: r.sum, survivors: r.survivors.map((id) => peerOf.get(id)!), dropped: r.dropped.map((id) => peerOf.get(id)!) });
        return;
      }
      if (machine.state === 'aborted') {
        finish({ status: 'aborted', reason: abortReasonName(machine.abortReason!), detail: machine.abortDetail, dropped: droppedPeers() });
        return;
      }
      armTimer();
    }
    report();
  };

  const onMessage = (peer: Peer, msg: RuntimeMessage) => {
    if (finished) return;
    if ((msg.type === 'progress' || msg.type === 'secagg' || msg.type === 'plainInput') && msg.round < round) {
      input.log('debug', 'round.late-message', { round, peer: peer.name, type: msg.type, of: msg.round });
      return;
    }
    if (msg.type === 'progress') {
      if (msg.round !== round) throw new TransportError('ERR_ROUND_MISMATCH', `progress for round ${msg.round} during round ${round}`);
      return;
    }
    if (msg.type === 'plainInput') {
      if (!plaintext) throw new TransportError('ERR_UNEXPECTED_FRAME', 'plainInput in a masked round');
      if (msg.round !== round) throw new TransportError('ERR_ROUND_MISMATCH', `plainInput for round ${msg.round} during round ${round}`);
      if (plainInputs.has(peer)) throw new TransportError('ERR_PROTOCOL', 'duplicate plainInput');
      const v = msg.vector;
      if (v.length !== config.aggregation.vectorLength) throw new TransportError('ERR_VECTOR_LENGTH', `plainInput has ${v.length} entries, expected ${config.aggregation.vectorLength}`);
      const bits = config.aggregation.bits;
      if (bits < 32) for (let i = 0; i < v.length; i++) if (v[i]! >>> bits !== 0) throw new TransportError('ERR_BAD_PAYLOAD', `plainInput[${i}] is not below 2^${bits}`);
      plainInputs.set(peer, v);
      inputFrom.add(peer);
      report();
      advance(false);
      return;
    }
    if (msg.type !== 'secagg') throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} during a round`);
    if (msg.round !== round) throw new TransportError('ERR_ROUND_MISMATCH', `secagg message for round ${msg.round} during round ${round}`);
    if (!machine) throw new TransportError('ERR_UNEXPECTED_FRAME', 'secagg message in a plaintext round');
    let decoded: ClientMessage;
    try {
      decoded = decodeMessage(msg.payload, { maxVectorLength: config.aggregation.vectorLength }) as ClientMessage;
    } catch (err) {
      throw err instanceof SecAggError ? refusalFor(err, 'secagg message') : err;
    }
    if (decoded.kind === 'masked-input' && decoded.vector.length !== config.aggregation.vectorLength) {
      throw new TransportError('ERR_VECTOR_LENGTH', `masked input has ${decoded.vector.length} entries, expected ${config.aggregation.vectorLength}`);
    }
    try {
      deliver(machine.receive(idOf.get(peer)!, decoded).sends);
      if (decoded.kind === 'masked-input') inputFrom.add(peer);
    } catch (err) {
      throw err instanceof SecAggError ? refusalFor(err, `secagg ${decoded.kind}`) : err;
    }
    report();
    advance(false);
  };

  // The largest thing a member may send this round is its masked (or plain) vector plus
  // the secagg header; shares and signatures are far smaller. Bounds server memory to
  // about one vector per member instead of maxMessageBytes per member.
  const roundBulkCap = 4 * config.aggregation.vectorLength + (64 << 10);
  for (const peer of cohort) {
    const id = idOf.get(peer)!;
    peer.conn.setBulkCap(roundBulkCap);
    peer.handler = (msg) => {
      try {
        onMessage(peer, msg);
      } catch (err) {
        refuse(peer, err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String(err), { cause: err }));
      }
    };
    const listener = () => {
      if (finished || gone.has(peer)) return;
      gone.add(peer);
      input.log('info', 'round.dropped', { round, peer: peer.name, id, state: machine?.state ?? 'plaintext' });
      if (machine && machine.state !== 'completed' && machine.state !== 'aborted') deliver(machine.clientDropped(id).sends);
      report();
      advance(false);
    };
    onClose.set(peer, listener);
    peer.closeListeners.add(listener);
  }

  for (const peer of cohort) {
    if (!peer.isReady) {
      onClose.get(peer)!(null);
      continue;
    }
    peer.send({ type: 'roundStart', round, participantId: idOf.get(peer)!, config: config as unknown as Record<string, unknown>, params: input.params });
  }
  if (!finished) {
    armTimer();
    report();
    advance(false);
  }

  return {
    outcome,
    cancel(detail: string) {
      if (finished) return;
      if (machine && machine.state !== 'completed' && machine.state !== 'aborted') deliver(machine.abort(detail).sends);
      finish({ status: 'aborted', reason: 'CANCELLED', detail, dropped: droppedPeers() });
    },
    revoke(peer: Peer, err: TransportError) {
      if (finished || !idOf.has(peer)) return;
      if (inputFrom.has(peer)) {
        const detail = `member '${peer.name}' was revoked after its input was taken: no sum holding it is released (${err.message})`;
        input.log('warn', 'round.revoked-member', { round, peer: peer.name, abort: true });
        if (machine && machine.state !== 'completed' && machine.state !== 'aborted') deliver(machine.abort(detail).sends);
        finish({ status: 'aborted', reason: 'MEMBER_REVOKED', detail, dropped: [...droppedPeers(), peer] });
        return;
      }
      input.log('warn', 'round.revoked-member', { round, peer: peer.name, abort: false });
      // The close that follows reports it to the machine as a dropout.
    },
  };
}
