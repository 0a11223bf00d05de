/**
 * One authenticated connection's worth of a client: the rounds it is sampled into, from
 * roundStart to roundEnd. It checks each round against the site's policy, trains (through
 * an injected trainer), encodes, drives the SecAgg client machine, keeps a watchdog on the
 * server's silence and sends training progress. It owns no socket and reads no clock of
 * its own: sending, closing, time and randomness are injected, so every path is
 * unit-tested with a fake clock (test/session.test.ts). client.ts runs the connect /
 * reconnect loop around it.
 */
import { decodeMessage, encodeFixedPoint, encodeMessage, SecAggAbortError, SecAggClient, SecAggError, type ClientMessage, type Rng, type ServerMessage } from '@fedmeta/secagg';
import { fromHex, parseRoundConfig, toHex, TransportError, type FederationSettings, type MessageOf, type RoundConfig, type RuntimeMessage, type Standardisation } from '@fedmeta/transport';
import type { LocalResult } from '@fedmeta/meta';
import { consistencyViolations, evaluationViolations, minSurvivors, roundViolations, type SitePolicy } from './policy.js';
import { encodeEvaluation, evalReportOf, type LocalEvaluation } from './evaluation.js';
import type { ClientEvaluationRecord, ClientEvent, ClientPhase, ClientRoundRecord, ClientTestHooks } from './options.js';

/** Time, injected (the process clock in production, a fake one in tests). */
export interface SessionClock {
  now(): number;
  setTimer(fn: () => void, ms: number): { readonly id: unknown };
  clearTimer(handle: { readonly id: unknown }): void;
}

/** The connection, as the session sees it. */
export interface SessionLink {
  send(msg: RuntimeMessage): void;
  /** Closes with a typed refusal (error frame, then the close). */
  fail(err: TransportError): void;
  /** Closes without a goodbye (a crash, as the server sees it). */
  terminate(): void;
  /** A normal close (the federation is over). */
  close(): void;
  /** When the server was last heard (any frame or ping), ms since the epoch. */
  lastSeen(): number;
  readonly isOpen: boolean;
}

export interface SessionOptions {
  link: SessionLink;
  clock: SessionClock;
  rng: Rng;
  /** The federation id of the challenge (the round config must repeat it). */
  federationId: string;
  identity: { publicKey: Uint8Array; secretKey: Uint8Array };
  /** Hex of the out-of-band trusted identity keys (active mode), or null to trust the server. */
  trusted: ReadonlySet<string> | null;
  policy: SitePolicy;
  /**
   * The federation settings this site accepted at the welcome: every round is held to them
   * (policy.ts consistencyViolations), whatever the policy says.
   */
  accepted: FederationSettings;
  /** Checks the announced model against the params (throws TransportError). */
  prepare(config: RoundConfig, params: Float32Array): void;
  /** Trains one round; `beat` may be called while it runs, to send progress. */
  train(config: RoundConfig, params: Float32Array): Promise<LocalResult>;
  /** Encodes the local result for aggregation (quantiser or DDG). */
  encode(config: RoundConfig, local: LocalResult, rng: Rng): Uint32Array;
  /** Evaluates the round's params on this site's held-out rows (an evaluation round). */
  evaluate(config: RoundConfig, params: Float32Array, bins: number): LocalEvaluation | Promise<LocalEvaluation>;
  /** The site's raw feature statistics [count, sum_1..f, sumsq_1..f] for the statistics round. */
  statistics(features: number): Float64Array;
  /** Train from now on with the federation's standardisation. */
  standardise(s: Standardisation): void;
  /** While training, a progress frame this often (0: none). */
  progressIntervalMs: number;
  /** No frame and no ping from the server for this long: the link is treated as dead. */
  serverTimeoutMs: number;
  hooks?: ClientTestHooks;
  /** State that outlives one connection: the drop hook fires once per client, not per session. */
  shared: { dropHookFired: boolean };
  log(level: ClientEvent['level'], event: string, fields?: Record<string, unknown>): void;
  /** The session's visible state changed (for progress lines). */
  changed(state: 'idle' | 'training' | 'aggregating'): void;
}

interface ActiveRound {
  round: number;
  config: RoundConfig;
  machine: SecAggClient | null;
  phase?: ClientPhase;
  record: ClientRoundRecord;
  /** An evaluation round: this site's own result, once computed. */
  evaluation?: { local: LocalEvaluation | null };
}

export class ClientSession {
  readonly records: ClientRoundRecord[] = [];
  /** Evaluation rounds: this site's result and the federation's, as the coordinator reported it. */
  readonly evaluations: ClientEvaluationRecord[] = [];
  private active: ActiveRound | null = null;
  private watchdog: { readonly id: unknown } | null = null;
  private beat: { readonly id: unknown } | null = null;
  private closed = false;
  /** Set when the fault-injection hook closed the link on purpose. */
  droppedByHook = false;
  /** Set when the server said the federation is over. */
  sawBye = false;
  /** The final global model the coordinator sent at the end, with its manifest. */
  finalModel: { manifest: Record<string, unknown>; params: Float32Array } | null = null;

  constructor(private readonly o: SessionOptions) {}

  get round(): number {
    return this.active?.round ?? 0;
  }
  get phase(): ClientPhase | undefined {
    return this.active?.phase;
  }

  /** Arms the silence watchdog; call once the session is attached to the link. */
  start(): void {
    this.armWatchdog();
    this.o.changed('idle');
  }

  private armWatchdog(): void {
    const { clock, serverTimeoutMs } = this.o;
    this.watchdog = clock.setTimer(() => {
      if (this.closed) return;
      const silent = clock.now() - this.o.link.lastSeen();
      if (silent <= serverTimeoutMs) return this.armWatchdog();
      // Check once more after a zero delay: if this thread was just blocked (main-thread
      // training), the server's queued pings refresh lastSeen first.
      this.watchdog = clock.setTimer(() => {
        if (this.closed) return;
        const again = clock.now() - this.o.link.lastSeen();
        if (again <= serverTimeoutMs || !this.o.link.isOpen) return this.armWatchdog();
        this.o.log('warn', 'server.silent', { ms: again });
        this.o.link.terminate();
      }, 0);
    }, Math.max(10, Math.floor(serverTimeoutMs / 4)));
  }

  /** One message from the server. A refusal closes the link with its typed error. */
  receive(msg: RuntimeMessage): void {
    if (this.closed) return;
    try {
      this.onMessage(msg);
    } catch (err) {
      this.o.link.fail(err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err }));
    }
  }

  /** The link closed: the open round (if any) is left, timers stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.watchdog) this.o.clock.clearTimer(this.watchdog);
    this.stopBeat();
    this.abandon('disconnected');
  }

  private abandon(status: ClientRoundRecord['status']): void {
    if (!this.active) return;
    this.active.machine?.cancel();
    this.active.record.status = status;
    if (this.active.evaluation) this.evaluations.push(evaluationRecord(this.active.round, status, this.active.evaluation.local, null));
    else this.records.push(this.active.record);
    this.active = null;
  }

  private onMessage(msg: RuntimeMessage): void {
    switch (msg.type) {
      case 'heartbeat':
        return;
      case 'error':
        this.o.log('warn', 'server.error', { code: msg.code, message: msg.message });
        return;
      case 'bye':
        this.sawBye = true;
        this.o.log('info', 'federation.done', { summary: msg.summary });
        this.o.link.close();
        return;
      case 'finalModel':
        this.finalModel = { manifest: msg.manifest, params: msg.params };
        this.o.log('info', 'model.received', { parameters: msg.params.length, round: msg.manifest['round'] });
        return;
      case 'roundStart':
        return this.onRoundStart(msg);
      case 'secagg':
        return this.onSecAgg(msg);
      case 'roundEnd':
        return this.onRoundEnd(msg);
      default:
        throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} from the server`);
    }
  }

  private onRoundEnd(msg: MessageOf<'roundEnd'>): void {
    if (!this.active || this.active.round !== msg.round) {
      // A round we already left (e.g. our own abort): nothing to close.
      this.o.log('debug', 'round.end-ignored', { round: msg.round, active: this.active?.round ?? null });
      return;
    }
    this.stopBeat();
    this.active.record.status = msg.status;
    if (this.active.evaluation) {
      // The federation's metrics (the coordinator's weighted mean, or the secure sum's) and the epsilon spent so far.
      const fed = msg.summary['evaluation'];
      const rec = evaluationRecord(msg.round, msg.status, this.active.evaluation.local, fed !== null && typeof fed === 'object' ? (fed as Record<string, unknown>) : null);
      if (typeof msg.summary['epsilon'] === 'number') rec.epsilon = msg.summary['epsilon'];
      this.evaluations.push(rec);
      this.o.log('info', 'round.evaluated', { ...rec });
      this.active = null;
      this.o.changed('idle');
      return;
    }
    this.records.push(this.active.record);
    this.o.log('info', 'round.end', { round: msg.round, status: msg.status, summary: msg.summary });
    const bench = msg.summary['bench'] as { rounds?: unknown; reason?: unknown } | undefined;
    if (msg.status === 'excluded' && bench) this.o.log('warn', 'round.benched', { round: msg.round, rounds: bench.rounds, reason: bench.reason });
    this.active = null;
    this.o.changed('idle');
  }

  private onRoundStart(msg: MessageOf<'roundStart'>): void {
    // A new round while one is open means the server gave up on the old one silently.
    if (this.active) this.abandon('aborted');
    this.stopBeat();
    const config = parseRoundConfig(msg.config, { round: msg.round, paramCount: msg.params.length, federationId: this.o.federationId, participantId: msg.participantId });
    const evaluating = config.encoding.kind === 'evaluation';
    const broken = consistencyViolations(this.o.accepted, config, this.o.policy);
    const refused = evaluating ? evaluationViolations(this.o.policy, config) : roundViolations(this.o.policy, config);
    if (broken.length > 0 || refused.length > 0) {
      // Nothing has been trained or sent for this round: leave before anything is released.
      const violations = [...broken, ...refused];
      this.o.log('error', 'policy.refused', { round: msg.round, violations });
      const parts = [
        ...(broken.length > 0 ? [`round ${msg.round} breaks the federation settings this site accepted: ${broken.join('; ')}`] : []),
        ...(refused.length > 0 ? [`this site's policy (client.policy) refuses round ${msg.round}: ${refused.join('; ')}`] : []),
      ];
      throw new TransportError('ERR_POLICY_REFUSED', parts.join('; '));
    }
    this.o.prepare(config, msg.params); // model, algorithm and params checked before any work
    if (config.standardisation) this.o.standardise(config.standardisation);
    const active: ActiveRound = { round: msg.round, config, machine: null, record: { round: msg.round, status: 'aborted' }, ...(evaluating ? { evaluation: { local: null } } : {}) };
    this.active = active;
    this.o.changed('training');
    this.o.link.send({ type: 'progress', round: msg.round, stage: 'training', fraction: 0 });
    this.startBeat(active);
    // Yield once so the progress frame leaves before (possibly synchronous) training starts.
    this.o.clock.setTimer(() => {
      if (this.active !== active || !this.o.link.isOpen) return;
      this.trainAndStart(active, msg).catch((err: unknown) => {
        if (this.active !== active || !this.o.link.isOpen) return;
        // Local failures (training, encoding) leave the round: the server sees the code and drops us.
        const e = err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err });
        this.o.log('error', 'round.failed', { round: active.round, code: e.code, message: e.message });
        this.o.link.fail(e);
      });
    }, 0);
  }

  /** Progress frames while training, so the coordinator sees this site is working. */
  private startBeat(active: ActiveRound): void {
    const every = this.o.progressIntervalMs;
    if (every <= 0) return;
    const started = this.o.clock.now();
    const tick = () => {
      if (this.active !== active || active.machine || this.closed) return;
      // The fraction is time-based: meta's localUpdate reports no progress of its own.
      const fraction = Math.min(0.99, (this.o.clock.now() - started) / Math.max(1, active.config.trainingMs));
      this.o.link.send({ type: 'progress', round: active.round, stage: 'training', fraction });
      this.beat = this.o.clock.setTimer(tick, every);
    };
    this.beat = this.o.clock.setTimer(tick, every);
  }

  private stopBeat(): void {
    if (this.beat) this.o.clock.clearTimer(this.beat);
    this.beat = null;
  }

  /** The statistics round: no training, the site's raw feature statistics as fixed-point limbs. */
  private statisticsInput(config: RoundConfig): Uint32Array {
    const e = config.encoding;
    if (e.kind !== 'stats') throw new TransportError('ERR_INTERNAL', 'not a statistics round');
    const stats = this.o.statistics(e.features);
    let encoded: Uint32Array;
    try {
      encoded = encodeFixedPoint(stats, { limbs: e.limbs, fracBits: e.fracBits });
    } catch (cause) {
      throw new TransportError('ERR_BAD_PAYLOAD', `statistics round: ${(cause as Error).message}`, { cause });
    }
    if (encoded.length !== config.aggregation.vectorLength) {
      throw new TransportError('ERR_VECTOR_LENGTH', `statistics of ${e.features} features make ${encoded.length} entries, the round expects ${config.aggregation.vectorLength}`);
    }
    return encoded;
  }

  private async trainAndStart(active: ActiveRound, msg: MessageOf<'roundStart'>): Promise<void> {
    const started = this.o.clock.now();
    let encoded: Uint32Array;
    if (active.config.encoding.kind === 'stats') {
      this.stopBeat();
      encoded = this.statisticsInput(active.config);
      this.o.log('info', 'preprocessing.statistics', { round: active.round, features: active.config.encoding.features });
    } else if (active.config.encoding.kind === 'evaluation') {
      const enc = active.config.encoding;
      const local = await this.o.evaluate(active.config, msg.params, enc.bins);
      if (this.active !== active || !this.o.link.isOpen) return;
      this.stopBeat();
      active.evaluation = { local };
      this.o.log('info', 'evaluation.local', { round: active.round, report: enc.report, count: local.count, correct: local.correct, lossSum: local.lossSum, auc: local.auc, personalised: local.personalised });
      if (enc.report === 'per-site') {
        // Checked again here: a site under evaluation 'secure' never sends a per-site report.
        if (this.o.policy.evaluation === 'secure') throw new TransportError('ERR_POLICY_REFUSED', `this site's policy (client.policy.evaluation secure) refuses a per-site evaluation report for round ${active.round}`);
        this.o.link.send(evalReportOf(local));
        this.o.changed('aggregating');
        return;
      }
      encoded = encodeEvaluation(local, enc);
      if (encoded.length !== active.config.aggregation.vectorLength) {
        throw new TransportError('ERR_VECTOR_LENGTH', `an evaluation of ${enc.bins} bins makes ${encoded.length} entries, the round expects ${active.config.aggregation.vectorLength}`);
      }
    } else {
      const local = await this.o.train(active.config, msg.params);
      // A round left while this one trained has its own beat: stop ours only if still ours.
      if (this.active !== active || !this.o.link.isOpen) return;
      this.stopBeat();
      encoded = this.o.encode(active.config, local, this.o.rng);
      Object.assign(active.record, { lossFirst: local.metrics.lossFirst, lossLast: local.metrics.lossLast, weight: local.weight, trainMs: Math.round(this.o.clock.now() - started) });
    }
    this.o.hooks?.onEncodedInput?.(active.round, encoded.slice());
    this.o.link.send({ type: 'progress', round: active.round, stage: 'encoding', fraction: 1 });
    this.o.changed('aggregating');
    const agg = active.config.aggregation;
    if (agg.mode === 'plaintext') {
      this.o.link.send({ type: 'plainInput', round: active.round, vector: encoded });
      this.reached(active, 'masked-input');
      return;
    }
    const s = agg.secagg!;
    const identities = s.identities ? new Map(Object.entries(s.identities).map(([id, hex]) => [Number(id), fromHex(hex, 32, `identities.${id}`)])) : undefined;
    if (s.mode === 'active') this.checkIdentities(identities, msg.participantId);
    try {
      active.machine = new SecAggClient({
        id: msg.participantId,
        config: { sessionNonce: fromHex(s.sessionNonce, 32, 'sessionNonce'), clientIds: s.clientIds, threshold: s.threshold, bits: agg.bits, vectorLength: agg.vectorLength, degree: s.degree, mode: s.mode },
        rng: this.o.rng,
        input: encoded,
        // The floor on the released sum: the federation's announced one, or this site's if higher.
        minSurvivors: minSurvivors(this.o.accepted, active.config, this.o.policy),
        ...(s.mode === 'active' ? { identity: { secretKey: this.o.identity.secretKey }, roster: identities! } : {}),
      });
    } catch (cause) {
      throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.aggregation.secagg: ${(cause as Error).message}`, { cause });
    }
    this.sendSecAgg(active, [active.machine.start()]);
  }

  /**
   * Active mode rests on every client knowing the others' identity keys; the server only
   * relays them. Our own entry must be our key, and with `trustedIdentities` every entry
   * must be one the institution accepted out of band, or the server could swap in keys
   * it holds and forge its peers' signed advertisements.
   */
  private checkIdentities(identities: ReadonlyMap<number, Uint8Array> | undefined, ownId: number): void {
    if (!identities) throw new TransportError('ERR_BAD_PAYLOAD', 'roundStart.config.aggregation.secagg.identities: required in active mode');
    const own = identities.get(ownId);
    if (!own || !Buffer.from(own).equals(Buffer.from(this.o.identity.publicKey))) {
      throw new TransportError('ERR_PROTOCOL', `active mode: the server lists participant ${ownId} (us) with an identity key that is not ours`);
    }
    if (!this.o.trusted) return;
    for (const [id, key] of identities) {
      if (!this.o.trusted.has(toHex(key))) {
        throw new TransportError('ERR_PROTOCOL', `active mode: participant ${id}'s identity key ${toHex(key).slice(0, 16)}... is not in trustedIdentities: the server may be substituting keys`);
      }
    }
  }

  private onSecAgg(msg: MessageOf<'secagg'>): void {
    const active = this.active;
    if (!active || active.round !== msg.round) throw new TransportError('ERR_ROUND_MISMATCH', `secagg message for round ${msg.round}, active ${active?.round ?? 'none'}`);
    if (!active.machine) throw new TransportError('ERR_UNEXPECTED_FRAME', 'secagg message before this client started the round');
    let decoded: ServerMessage;
    try {
      decoded = decodeMessage(msg.payload) as ServerMessage;
    } catch (err) {
      throw err instanceof SecAggError ? new TransportError('ERR_PROTOCOL', `secagg message: ${err.code}: ${err.message}`, { cause: err }) : err;
    }
    if (decoded.kind === 'unmask-request' && this.reached(active, 'unmasking')) return;
    let replies: ClientMessage[];
    try {
      replies = active.machine.receive(decoded);
    } catch (err) {
      if (err instanceof SecAggAbortError) {
        // The machine refuses a faithless server: tell it why, and leave the round.
        const abort = active.machine.abortMessage();
        if (abort) this.o.link.send({ type: 'secagg', round: active.round, payload: encodeMessage(abort) });
        this.o.log('warn', 'round.aborted-by-client', { round: active.round, reason: err.reasonName, message: err.detail });
        return;
      }
      throw err instanceof SecAggError ? new TransportError('ERR_PROTOCOL', `${err.code}: ${err.message}`, { cause: err }) : err;
    }
    if (decoded.kind === 'abort') this.o.log('warn', 'round.aborted-by-server', { round: active.round, reason: decoded.reason, detail: decoded.detail });
    this.sendSecAgg(active, replies);
  }

  private sendSecAgg(active: ActiveRound, msgs: ClientMessage[]): void {
    const tamper = this.o.hooks?.tamperSecAgg;
    for (const original of msgs) {
      const m = tamper ? tamper(active.round, original) : original;
      this.o.link.send({ type: 'secagg', round: active.round, payload: encodeMessage(m) });
      const phase: ClientPhase | null =
        m.kind === 'advertise-keys' ? 'advertise-keys' : m.kind === 'share-keys' ? 'share-keys' : m.kind === 'masked-input' ? 'masked-input' : m.kind === 'consistency-signature' ? 'consistency' : null;
      if (phase && this.reached(active, phase)) return;
    }
  }

  /**
   * Records the phase; if the fault-injection hook targets it, closes the link hard
   * (no close handshake, like a crashed process) and returns true.
   */
  private reached(active: ActiveRound, phase: ClientPhase): boolean {
    active.phase = phase;
    this.o.changed('aggregating');
    const hook = this.o.hooks?.dropAfterPhase;
    if (!hook || this.o.shared.dropHookFired || hook.phase !== phase || (hook.round !== undefined && hook.round !== active.round)) return false;
    this.o.shared.dropHookFired = true;
    this.o.log('warn', 'test.drop', { round: active.round, phase });
    this.droppedByHook = true;
    active.machine?.cancel();
    this.o.link.terminate();
    return true;
  }
}

/** One evaluation round as the site saw it: its own numbers and the federation's. */
function evaluationRecord(round: number, status: ClientEvaluationRecord['status'], local: LocalEvaluation | null, federated: Record<string, unknown> | null): ClientEvaluationRecord {
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const rec: ClientEvaluationRecord = { round, status };
  if (local) {
    rec.local = { count: local.count, correct: local.correct, accuracy: local.count > 0 ? local.correct / local.count : 0 };
    if (local.lossSum !== undefined && local.count > 0) rec.local.loss = local.lossSum / local.count;
    if (local.auc !== undefined) rec.local.auc = local.auc;
    const own = local.personalised;
    if (own) rec.local.personalised = { correct: own.correct, accuracy: local.count > 0 ? own.correct / local.count : 0, ...(own.lossSum !== undefined && local.count > 0 ? { loss: own.lossSum / local.count } : {}), steps: own.steps, lr: own.lr };
  }
  if (federated) {
    const accuracy = num(federated['accuracy']);
    if (accuracy !== undefined) {
      rec.federated = { accuracy, sites: num(federated['sites']) ?? 0, count: num(federated['count']) ?? 0 };
      const loss = num(federated['loss']);
      const auc = num(federated['auc']);
      if (loss !== undefined) rec.federated.loss = loss;
      if (auc !== undefined) rec.federated.auc = auc;
      const pers = federated['personalised'];
      const persAccuracy = pers !== null && typeof pers === 'object' ? num((pers as Record<string, unknown>)['accuracy']) : undefined;
      if (persAccuracy !== undefined) {
        const persLoss = num((pers as Record<string, unknown>)['loss']);
        rec.federated.personalised = { accuracy: persAccuracy, ...(persLoss !== undefined ? { loss: persLoss } : {}) };
      }
    }
  }
  return rec;
}
