/**
 * runClient: one institution's client. Connects (reconnecting with jittered exponential
 * backoff, by default for as long as the coordinator is away), authenticates, checks the
 * federation's announced settings against the site's policy, then hands the connection to
 * a ClientSession (session.ts) that serves the rounds it is sampled into. After a server
 * restart it reconnects and joins the next round.
 */
import { ed25519PublicKey, ready, systemRng } from '@fedmeta/secagg';
import { parseFederationSettings, resolveLimits, toHex, TransportError, type FederationSettings, type Limits } from '@fedmeta/transport';
import type { LocalResult } from '@fedmeta/meta';
import { backoffDelay, resolveBackoff, type BackoffPolicy } from './backoff.js';
import { openSession, type Session } from './connection.js';
import { ClientError, FATAL_CODES } from './errors.js';
import { encodeLocal, ensureBackend, prepareModel, trainLocal } from './pipeline.js';
import { TrainingWorker } from './worker.js';
import { describeSettings, policyProblem, settingsNotes, settingsViolations } from './policy.js';
import { ClientSession } from './session.js';
import { SiteRecordDp } from './record-dp.js';
import { processClock } from './clock.js';
import { applyStandardisation, conformData, featureStatistics, standardiseLocally } from './schema.js';
import { evaluateHeldOut } from './evaluation.js';
import type { ClientEvaluationRecord, ClientHandle, ClientOptions, ClientProgress, ClientRoundRecord, ClientSummary, ClientEvent, ClientTestHooks } from './options.js';

class FederationClient {
  private readonly limits: Limits;
  private readonly backoff: BackoffPolicy;
  private session: Session | null = null;
  private current: ClientSession | null = null;
  private readonly records: ClientRoundRecord[] = [];
  private readonly evaluations: ClientEvaluationRecord[] = [];
  private state: ClientProgress['state'] = 'connecting';
  private attempts = 0;
  private bytes = { in: 0, out: 0 };
  private name = '';
  private stopped = false;
  private readonly shared = { dropHookFired: false };
  private wake: (() => void) | null = null;
  /** Hex of the out-of-band trusted identity keys (active mode), or null to trust the server. */
  private readonly trusted: ReadonlySet<string> | null;
  private worker: TrainingWorker | null = null;
  /** The site's data, in the federation's column order and class ids once the schema is known (raw features). */
  private raw: ClientOptions['data'];
  /** What it trains on: `raw`, standardised as the federation (or, failing that, the site) says. */
  private data: ClientOptions['data'];
  private standardisedWith = '';
  private finalModel: ClientSummary['finalModel'] | null = null;
  /** Record-level DP: this site's ledger and the accepted setting. */
  private recordDp: SiteRecordDp | null = null;
  private resolveDone!: (s: ClientSummary) => void;
  readonly done: Promise<ClientSummary>;

  constructor(
    private readonly o: ClientOptions,
    private readonly hooks: ClientTestHooks | undefined,
  ) {
    this.limits = resolveLimits(o.limits);
    this.backoff = resolveBackoff(o.reconnect);
    this.trusted = o.trustedIdentities ? new Set(o.trustedIdentities.map(toHex)) : null;
    this.raw = o.data;
    this.data = o.data;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private log(level: ClientEvent['level'], event: string, fields: Record<string, unknown> = {}): void {
    this.o.logger?.({ time: new Date().toISOString(), level, event, client: this.name || undefined, ...fields });
  }

  progress(): ClientProgress {
    const c = this.session?.conn;
    const phase = this.current?.phase;
    return {
      state: this.state,
      round: this.current?.round ?? 0,
      ...(phase ? { phase } : {}),
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
      this.setState('connecting');
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
      const accepted = this.checkSettings(session);
      if (accepted instanceof TransportError) {
        const refusal = accepted;
        session.conn.fail(refusal);
        this.bytes.in += session.conn.bytesIn;
        this.bytes.out += session.conn.bytesOut;
        return this.end('failed', refusal);
      }
      const outcome = await this.serve(session, accepted);
      this.bytes.in += session.conn.bytesIn;
      this.bytes.out += session.conn.bytesOut;
      this.session = null;
      if (outcome.kind === 'bye') return this.end('federation-done');
      if (outcome.kind === 'stopped') return this.end('closed');
      if (outcome.error && FATAL_CODES.has(outcome.error.code)) return this.end('failed', outcome.error);
      if (outcome.kind === 'dropped-by-hook' && !this.hooks?.dropAfterPhase?.reconnect) return this.end('closed');
      this.log('warn', 'disconnected', { code: outcome.error?.code, message: outcome.error?.message, reconnect: true });
      failures++;
      this.setState('backoff');
      await this.sleep(backoffDelay(this.backoff, 0, Math.random()));
    }
  }

  /**
   * The federation's announced settings against this site's policy, before any round.
   * @returns the refusal to close with, or the accepted settings (then logged as accepted)
   */
  private checkSettings(session: Session): TransportError | FederationSettings {
    let settings: FederationSettings;
    try {
      settings = parseFederationSettings(session.welcome.settings, 'welcome.settings');
    } catch (err) {
      return asTransportError(err);
    }
    const violations = settingsViolations(this.o.policy ?? {}, settings);
    if (violations.length > 0) {
      this.log('error', 'policy.refused', { violations, settings });
      return new TransportError('ERR_POLICY_REFUSED', `this site's policy (client.policy) refuses the federation: ${violations.join('; ')}`);
    }
    try {
      this.raw = settings.data ? conformData(this.o.data, settings.data) : this.o.data;
      // Global statistics come with the rounds when the federation standardises; otherwise
      // a site that asked for standardisation uses its own.
      this.data = settings.preprocessing !== 'federated-standardise' && this.o.data.standardise === 'local' ? standardiseLocally(this.raw) : this.raw;
      this.standardisedWith = '';
    } catch (err) {
      this.log('error', 'data.refused', { message: (err as Error).message });
      return asTransportError(err);
    }
    if (settings.dp?.unit === 'record') {
      // Record-level DP: this site's own checks and ledger, before any round (record-dp.ts).
      try {
        this.recordDp?.close();
        this.recordDp = null;
        this.recordDp = SiteRecordDp.accept(this.o.dp, this.o.policy ?? {}, settings, session.welcome.name, session.welcome.nextRound);
      } catch (err) {
        this.log('error', 'policy.refused', { message: (err as Error).message });
        return asTransportError(err);
      }
    }
    this.log('info', 'federation.accepted', { settings, summary: describeSettings(settings), notes: settingsNotes(this.o.policy ?? {}, settings) });
    return settings;
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

  /** Trains on the main thread, or in the worker (the session sends progress meanwhile). */
  private train(config: Parameters<typeof trainLocal>[0], params: Float32Array, seed: number): Promise<LocalResult> {
    if (!this.o.trainInWorker || this.o.trainer) return Promise.resolve().then(() => trainLocal(config, params, this.data, seed, this.o.trainer));
    this.worker ??= new TrainingWorker(this.data, this.o.backend ?? 'auto');
    return this.worker.train(config, params, seed);
  }

  /** Serves one authenticated connection with a ClientSession until it closes. */
  private serve(session: Session, accepted: FederationSettings): Promise<{ kind: 'closed' | 'bye' | 'stopped' | 'dropped-by-hook'; error?: TransportError | null }> {
    this.session = session;
    const seed = this.o.seed ?? (typeof this.data.id === 'number' ? this.data.id : 0);
    const conn = session.conn;
    const cs = new ClientSession({
      link: {
        send: (m) => void conn.send(m),
        fail: (e) => conn.fail(e),
        terminate: () => conn.terminate(),
        close: () => conn.close(1000, 'bye'),
        lastSeen: () => conn.lastSeen,
        get isOpen() {
          return conn.isOpen;
        },
      },
      clock: processClock,
      rng: this.o.rng ?? systemRng,
      federationId: session.challenge.federationId,
      identity: this.o.identity,
      trusted: this.trusted,
      policy: this.o.policy ?? {},
      accepted,
      prepare: (config, params) => void prepareModel(config, params),
      // Record-level DP: the site's ledger holds the round's charge before anything is trained or sent.
      train: (config, params) => Promise.resolve().then(() => this.recordDp?.charge(config)).then(() => this.train(config, params, seed)),
      encode: encodeLocal,
      evaluate: (config, params, bins) => evaluateHeldOut(config, params, this.data.support, this.data.query, bins),
      statistics: (features) => featureStatistics(this.raw, features),
      standardise: (st) => {
        const key = JSON.stringify(st);
        if (key === this.standardisedWith) return;
        this.data = applyStandardisation(this.raw, st);
        this.standardisedWith = key;
        // A training worker holds the old data: start a fresh one with the standardised rows.
        void this.worker?.terminate();
        this.worker = null;
        this.log('info', 'preprocessing.applied', { features: st.mean.length });
      },
      // Progress frames only when training off the main thread (on it, nothing could be sent).
      progressIntervalMs: this.o.trainInWorker && !this.o.trainer ? this.o.progressIntervalMs ?? 2000 : 0,
      serverTimeoutMs: this.o.serverTimeoutMs ?? 60_000,
      ...(this.hooks ? { hooks: this.hooks } : {}),
      shared: this.shared,
      log: (level, event, fields) => this.log(level, event, fields),
      changed: (state) => this.setState(state),
    });
    this.current = cs;
    return new Promise((resolve) => {
      session.attach(
        (msg) => cs.receive(msg),
        (_code, error) => {
          cs.close();
          this.records.push(...cs.records);
          this.evaluations.push(...cs.evaluations);
          if (cs.finalModel) this.finalModel = cs.finalModel;
          this.current = null;
          if (cs.sawBye) resolve({ kind: 'bye' });
          else if (this.stopped) resolve({ kind: 'stopped' });
          else if (cs.droppedByHook) resolve({ kind: 'dropped-by-hook' });
          else resolve({ kind: 'closed', error });
        },
      );
      cs.start();
    });
  }

  private end(reason: ClientSummary['endReason'], error?: TransportError): void {
    if (this.current) {
      this.current.close();
      this.records.push(...this.current.records);
      this.evaluations.push(...this.current.evaluations);
      this.current = null;
    }
    void this.worker?.terminate();
    this.worker = null;
    this.recordDp?.close();
    this.recordDp = null;
    this.setState(reason === 'failed' ? 'failed' : 'done');
    if (error) this.log('error', 'client.failed', { code: error.code, message: error.message });
    this.resolveDone({
      name: this.name,
      rounds: [...this.records],
      endReason: reason,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
      bytesIn: this.bytes.in,
      bytesOut: this.bytes.out,
      ...(this.finalModel ? { finalModel: this.finalModel } : {}),
      evaluations: [...this.evaluations],
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.session?.conn.close(1000, 'client closing');
    await this.done;
  }
}

/** A refusal thrown while checking the settings, typed (an unexpected throw is ERR_INTERNAL). */
function asTransportError(err: unknown): TransportError {
  return err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err });
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
  return startClient(options, undefined);
}

/** runClient with fault-injection hooks (the testing entry point, @fedmeta/client/testing). */
export function startClient(options: ClientOptions, hooks: ClientTestHooks | undefined): ClientHandle {
  validateClientOptions(options);
  const c = new FederationClient(options, hooks);
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

/**
 * A site that cannot take part (its data cannot be read, e.g. a non-numeric cell) tells
 * the coordinator so, typed and named, instead of silently staying away: it connects,
 * authenticates, sends `refusal` in an error frame and closes. A few attempts with backoff
 * while the coordinator is unreachable.
 * @returns the site's roster name when the coordinator was told, or null when it could not be reached
 */
export async function reportRefusal(options: Omit<ClientOptions, 'data'>, refusal: TransportError, attempts = 5): Promise<string | null> {
  await ready();
  const limits = resolveLimits(options.limits);
  const backoff = resolveBackoff(options.reconnect);
  for (let attempt = 0; attempt < attempts; attempt++) {
    let session: Session;
    try {
      session = await openSession(options as ClientOptions, limits);
    } catch (err) {
      if (err instanceof TransportError && FATAL_CODES.has(err.code)) return null;
      await new Promise((r) => setTimeout(r, backoffDelay(backoff, attempt, Math.random())));
      continue;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2_000);
      session.attach(
        () => undefined,
        () => {
          clearTimeout(t);
          resolve();
        },
      );
      session.conn.fail(refusal);
    });
    return session.welcome.name;
  }
  return null;
}
