/**
 * runClient: one institution's client. Connects (reconnecting with jittered exponential
 * backoff), authenticates, and for each round it is sampled into: validates the round
 * config and params, trains and encodes (pipeline.ts), then drives the secagg client
 * machine, forwarding its messages. Between rounds it just keeps the connection alive;
 * after a server restart it reconnects and joins the next round.
 */
import { ed25519PublicKey, ready, decodeMessage, encodeMessage, SecAggAbortError, SecAggClient, SecAggError, systemRng, type ClientMessage, type ServerMessage } from '@fedmeta/secagg';
import { fromHex, toHex, parseFederationSettings, parseRoundConfig, resolveLimits, TransportError, type Limits, type MessageOf, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import { backoffDelay, resolveBackoff, type BackoffPolicy } from './backoff.js';
import { openSession, type Session } from './connection.js';
import { ClientError, FATAL_CODES } from './errors.js';
import { encodeLocal, ensureBackend, prepareModel, trainLocal } from './pipeline.js';
import { TrainingWorker } from './worker.js';
import { describeSettings, policyProblem, roundViolations, settingsNotes, settingsViolations } from './policy.js';
import type { LocalResult } from '@fedmeta/meta';
import type { ClientHandle, ClientOptions, ClientPhase, ClientProgress, ClientRoundRecord, ClientSummary, ClientEvent } from './options.js';

interface ActiveRound {
  round: number;
  config: RoundConfig;
  machine: SecAggClient | null;
  phase?: ClientPhase;
  record: ClientRoundRecord;
}

class FederationClient {
  private readonly limits: Limits;
  private readonly backoff: BackoffPolicy;
  private session: Session | null = null;
  private active: ActiveRound | null = null;
  private readonly records: ClientRoundRecord[] = [];
  private state: ClientProgress['state'] = 'connecting';
  private attempts = 0;
  private bytes = { in: 0, out: 0 };
  private name = '';
  private stopped = false;
  private dropHookFired = false;
  private wake: (() => void) | null = null;
  /** Hex of the out-of-band trusted identity keys (active mode), or null to trust the server. */
  private readonly trusted: ReadonlySet<string> | null;
  private resolveDone!: (s: ClientSummary) => void;
  readonly done: Promise<ClientSummary>;

  constructor(private readonly o: ClientOptions) {
    this.limits = resolveLimits(o.limits);
    this.backoff = resolveBackoff(o.reconnect);
    this.trusted = o.trustedIdentities ? new Set(o.trustedIdentities.map(toHex)) : null;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private log(level: ClientEvent['level'], event: string, fields: Record<string, unknown> = {}): void {
    this.o.logger?.({ time: new Date().toISOString(), level, event, client: this.name || undefined, ...fields });
  }

  progress(): ClientProgress {
    const c = this.session?.conn;
    return {
      state: this.state,
      round: this.active?.round ?? 0,
      ...(this.active?.phase ? { phase: this.active.phase } : {}),
      attempts: this.attempts,
      bytesIn: this.bytes.in + (c?.bytesIn ?? 0),
      bytesOut: this.bytes.out + (c?.bytesOut ?? 0),
    };
  }

  private setState(s: ClientProgress['state']): void {
    this.state = s;
    this.o.onProgress?.(this.progress());
  }

  /** The connect / serve / back off loop. */
  async run(): Promise<void> {
    let failures = 0;
    try {
      await ready(); // libsodium (share AEAD) must be initialised before any round
      const choice = await ensureBackend(this.o.backend ?? 'auto');
      this.log('debug', 'backend', { name: choice });
    } catch (err) {
      return this.end('failed', new TransportError('ERR_INTERNAL', `tfjs backend: ${(err as Error).message}`, { cause: err }));
    }
    for (;;) {
      if (this.stopped) return this.end('closed');
      this.setState(this.attempts === 0 ? 'connecting' : 'connecting');
      this.attempts++;
      let session: Session;
      try {
        this.setState('authenticating');
        session = await openSession(this.o, this.limits);
      } catch (err) {
        const e = err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String(err));
        this.log('warn', 'connect.failed', { code: e.code, message: e.message, attempt: this.attempts });
        if (FATAL_CODES.has(e.code)) return this.end('failed', e);
        failures++;
        if (this.backoff.maxAttempts > 0 && failures >= this.backoff.maxAttempts) return this.end('failed', new TransportError('ERR_CONNECT_FAILED', `gave up after ${failures} attempts: ${e.message}`));
        const delayMs = backoffDelay(this.backoff, failures - 1, Math.random());
        this.log('info', 'connect.retry', { attempt: failures, delayMs, forever: this.backoff.maxAttempts === 0, message: e.message });
        await this.sleep(delayMs);
        continue;
      }
      failures = 0;
      this.name = session.welcome.name;
      this.log('info', 'connected', { url: this.o.url, nextRound: session.welcome.nextRound });
      const refusal = this.checkSettings(session);
      if (refusal) {
        session.conn.fail(refusal);
        this.bytes.in += session.conn.bytesIn;
        this.bytes.out += session.conn.bytesOut;
        return this.end('failed', refusal);
      }
      const outcome = await this.serve(session);
      this.bytes.in += session.conn.bytesIn;
      this.bytes.out += session.conn.bytesOut;
      this.session = null;
      if (outcome.kind === 'bye') return this.end('federation-done');
      if (outcome.kind === 'stopped') return this.end('closed');
      if (outcome.error && FATAL_CODES.has(outcome.error.code)) return this.end('failed', outcome.error);
      if (outcome.kind === 'dropped-by-hook' && !this.o.testHooks?.dropAfterPhase?.reconnect) return this.end('closed');
      this.log('warn', 'disconnected', { code: outcome.error?.code, message: outcome.error?.message, reconnect: true });
      failures++;
      this.setState('backoff');
      await this.sleep(backoffDelay(this.backoff, 0, Math.random()));
    }
  }

  /**
   * The federation's announced settings against this site's policy, before any round.
   * @returns the refusal to close with, or null when accepted (then logged as accepted)
   */
  private checkSettings(session: Session): TransportError | null {
    let settings;
    try {
      settings = parseFederationSettings(session.welcome.settings, 'welcome.settings');
    } catch (err) {
      return err as TransportError;
    }
    const violations = settingsViolations(this.o.policy ?? {}, settings);
    if (violations.length > 0) {
      this.log('error', 'policy.refused', { violations, settings });
      return new TransportError('ERR_POLICY_REFUSED', `this site's policy (client.policy) refuses the federation: ${violations.join('; ')}`);
    }
    this.log('info', 'federation.accepted', { settings, summary: describeSettings(settings), notes: settingsNotes(this.o.policy ?? {}, settings) });
    return null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    }).then(() => {
      this.wake = null;
    });
  }

  /** Serves one authenticated session until it closes. */
  private serve(session: Session): Promise<{ kind: 'closed' | 'bye' | 'stopped' | 'dropped-by-hook'; error?: TransportError | null }> {
    this.session = session;
    this.setState('idle');
    return new Promise((resolve) => {
      let bye = false;
      let hookDrop = false;
      const timeout = this.o.serverTimeoutMs ?? 60_000;
      const watchdog = setInterval(() => {
        if (Date.now() - session.conn.lastSeen <= timeout) return;
        // Re-check after the poll phase: if this thread was just blocked (main-thread
        // training), the server's pings are queued and will refresh lastSeen first.
        setImmediate(() => {
          if (Date.now() - session.conn.lastSeen <= timeout || !session.conn.isOpen) return;
          this.log('warn', 'server.silent', { ms: Date.now() - session.conn.lastSeen });
          session.conn.terminate();
        });
      }, Math.max(10, Math.floor(timeout / 4)));
      session.attach(
        (msg) => {
          if (msg.type === 'bye') {
            bye = true;
            this.log('info', 'federation.done', { summary: msg.summary });
            session.conn.close(1000, 'bye');
            return;
          }
          try {
            this.onMessage(session, msg, () => {
              hookDrop = true;
            });
          } catch (err) {
            session.conn.fail(err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err }));
          }
        },
        (_code, error) => {
          clearInterval(watchdog);
          this.abandonRound('disconnected');
          if (bye) resolve({ kind: 'bye' });
          else if (this.stopped) resolve({ kind: 'stopped' });
          else if (hookDrop) resolve({ kind: 'dropped-by-hook' });
          else resolve({ kind: 'closed', error });
        },
      );
    });
  }

  private abandonRound(status: ClientRoundRecord['status']): void {
    if (!this.active) return;
    this.active.machine?.cancel();
    this.active.record.status = status;
    this.records.push(this.active.record);
    this.active = null;
  }

  private onMessage(session: Session, msg: RuntimeMessage, markHookDrop: () => void): void {
    switch (msg.type) {
      case 'heartbeat':
        return;
      case 'error':
        this.log('warn', 'server.error', { code: msg.code, message: msg.message });
        return;
      case 'roundStart':
        return this.onRoundStart(session, msg, markHookDrop);
      case 'secagg':
        return this.onSecAgg(session, msg, markHookDrop);
      case 'roundEnd': {
        if (!this.active || this.active.round !== msg.round) {
          // A round we already left (e.g. our own abort): nothing to close.
          this.log('debug', 'round.end-ignored', { round: msg.round, active: this.active?.round ?? null });
          return;
        }
        this.active.record.status = msg.status;
        this.records.push(this.active.record);
        this.log('info', 'round.end', { round: msg.round, status: msg.status, summary: msg.summary });
        const bench = msg.summary['bench'] as { rounds?: unknown; reason?: unknown } | undefined;
        if (msg.status === 'excluded' && bench) this.log('warn', 'round.benched', { round: msg.round, rounds: bench.rounds, reason: bench.reason });
        this.active = null;
        this.setState('idle');
        return;
      }
      default:
        throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} from the server`);
    }
  }

  private onRoundStart(session: Session, msg: MessageOf<'roundStart'>, markHookDrop: () => void): void {
    if (this.active) {
      // A new round while one is open means the server gave up on the old one silently.
      this.abandonRound('aborted');
    }
    const config = parseRoundConfig(msg.config, { round: msg.round, paramCount: msg.params.length, federationId: session.challenge.federationId, participantId: msg.participantId });
    const violations = roundViolations(this.o.policy ?? {}, config);
    if (violations.length > 0) {
      // Nothing has been trained or sent for this round: leave before anything is released.
      this.log('error', 'policy.refused', { round: msg.round, violations });
      throw new TransportError('ERR_POLICY_REFUSED', `this site's policy (client.policy) refuses round ${msg.round}: ${violations.join('; ')}`);
    }
    prepareModel(config, msg.params); // model, algorithm and params checked before any work
    const active: ActiveRound = { round: msg.round, config, machine: null, record: { round: msg.round, status: 'aborted' } };
    this.active = active;
    this.setState('training');
    session.conn.send({ type: 'progress', round: msg.round, stage: 'training', fraction: 0 });
    // Yield once so the progress frame leaves before (possibly synchronous) training starts.
    setImmediate(() => {
      if (this.active !== active || !session.conn.isOpen) return;
      this.trainAndStart(session, active, msg, markHookDrop).catch((err: unknown) => {
        if (this.active !== active || !session.conn.isOpen) return;
        // Local failures (training, encoding) leave the round: the server sees the code and drops us.
        session.conn.fail(err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err }));
      });
    });
  }

  private worker: TrainingWorker | null = null;

  /** Trains on the main thread, or in the worker while sending progress heartbeats. */
  private async train(session: Session, active: ActiveRound, params: Float32Array, seed: number): Promise<LocalResult> {
    if (!this.o.trainInWorker || this.o.trainer) return trainLocal(active.config, params, this.o.data, seed, this.o.trainer);
    this.worker ??= new TrainingWorker(this.o.data, this.o.backend ?? 'auto');
    const started = Date.now();
    const every = this.o.progressIntervalMs ?? 2000;
    const beat = setInterval(() => {
      // The fraction is time-based: meta's localUpdate reports no progress of its own.
      const fraction = Math.min(0.99, (Date.now() - started) / Math.max(1, active.config.trainingMs));
      session.conn.send({ type: 'progress', round: active.round, stage: 'training', fraction });
    }, every);
    try {
      return await this.worker.train(active.config, params, seed);
    } finally {
      clearInterval(beat);
    }
  }

  private async trainAndStart(session: Session, active: ActiveRound, msg: MessageOf<'roundStart'>, markHookDrop: () => void): Promise<void> {
    const rng = this.o.rng ?? systemRng;
    const seed = this.o.seed ?? (typeof this.o.data.id === 'number' ? this.o.data.id : 0);
    const started = performance.now();
    const local = await this.train(session, active, msg.params, seed);
    if (this.active !== active || !session.conn.isOpen) return;
    const encoded = encodeLocal(active.config, local, rng);
    Object.assign(active.record, { lossFirst: local.metrics.lossFirst, lossLast: local.metrics.lossLast, weight: local.weight, trainMs: Math.round(performance.now() - started) });
    this.o.testHooks?.onEncodedInput?.(active.round, encoded.slice());
    session.conn.send({ type: 'progress', round: active.round, stage: 'encoding', fraction: 1 });
    this.setState('aggregating');
    const agg = active.config.aggregation;
    if (agg.mode === 'plaintext') {
      session.conn.send({ type: 'plainInput', round: active.round, vector: encoded });
      this.reached(session, active, 'masked-input', markHookDrop);
      return;
    }
    const s = agg.secagg!;
    const config = active.config;
    const identities = s.identities ? new Map(Object.entries(s.identities).map(([id, hex]) => [Number(id), fromHex(hex, 32, `identities.${id}`)])) : undefined;
    if (s.mode === 'active') this.checkIdentities(identities, msg.participantId);
    try {
      active.machine = new SecAggClient({
        id: msg.participantId,
        config: { sessionNonce: fromHex(s.sessionNonce, 32, 'sessionNonce'), clientIds: s.clientIds, threshold: s.threshold, bits: agg.bits, vectorLength: agg.vectorLength, degree: s.degree, mode: s.mode },
        rng,
        input: encoded,
        // The floor on the released sum: the federation's announced one, or this site's if higher.
        minSurvivors: Math.max(2, config.federation.aggregation.minAggregate, this.o.policy?.minAggregate ?? 2),
        ...(s.mode === 'active' ? { identity: { secretKey: this.o.identity.secretKey }, roster: identities! } : {}),
      });
    } catch (cause) {
      throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.aggregation.secagg: ${(cause as Error).message}`, { cause });
    }
    this.sendSecAgg(session, active, [active.machine.start()], markHookDrop);
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
    if (!this.trusted) return;
    for (const [id, key] of identities) {
      if (!this.trusted.has(toHex(key))) {
        throw new TransportError('ERR_PROTOCOL', `active mode: participant ${id}'s identity key ${toHex(key).slice(0, 16)}... is not in trustedIdentities: the server may be substituting keys`);
      }
    }
  }

  private onSecAgg(session: Session, msg: MessageOf<'secagg'>, markHookDrop: () => void): void {
    const active = this.active;
    if (!active || active.round !== msg.round) throw new TransportError('ERR_ROUND_MISMATCH', `secagg message for round ${msg.round}, active ${active?.round ?? 'none'}`);
    if (!active.machine) throw new TransportError('ERR_UNEXPECTED_FRAME', 'secagg message before this client started the round');
    let decoded: ServerMessage;
    try {
      decoded = decodeMessage(msg.payload) as ServerMessage;
    } catch (err) {
      throw err instanceof SecAggError ? new TransportError('ERR_PROTOCOL', `secagg message: ${err.code}: ${err.message}`, { cause: err }) : err;
    }
    if (decoded.kind === 'unmask-request' && this.reached(session, active, 'unmasking', markHookDrop)) return;
    let replies: ClientMessage[];
    try {
      replies = active.machine.receive(decoded);
    } catch (err) {
      if (err instanceof SecAggAbortError) {
        // The machine refuses a faithless server: tell it why, and leave the round.
        const abort = active.machine.abortMessage();
        if (abort) session.conn.send({ type: 'secagg', round: active.round, payload: encodeMessage(abort) });
        this.log('warn', 'round.aborted-by-client', { round: active.round, reason: err.reasonName, message: err.detail });
        return;
      }
      throw err instanceof SecAggError ? new TransportError('ERR_PROTOCOL', `${err.code}: ${err.message}`, { cause: err }) : err;
    }
    if (decoded.kind === 'abort') this.log('warn', 'round.aborted-by-server', { round: active.round, reason: decoded.reason, detail: decoded.detail });
    this.sendSecAgg(session, active, replies, markHookDrop);
  }

  private sendSecAgg(session: Session, active: ActiveRound, msgs: ClientMessage[], markHookDrop: () => void): void {
    const tamper = this.o.testHooks?.tamperSecAgg;
    for (const original of msgs) {
      const m = tamper ? tamper(active.round, original) : original;
      session.conn.send({ type: 'secagg', round: active.round, payload: encodeMessage(m) });
      const phase: ClientPhase | null =
        m.kind === 'advertise-keys' ? 'advertise-keys' : m.kind === 'share-keys' ? 'share-keys' : m.kind === 'masked-input' ? 'masked-input' : m.kind === 'consistency-signature' ? 'consistency' : null;
      if (phase && this.reached(session, active, phase, markHookDrop)) return;
    }
  }

  /**
   * Records the phase; if the fault-injection hook targets it, closes the socket hard
   * (a real disconnect: no close frame, like a crashed process) and returns true.
   */
  private reached(session: Session, active: ActiveRound, phase: ClientPhase, markHookDrop: () => void): boolean {
    active.phase = phase;
    this.o.onProgress?.(this.progress());
    const hook = this.o.testHooks?.dropAfterPhase;
    if (!hook || this.dropHookFired || hook.phase !== phase || (hook.round !== undefined && hook.round !== active.round)) return false;
    this.dropHookFired = true;
    this.log('warn', 'test.drop', { round: active.round, phase });
    markHookDrop();
    active.machine?.cancel();
    session.conn.terminate();
    return true;
  }

  private end(reason: ClientSummary['endReason'], error?: TransportError): void {
    this.abandonRound('disconnected');
    void this.worker?.terminate();
    this.worker = null;
    this.setState(reason === 'failed' ? 'failed' : 'done');
    if (error) this.log('error', 'client.failed', { code: error.code, message: error.message });
    this.resolveDone({
      name: this.name,
      rounds: [...this.records],
      endReason: reason,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
      bytesIn: this.bytes.in,
      bytesOut: this.bytes.out,
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.session?.conn.close(1000, 'client closing');
    await this.done;
  }
}

/**
 * Starts a client in the background.
 * @param options plain options (identity as bytes; see options.ts)
 * @returns a handle: `done` resolves with the client's summary (never rejects), close() stops it
 * @throws ClientError (code ERR_CLIENT_CONFIG, naming the option) synchronously for invalid options
 * @example
 *   const client = runClient({ url: server.url, identity, federationId: 'demo', data: clients[0] });
 *   const summary = await client.done;
 */
export function runClient(options: ClientOptions): ClientHandle {
  validateClientOptions(options);
  const c = new FederationClient(options);
  void c.run();
  return { done: c.done, progress: () => c.progress(), close: () => c.close() };
}

function validateClientOptions(o: ClientOptions): void {
  if (o === null || typeof o !== 'object') throw new ClientError('options: expected an object');
  if (typeof o.url !== 'string' || !/^wss?:\/\/./.test(o.url)) throw new ClientError(`url: expected ws://... or wss://..., got ${String(o.url)}`);
  const id = o.identity;
  if (!(id?.publicKey instanceof Uint8Array) || id.publicKey.length !== 32) throw new ClientError('identity.publicKey: expected 32 bytes (Ed25519)');
  if (!(id.secretKey instanceof Uint8Array) || id.secretKey.length !== 32) throw new ClientError('identity.secretKey: expected 32 bytes (Ed25519 seed)');
  if (!Buffer.from(ed25519PublicKey(id.secretKey)).equals(Buffer.from(id.publicKey))) throw new ClientError('identity: publicKey is not the public key of secretKey');
  if (o.trustedIdentities !== undefined) {
    if (!Array.isArray(o.trustedIdentities)) throw new ClientError('trustedIdentities: expected an array of 32-byte Ed25519 public keys');
    o.trustedIdentities.forEach((k, i) => {
      if (!(k instanceof Uint8Array) || k.length !== 32) throw new ClientError(`trustedIdentities[${i}]: expected 32 bytes (Ed25519 public key)`);
    });
  }
  if (!o.data || typeof o.data !== 'object' || !o.data.support || !o.data.query) throw new ClientError('data: expected { id, support, query } (a meta ClientData)');
  if (o.tls?.ca !== undefined && !(typeof o.tls.ca === 'string' || o.tls.ca instanceof Uint8Array)) throw new ClientError('tls.ca: expected PEM bytes or string');
  if (o.policy !== undefined) {
    const problem = policyProblem(o.policy);
    if (problem) throw new ClientError(problem);
  }
  if (o.progressIntervalMs !== undefined && !(Number.isInteger(o.progressIntervalMs) && o.progressIntervalMs >= 10)) throw new ClientError('progressIntervalMs: expected an integer >= 10');
  if (o.trainer !== undefined && typeof o.trainer !== 'function') throw new ClientError('trainer: expected a function');
  if (o.serverTimeoutMs !== undefined && !(Number.isInteger(o.serverTimeoutMs) && o.serverTimeoutMs >= 100)) throw new ClientError('serverTimeoutMs: expected an integer >= 100');
  try {
    resolveBackoff(o.reconnect);
    resolveLimits(o.limits);
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
}
