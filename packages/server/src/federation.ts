/**
 * The coordinator: accepts and authenticates institutions, then runs rounds one after
 * another - wait for a cohort, drive the round (round.ts), decode the aggregate, charge
 * the privacy ledger BEFORE the update is applied or released, apply it with the meta
 * optimiser, evaluate, checkpoint - and emits structured events and progress.
 */
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { selectBackend, standardise, createAlgorithm, createModel, MetaOptimizer, type AlgorithmName, type MetaOptimizerConfig, type ModelConfig, type ModelSpec, type Algorithm } from '@fedmeta/meta';
import { evaluationValues, MAX_EVAL_STEPS, toHex, TransportError, type EvaluationEncoding, type MessageOf, type RoundConfig, type StatsEncoding } from '@fedmeta/transport';
import { decodeFixedPoint, ready, STATS_FORMAT, type SecAggConfig } from '@fedmeta/secagg';
import { checkpointDiff, CheckpointMismatchError, federationFingerprint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { announceRound, evaluationSettings, federationSettings } from './announce.js';
import { Roster } from './auth.js';
import { planCohort, sampleCohort } from './cohort.js';
import { quantizeEncoding, type RoundEncoding } from './encoding.js';
import { ServerError } from './errors.js';
import { listen, publicStatus, type Listener } from './listener.js';
import { Peer } from './peer.js';
import { BEST_METRIC, betterEvaluation, combineEvaluation, evaluationAdaptation, heldOutLoss, type SiteReport } from './evaluation.js';
import { RoundDriver, StragglerBench, type Laggard, type RoundOutcome } from './round.js';
import { readOptimizerState, restoreOptimizerState } from './optimizer-state.js';
import { accountedClients, Privacy, type DpRoundEncoding } from './privacy.js';
import type { FederationSummary, ModelManifest, ResumeInfo, RoundEvaluation, ServerStatus as Status, RosterChange, RosterEntry, RoundPlan, RoundSummary, ServerEvent, ServerHandle, ServerOptions, ServerPhase, ServerProgress, ServerStatus } from './options.js';
import type { ResolvedServerOptions } from './validate.js';

/** Site failures kept for status. */
const SITE_ERRORS = 20;

export class Federation {
  private listener!: Listener;
  private readonly peers = new Map<string, Peer>();
  private readonly spec: ModelSpec;
  private readonly algorithm: Algorithm;
  private readonly optimizer: MetaOptimizer;
  private params: Float32Array;
  private nextRound = 1;
  private phase: ServerPhase = 'waiting';
  private readonly summaries: RoundSummary[] = [];
  private readonly hash: string;
  private readonly fingerprint: ReturnType<typeof federationFingerprint>;
  private running: RoundDriver<Peer> | null = null;
  /** Members left out of cohorts for a while after missing deadlines (key hex -> state). */
  private readonly bench: StragglerBench;
  private closing = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private peersChanged: (() => void) | null = null;
  private bytesBase = { in: 0, out: 0 };
  private roundCounts = { cohort: 0, responded: 0, dropped: 0 };
  private readonly privacy: Privacy | null;
  /** The global feature standardisation once the statistics round completed. */
  private standardisation: { mean: number[]; std: number[]; count: number; sites: number } | null = null;
  /** Round 0 (the statistics round) is being waited for or run: progress reports round 0. */
  private inStatisticsRound = false;
  /** The training round whose model an evaluation round in progress evaluates. */
  private evaluatingRound: number | null = null;
  /** The abort reason of the round being checkpointed (progress says "aborted"). */
  private abortedReason: string | null = null;
  private evalCache: { raw: unknown; data: NonNullable<ServerOptions['evaluate']>['data'] } | null = null;
  /** The best round by the federated evaluation so far (accuracy, loss breaks ties), with its params. */
  private best: { round: number; params: Float32Array; evaluation: RoundEvaluation } | null = null;
  /** The latest failures sites reported in error frames (newest last, at most SITE_ERRORS). */
  private readonly siteErrors: Status['siteErrors'] = [];
  /** The roster in force; replaced by updateRoster() while the server runs. */
  private roster: Roster;
  private rosterShortLogged = -1;
  /**
   * Active roster members (public keys, hex) that did not connect during a full
   * waitForClientsMs wait: later rounds start without waiting for them again, until they
   * connect (an offline member would otherwise cost every round the whole wait).
   */
  private readonly absent = new Set<string>();
  /** What this server resumed from (null: a fresh start). */
  private resumeInfo: ResumeInfo | null = null;
  private resolveDone!: (s: FederationSummary) => void;
  private rejectDone!: (e: unknown) => void;
  readonly done: Promise<FederationSummary>;

  constructor(private readonly o: ResolvedServerOptions) {
    this.bench = new StragglerBench(o.stragglers);
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => undefined);
    try {
      this.spec = createModel(o.raw.model.config as unknown as ModelConfig);
      this.algorithm = createAlgorithm(o.raw.algorithm.name as AlgorithmName, this.spec);
      this.optimizer = new MetaOptimizer((o.raw.optimizer ?? { kind: 'sgd', lr: 1 }) as MetaOptimizerConfig);
    } catch (cause) {
      throw new ServerError('ERR_SERVER_CONFIG', `model/algorithm/optimizer: ${(cause as Error).message}`, { cause });
    }
    const init = o.raw.model.initialParams;
    if (init && init.length !== this.spec.paramCount) {
      throw new ServerError('ERR_SERVER_CONFIG', `model.initialParams: ${init.length} entries, the model has ${this.spec.paramCount}`);
    }
    this.params = init ? init.slice() : this.spec.initParams(o.seed);
    const ev = o.raw.evaluation;
    if (ev) {
      const bad = (field: string, want: string): never => {
        throw new ServerError('ERR_SERVER_CONFIG', `evaluation.${field}: expected ${want}`);
      };
      if (ev.everyRounds !== undefined && !(Number.isInteger(ev.everyRounds) && ev.everyRounds >= 1)) bad('everyRounds', 'an integer >= 1');
      if (ev.report !== undefined && ev.report !== 'per-site' && ev.report !== 'secure') bad('report', "'per-site' or 'secure'");
      if (ev.bins !== undefined && !(Number.isInteger(ev.bins) && ev.bins >= 2 && ev.bins <= 1024)) bad('bins', 'an integer in [2, 1024]');
      if (ev.deadlineMs !== undefined && !(Number.isInteger(ev.deadlineMs) && ev.deadlineMs >= 1)) bad('deadlineMs', 'an integer >= 1 (ms)');
      if (ev.sendToSites !== undefined && ev.sendToSites !== 'last' && ev.sendToSites !== 'best') bad('sendToSites', "'last' or 'best'");
      if (ev.evalSteps !== undefined && !(Number.isInteger(ev.evalSteps) && ev.evalSteps >= 0 && ev.evalSteps <= MAX_EVAL_STEPS)) bad('evalSteps', `an integer in [0, ${MAX_EVAL_STEPS}]`);
      if (ev.evalLr !== undefined && !(Number.isFinite(ev.evalLr) && ev.evalLr > 0)) bad('evalLr', 'a finite number > 0');
      if (evaluationAdaptation(ev, o.raw.algorithm.hyper).lr === undefined && (ev.evalSteps ?? 1) > 0) bad('evalLr', 'a finite number > 0 (the algorithm has no innerLr or lr > 0 to default to)');
    }
    this.roster = o.roster;
    const raw = o.raw;
    // What must not change across a restart (rounds may be extended): see federationFingerprint.
    this.fingerprint = federationFingerprint(o);
    this.hash = this.fingerprint.hash;
    const ledgerPath = raw.dp ? raw.dp.ledgerPath ?? join(raw.checkpointDir!, 'ledger.json') : null;
    this.privacy =
      raw.dp && ledgerPath
        ? new Privacy(raw.dp, ledgerPath, this.spec.paramCount, { rounds: o.rounds, cohort: { minClients: o.cohort.minClients, maxClients: Math.min(o.cohort.maxClients, o.roster.size) }, aggregation: o.aggregation, hyper: raw.algorithm.hyper })
        : null;
  }

  log(level: ServerEvent['level'], event: string, fields: Record<string, unknown> = {}): void {
    if (event === 'peer.error' || event === 'peer.data-refused' || event === 'peer.policy-refused') {
      // A site's own failure (training, data, policy) reached us as a typed error frame: keep it for status.
      const round = this.running ? this.nextRound : null;
      this.siteErrors.push({ name: String(fields['peer'] ?? '?'), code: String(fields['code'] ?? ''), message: String(fields['message'] ?? ''), round, at: new Date().toISOString() });
      if (this.siteErrors.length > SITE_ERRORS) this.siteErrors.splice(0, this.siteErrors.length - SITE_ERRORS);
      fields = { ...fields, round };
    }
    this.o.raw.logger?.({ time: new Date().toISOString(), level, event, ...fields });
  }

  private bytes(): { in: number; out: number } {
    let i = this.bytesBase.in;
    let o = this.bytesBase.out;
    for (const p of this.peers.values()) {
      i += p.conn.bytesIn;
      o += p.conn.bytesOut;
    }
    return { in: i, out: o };
  }

  private progress(phase: ServerPhase, responded = this.roundCounts.responded, dropped = this.roundCounts.dropped): void {
    if (phase !== this.phase) this.log('debug', 'phase', { round: this.nextRound, phase });
    this.phase = phase;
    this.roundCounts.responded = responded;
    this.roundCounts.dropped = dropped;
    const b = this.bytes();
    const p: ServerProgress = {
      // Round 0 is the statistics round of federated preprocessing.
      round: this.inStatisticsRound ? 0 : (this.evaluatingRound ?? this.nextRound),
      rounds: this.o.rounds,
      phase,
      connected: this.readyPeers().length,
      cohort: this.roundCounts.cohort,
      responded,
      dropped,
      bytesIn: b.in,
      bytesOut: b.out,
      ...(this.abortedReason ? { aborted: this.abortedReason } : {}),
    };
    this.o.raw.onProgress?.(p);
  }

  private readyPeers(): Peer[] {
    return [...this.peers.values()].filter((p) => p.isReady);
  }

  /** Loads the checkpoint, binds, and starts the round loop. */
  async start(): Promise<ServerHandle> {
    const dir = this.o.raw.checkpointDir;
    let resumed: { dir: string; nextRound: number; noiseMultiplier: number | null } | null = null;
    let checkpointedReleases = 0;
    if (dir) {
      const ck = loadCheckpoint(dir);
      if (ck) {
        const mismatch = checkpointDiff(ck, this.fingerprint, this.o.federationId);
        if (mismatch) throw new CheckpointMismatchError(`${dir} ${mismatch.message}`, mismatch.fields);
        const params = ck.arrays.params;
        if (!params || params.length !== this.spec.paramCount) throw new ServerError('ERR_CHECKPOINT_CORRUPT', `${dir}: params missing or of the wrong length`);
        this.params = params;
        restoreOptimizerState(this.optimizer, ck.arrays, ck.meta.optimizer);
        this.nextRound = ck.nextRound;
        this.summaries.push(...((ck.meta.rounds as RoundSummary[] | undefined) ?? []));
        const st = ck.meta.standardisation as Federation['standardisation'] | undefined;
        if (st) this.standardisation = st;
        const best = ck.meta.best as { round: number; evaluation: RoundEvaluation } | null | undefined;
        if (best && ck.arrays.bestParams?.length === this.spec.paramCount) this.best = { round: best.round, evaluation: best.evaluation, params: ck.arrays.bestParams };
        // Record-level DP: every completed training round was released (checkpoints carry the count since it was recorded).
        const counted = ck.meta.recordReleases;
        checkpointedReleases = Math.max(typeof counted === 'number' && Number.isInteger(counted) ? counted : 0, this.summaries.filter((r) => r.status === 'completed').length);
        const dpMeta = ck.meta.dp as { noiseMultiplier?: unknown } | null | undefined;
        const recordMeta = ck.meta.recordDp as { noiseMultiplier?: unknown } | null | undefined;
        const z = dpMeta?.noiseMultiplier ?? recordMeta?.noiseMultiplier;
        resumed = { dir, nextRound: ck.nextRound, noiseMultiplier: typeof z === 'number' ? z : null };
      }
    }
    this.privacy?.open(checkpointedReleases);
    if (resumed) {
      this.resumeInfo = this.describeResume(resumed);
      const r = this.resumeInfo;
      this.log('info', 'checkpoint.resumed', {
        dir: resumed.dir,
        nextRound: r.nextRound,
        roundsCompleted: r.roundsCompleted,
        rounds: r.rounds,
        ...(r.dp ? { unit: r.dp.unit, epsilonSpent: r.dp.epsilonSpent, epsilonBudget: r.dp.epsilonBudget, noiseMultiplierBefore: r.dp.noiseMultiplier.before, noiseMultiplier: r.dp.noiseMultiplier.now } : {}),
      });
    }
    await ready(); // libsodium, used by the secagg crypto suite
    await selectBackend({ prefer: this.o.raw.backend ?? 'auto', log: null });
    try {
      this.listener = await listen({ ...this.o.raw, connectionLimits: this.o.connections }, this.o.limits, () => publicStatus(this.status(), this.o.raw.dp));
    } catch (err) {
      this.privacy?.close();
      throw err;
    }
    this.listener.wss.on('connection', (socket, req: IncomingMessage) => this.onConnection(socket, req));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.o.heartbeat.intervalMs);
    this.heartbeatTimer.unref();
    this.log('info', 'server.listening', { url: this.listener.url, federationId: this.o.federationId, nextRound: this.nextRound, rounds: this.o.rounds });
    void this.loop().then(
      (reason) => this.finish(reason),
      (err) => {
        this.log('error', 'server.failed', { error: String((err as Error)?.message ?? err) });
        void this.shutdown().then(() => this.rejectDone(err));
      },
    );
    const self = this;
    return {
      port: this.listener.port,
      url: this.listener.url,
      done: this.done,
      status: () => self.status(),
      updateRoster: (entries) => self.updateRoster(entries),
      plan: (n) => self.plan(n),
      planForCohort: () => self.planForCohort(),
      resumed: this.resumeInfo,
      close: async () => {
        await self.close();
      },
    };
  }

  private onConnection(socket: import('ws').WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (this.closing) {
      socket.close(4440, 'ERR_SHUTDOWN');
      return;
    }
    new Peer(socket, remote, {
      federationId: this.o.federationId,
      roster: () => this.roster,
      limits: this.o.limits,
      authMs: this.o.deadlines.authMs,
      nextRound: () => this.nextRound,
      admit: (peer) => this.admit(peer),
      settings: () => federationSettings(this.o) as unknown as Record<string, unknown>,
      log: (level, event, fields) => this.log(level, event, fields),
      onReady: (peer) => {
        const old = this.peers.get(peer.publicKeyHex);
        if (old && old !== peer) {
          // Two sessions passed admission at the same time: the newer wins, once.
          this.retire(old);
          old.conn.fail(new TransportError('ERR_SESSION_REPLACED', `a newer session of '${peer.name}' from ${peer.remote} connected`));
        }
        this.peers.set(peer.publicKeyHex, peer);
        this.progress(this.phase);
        this.peersChanged?.();
      },
      onClosed: (peer) => {
        if (this.peers.get(peer.publicKeyHex) === peer) {
          this.retire(peer);
          this.peers.delete(peer.publicKeyHex);
        }
        this.progress(this.phase);
      },
    });
  }

  /**
   * One session per identity. When a second connection authenticates with a key that
   * already has a session, the old one is probed with a ping: if it answers, it is a live
   * process and the NEW connection is refused (ERR_SESSION_DUPLICATE, fatal for the
   * client), so two processes never take turns replacing each other. If it stays silent
   * for the probe, it is a dead connection the server had not noticed yet (a client that
   * restarted after a network failure): it is closed (ERR_SESSION_REPLACED) and the new
   * one admitted.
   */
  private async admit(peer: Peer): Promise<TransportError | null> {
    const old = this.peers.get(peer.publicKeyHex);
    if (!old || old === peer || !old.isReady) return null;
    const since = Date.now();
    old.conn.ping();
    const probeMs = Math.min(2_000, this.o.heartbeat.timeoutMs);
    while (Date.now() - since < probeMs && old.isReady && old.conn.lastSeen < since) await new Promise((r) => setTimeout(r, 20));
    if (old.isReady && old.conn.lastSeen >= since) {
      this.log('warn', 'session.duplicate', { peer: peer.name, remote: peer.remote, live: old.remote });
      return new TransportError(
        'ERR_SESSION_DUPLICATE',
        `identity '${peer.name}' already has a live session (from ${old.remote}, since ${old.connectedAt.toISOString()}); only one process per identity may take part: stop the other process, or give this one its own key (fedmeta keygen) and add it to the roster`,
      );
    }
    if (old.isReady) {
      this.log('warn', 'session.replaced', { peer: peer.name, remote: peer.remote, silent: old.remote });
      this.retire(old);
      old.conn.fail(new TransportError('ERR_SESSION_REPLACED', `a newer session of '${peer.name}' from ${peer.remote} replaced this one, which did not answer a ping within ${probeMs} ms`));
    }
    return null;
  }

  /** What the restart continued from (null for a fresh start); epsilon as restored, before any new round. */
  private describeResume(r: { dir: string; nextRound: number; noiseMultiplier: number | null }): ResumeInfo {
    const dp = this.o.raw.dp;
    return {
      checkpointDir: r.dir,
      nextRound: r.nextRound,
      roundsCompleted: this.summaries.filter((s) => s.status === 'completed').length,
      rounds: this.o.rounds,
      dp:
        dp && this.privacy
          ? { unit: dp.unit ?? 'client', epsilonSpent: this.privacy.spent(), epsilonBudget: dp.epsilonBudget, delta: dp.delta, noiseMultiplier: { before: r.noiseMultiplier, now: dp.noiseMultiplier } }
          : null,
      standardisationRestored: this.standardisation !== null,
    };
  }

  /**
   * The plan of the largest cohort a round is sampled at: min(cohort.maxClients, the active
   * roster), raised to the start floor (max(minClients, minAggregate)) when maxClients is
   * below it, as the cohort picker does.
   */
  planForCohort(): RoundPlan {
    const active = this.roster.active;
    return this.plan(Math.min(Math.max(this.o.cohort.maxClients, this.startFloor()), active));
  }

  plan(n: number): RoundPlan {
    const p = planCohort(n, this.o.aggregation);
    const minAggregate = this.o.cohort.minAggregate;
    const needed = Math.max(p.threshold, minAggregate, 2);
    let tolerated = Math.max(0, n - needed);
    if (p.mode === 'secagg+') tolerated = Math.min(tolerated, Math.max(0, p.degree + 1 - p.threshold));
    return { n, mode: p.mode, degree: p.degree, threshold: p.threshold, minAggregate, toleratedDropouts: tolerated };
  }

  /** Replaces the roster; revoked or removed members are disconnected at once. */
  updateRoster(entries: RosterEntry[]): RosterChange {
    const next = new Roster(entries);
    const before = this.roster;
    const change: RosterChange = { added: [], revoked: [], disconnected: [] };
    for (const e of next.entries()) {
      const was = before.lookup(e.publicKey);
      if (!e.revoked && (!was || was.revoked)) change.added.push(e.name);
      if (e.revoked && was && !was.revoked) change.revoked.push(e.name);
    }
    for (const e of before.entries()) if (!e.revoked && !next.lookup(e.publicKey)) change.revoked.push(e.name);
    this.roster = next;
    for (const p of [...this.peers.values()]) {
      const entry = next.lookup(p.publicKey);
      if (entry && !entry.revoked) continue;
      const why = entry ? 'revoked' : 'removed from the roster';
      change.disconnected.push(p.name);
      this.log('warn', 'peer.revoked', { peer: p.name, remote: p.remote, why });
      const err = new TransportError('ERR_AUTH_REVOKED', `the key of '${p.name}' was ${why} while the federation ran`);
      this.running?.revoke(p, err);
      p.conn.fail(err);
    }
    this.log('info', 'roster.updated', { active: next.active, size: next.size, ...change });
    this.peersChanged?.();
    this.progress(this.phase);
    return change;
  }

  /** Keeps the byte counters of closed connections in the totals. */
  private retire(peer: Peer): void {
    this.bytesBase.in += peer.conn.bytesIn;
    this.bytesBase.out += peer.conn.bytesOut;
    peer.conn.bytesIn = 0;
    peer.conn.bytesOut = 0;
  }

  private heartbeat(): void {
    const now = Date.now();
    for (const p of this.peers.values()) {
      if (!p.conn.isOpen) continue;
      if (now - p.conn.lastSeen > this.o.heartbeat.timeoutMs) {
        p.conn.fail(new TransportError('ERR_HEARTBEAT_TIMEOUT', `no frame or pong for ${now - p.conn.lastSeen} ms`));
      } else {
        p.conn.ping();
      }
    }
  }

  /** No round starts with fewer members than this (nor can it release a smaller sum). */
  private startFloor(): number {
    return Math.max(this.o.cohort.minClients, this.o.cohort.minAggregate);
  }

  /** Resolves with a cohort once enough clients are ready (or null when closing). */
  private async waitForCohort(): Promise<Peer[] | null> {
    const { maxClients } = this.o.cohort;
    const floor = this.startFloor();
    let minReachedAt: number | null = null;
    for (;;) {
      if (this.closing) return null;
      const active = this.roster.active;
      if (active < floor && this.rosterShortLogged !== active) {
        this.rosterShortLogged = active;
        this.log('warn', 'cohort.roster-too-small', {
          active,
          minClients: this.o.cohort.minClients,
          minAggregate: this.o.cohort.minAggregate,
          message: `only ${active} active members on the roster; no round starts with fewer than ${floor}: add members to the roster`,
        });
      }
      // Peers are re-checked against the roster in force: a revoked one never joins a cohort.
      const peers = this.readyPeers();
      const ready = peers.filter((p) => {
        const e = this.roster.lookup(p.publicKey);
        return e !== undefined && !e.revoked;
      });
      const benchedNow = this.bench.benched(this.nextRound).length;
      const connected = new Set(peers.map((p) => p.publicKeyHex));
      for (const k of this.absent) if (connected.has(k)) this.absent.delete(k);
      const absentNow = this.roster.entries().filter((e) => !e.revoked && this.absent.has(toHex(e.publicKey))).length;
      const wanted = Math.max(floor, Math.min(maxClients, active - benchedNow - absentNow));
      const now = Date.now();
      if (ready.length >= floor) minReachedAt ??= now;
      else minReachedAt = null;
      const waitedOut = minReachedAt !== null && now - minReachedAt >= this.o.deadlines.waitForClientsMs;
      if (ready.length >= floor && (ready.length >= wanted || waitedOut)) {
        if (ready.length < wanted) this.markAbsent(connected);
        return this.pickCohort(ready, Math.max(maxClients, floor), floor);
      }
      this.progress('waiting', 0, 0);
      const waitMs = minReachedAt === null ? 60_000 : Math.max(1, this.o.deadlines.waitForClientsMs - (now - minReachedAt));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        this.peersChanged = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.peersChanged = null;
    }
  }

  /** Records the active roster members not connected after a full wait (logged once each). */
  private markAbsent(connected: ReadonlySet<string>): void {
    const names: string[] = [];
    for (const e of this.roster.entries()) {
      const k = toHex(e.publicKey);
      if (e.revoked || connected.has(k) || this.absent.has(k)) continue;
      this.absent.add(k);
      names.push(e.name);
    }
    if (names.length === 0) return;
    this.log('info', 'cohort.absent', {
      members: names,
      message: `${names.join(', ')} did not connect within ${this.o.deadlines.waitForClientsMs} ms (deadlines.waitForClientsMs); later rounds start without waiting for ${names.length === 1 ? 'it' : 'them'} until ${names.length === 1 ? 'it connects' : 'they connect'}`,
    });
  }

  /**
   * Samples the cohort from members that are not benched; when they are too few for the
   * floor, benched members fill the gap (a federation never stalls on its own bench).
   */
  private pickCohort(ready: Peer[], max: number, floor: number): Peer[] {
    const fresh = ready.filter((p) => !this.isBenched(p));
    if (fresh.length >= floor) return sampleCohort(fresh, max, this.o.seed, this.nextRound);
    const benched = ready.filter((p) => this.isBenched(p)).sort((a, b) => this.bench.get(a.publicKeyHex)!.untilRound - this.bench.get(b.publicKeyHex)!.untilRound);
    return [...fresh, ...benched.slice(0, floor - fresh.length)];
  }

  /** Runs one round's driver over the cohort and settles with its outcome. */
  private async drive(round: number, cohort: Peer[], config: RoundConfig, secagg: SecAggConfig | null, identities: Map<number, Uint8Array> | null, awaitProgress = false): Promise<RoundOutcome<Peer>> {
    let driver: RoundDriver<Peer>;
    try {
      driver = new RoundDriver<Peer>({
        round,
        cohort,
        config,
        params: this.params,
        secagg,
        identities,
        deadlines: this.o.deadlines,
        rng: this.o.rng,
        clock: this.o.clock,
        minAggregate: this.o.cohort.minAggregate,
        awaitProgress,
        log: (level, event, fields) => this.log(level, event, fields),
        progress: (phase, responded, dropped) => this.progress(phase, responded, dropped),
      });
    } catch (cause) {
      // The secagg machine refused the session config (e.g. a threshold above the holders).
      throw new ServerError('ERR_SERVER_CONFIG', `aggregation for a cohort of ${cohort.length}: ${(cause as Error).message}`, { cause });
    }
    this.running = driver;
    const closeListeners = new Map<Peer, () => void>();
    for (const p of cohort) {
      p.handler = (msg) => driver.receive(p, msg);
      const l = () => driver.memberClosed(p);
      closeListeners.set(p, l);
      p.closeListeners.add(l);
    }
    driver.start();
    const outcome = await driver.outcome;
    this.running = null;
    for (const p of cohort) {
      p.handler = null;
      p.closeListeners.delete(closeListeners.get(p)!);
    }
    return outcome;
  }

  /**
   * The statistics round (round 0) of federated standardisation: every site sends its raw
   * features' count, sum and sum of squares as fixed-point limbs, masked by SecAgg; the
   * coordinator learns only the sums, and every later round config carries the global mean
   * and std each site standardises with. Repeated until it completes (or the server closes).
   * @returns false when the server is closing
   */
  private async statisticsRound(): Promise<boolean> {
    const features = this.featureCount();
    while (!this.standardisation) {
      // The wait for its cohort belongs to round 0 too (progress shows round 0, not round 1).
      this.inStatisticsRound = true;
      const cohort = await this.waitForCohort().finally(() => {
        this.inStatisticsRound = false;
      });
      if (!cohort) return false;
      const plan = planCohort(cohort.length, this.o.aggregation);
      const wire: StatsEncoding = { kind: 'stats', features, limbs: STATS_FORMAT.limbs, fracBits: STATS_FORMAT.fracBits };
      const encoding = { wire, bits: 32, vectorLength: STATS_FORMAT.limbs * (1 + 2 * features) } as unknown as RoundEncoding;
      const { config, secagg, identities } = announceRound(this.o, 0, cohort, plan, encoding, this.spec.paramCount, this.o.rng);
      this.roundCounts = { cohort: cohort.length, responded: 0, dropped: 0 };
      this.log('info', 'preprocessing.started', { round: 0, cohort: cohort.map((p) => p.name), features, mode: plan.mode, threshold: plan.threshold });
      this.inStatisticsRound = true;
      const outcome = await this.drive(0, cohort, config, secagg, identities).finally(() => {
        this.inStatisticsRound = false;
      });
      if (this.closing) return false;
      if (outcome.status !== 'completed') {
        this.log('warn', 'preprocessing.aborted', { reason: outcome.reason, detail: outcome.detail });
        this.endRound(cohort, 0, 'aborted', { reason: outcome.reason }, new Map());
        continue;
      }
      const v = decodeFixedPoint(outcome.sum, STATS_FORMAT);
      const count = v[0]!;
      const mean: number[] = [];
      const std: number[] = [];
      for (let j = 0; j < features; j++) {
        const m = v[1 + j]! / count;
        const variance = Math.max(0, v[1 + features + j]! / count - m * m);
        mean.push(m);
        // A constant feature keeps its scale (std 1) instead of dividing by zero.
        std.push(variance > 0 ? Math.sqrt(variance) : 1);
      }
      this.standardisation = { mean, std, count, sites: outcome.survivors.length };
      this.log('info', 'preprocessing.done', { rows: count, sites: outcome.survivors.length, features });
      this.endRound(cohort, 0, 'completed', { preprocessing: 'federated-standardise', rows: count }, new Map());
      this.checkpoint();
    }
    return true;
  }

  /** Features of one example: the schema's columns, or the model's input size. */
  private featureCount(): number {
    const d = this.o.raw.dataSchema;
    if (d?.kind === 'table') return d.featureColumns.length;
    const shape = (this.spec.config as unknown as { inputShape?: number[] }).inputShape ?? [];
    return shape.reduce((a, b) => a * b, 1);
  }

  /** The evaluation data in the federation's standardised feature space. */
  private evalData(raw: NonNullable<ServerOptions['evaluate']>['data']): NonNullable<ServerOptions['evaluate']>['data'] {
    const st = this.standardisation;
    if (!st) return raw;
    if (this.evalCache?.raw === raw) return this.evalCache.data;
    // meta's standardise: the same arithmetic as the sites' and `fedmeta predict`'s.
    const data = { ...raw, x: standardise(raw, { mean: st.mean, std: st.std }).dataset.x };
    this.evalCache = { raw, data };
    return data;
  }

  private async loop(): Promise<FederationSummary['endReason']> {
    if (this.o.raw.preprocessing && this.o.raw.dp) {
      this.log('warn', 'preprocessing.not-dp', {
        message: 'federated standardisation releases the sites\' summed feature statistics (round 0) without DP noise: the epsilon budget covers the training rounds only',
      });
    }
    if (this.o.raw.preprocessing?.standardise === 'federated' && !this.standardisation) {
      if (!(await this.statisticsRound())) return 'closed';
    }
    while (this.nextRound <= this.o.rounds) {
      const cohort = await this.waitForCohort();
      if (!cohort) return 'closed';
      const round = this.nextRound;
      const started = Date.now();
      const b0 = this.bytes();
      const plan = planCohort(cohort.length, this.o.aggregation);
      let encoding: RoundEncoding | DpRoundEncoding;
      try {
        encoding = this.privacy
          ? this.privacy.record
            ? this.privacy.recordEncoding(round, cohort.length, accountedClients(plan, cohort.length, this.o.cohort.minAggregate))
            : this.privacy.encoding(round, accountedClients(plan, cohort.length, this.o.cohort.minAggregate))
          : quantizeEncoding(this.spec.paramCount, cohort.length, this.o.aggregation);
      } catch (cause) {
        throw new ServerError('ERR_SERVER_CONFIG', `encoding for a cohort of ${cohort.length}: ${(cause as Error).message}`, { cause });
      }
      const { config, secagg, identities } = announceRound(this.o, round, cohort, plan, encoding, this.spec.paramCount, this.o.rng, this.standardisation);
      this.roundCounts = { cohort: cohort.length, responded: 0, dropped: 0 };
      this.log('info', 'round.started', { round, cohort: cohort.map((p) => p.name), mode: plan.mode, degree: plan.degree, threshold: plan.threshold, vectorLength: encoding.vectorLength });
      const outcome = await this.drive(round, cohort, config, secagg, identities);
      const benched = this.updateBench(round, cohort, outcome.laggards);
      if (this.closing) return 'closed';
      const summary: RoundSummary = {
        round,
        status: outcome.status,
        mode: plan.mode,
        cohort: cohort.length,
        survivors: outcome.status === 'completed' ? outcome.survivors.length : 0,
        dropped: outcome.dropped.length,
        degree: plan.degree,
        threshold: plan.threshold,
        bytesIn: 0,
        bytesOut: 0,
        wallMs: 0,
      };
      if (outcome.status === 'completed') {
        this.progress('aggregating', outcome.survivors.length, outcome.dropped.length);
        if (outcome.faulty.length > 0) {
          this.log('warn', 'round.faulty', { round, peers: outcome.faulty.map((p) => p.name), faults: outcome.faults });
        }
        if (this.privacy) {
          // Charge BEFORE anything derived from the aggregate is applied or released.
          const charged = this.privacy.charge(round);
          if (!charged.ok) {
            summary.status = 'aborted';
            summary.abortReason = 'BUDGET_EXHAUSTED';
            this.summaries.push(summary);
            this.endRound(cohort, round, 'aborted', { reason: 'BUDGET_EXHAUSTED' }, benched);
            this.log('warn', 'budget.exhausted', { round, epsilon: charged.epsilon, budget: this.o.raw.dp!.epsilonBudget });
            return 'budget-exhausted';
          }
          summary.epsilon = charged.epsilon;
        }
        // The raw aggregate leaves this function only after the ledger holds its charge.
        this.o.raw.onAggregate?.(round, { sum: outcome.sum, survivors: outcome.survivors.map((p) => p.name), dropped: outcome.dropped.map((p) => p.name) });
        const decoded = this.privacy ? this.privacy.decode(outcome.sum, round, outcome.survivors.length) : (encoding as RoundEncoding).decode(outcome.sum);
        summary.totalWeight = decoded.totalWeight;
        this.optimizer.apply(this.params, decoded.mean);
        const ev = this.o.raw.evaluate;
        if (ev && ((round % (ev.every ?? 1)) === 0 || round === this.o.rounds)) {
          this.progress('evaluating');
          const evData = this.evalData(ev.data);
          summary.accuracy = this.algorithm.accuracy(this.params, evData, evData);
          const loss = heldOutLoss(this.algorithm, this.spec, this.params, evData);
          if (loss !== undefined) summary.loss = loss;
        }
      } else {
        summary.abortReason = outcome.reason;
        this.abortedReason = outcome.reason;
        this.progress(this.phase);
        this.log('warn', 'round.aborted', { round, reason: outcome.reason, detail: outcome.detail });
      }
      const b1 = this.bytes();
      summary.bytesIn = b1.in - b0.in;
      summary.bytesOut = b1.out - b0.out;
      summary.wallMs = Date.now() - started;
      this.summaries.push(summary);
      this.nextRound = round + 1;
      this.checkpoint();
      this.abortedReason = null;
      this.endRound(cohort, round, summary.status, { ...summary }, benched);
      this.log('info', 'round.finished', { ...summary });
      if (summary.status === 'completed' && this.evaluationDue(round)) {
        // Members dropped from this round (deadline, silence, closed) may still send its messages: not evaluated now.
        const out = new Set<Peer>([...outcome.dropped, ...outcome.laggards.map((l) => l.member)]);
        this.evaluatingRound = round;
        await this.evaluationRound(round, summary, out).finally(() => {
          this.evaluatingRound = null;
        });
        if (this.closing) return 'closed';
      }
    }
    return 'completed';
  }

  private evaluationDue(round: number): boolean {
    const ev = this.o.raw.evaluation;
    if (!ev) return false;
    return round % (ev.everyRounds ?? 1) === 0 || round === this.o.rounds;
  }

  /**
   * The evaluation round of training round `round`: every connected site (but those just
   * dropped from that round) evaluates the new global model on its held-out rows and
   * reports per site (evalReport frames) or through a secure sum (the statistics round's
   * fixed-point encoding, so the coordinator learns only the federation's sums). The round
   * carries the training round's number; the best round is kept by its accuracy (loss
   * breaks ties). An evaluation that fails is logged and the federation goes on.
   */
  private async evaluationRound(round: number, summary: RoundSummary, out: ReadonlySet<Peer>): Promise<void> {
    const settings = evaluationSettings(this.o);
    const bins = this.spec.numClasses === 2 ? settings.bins : 0;
    const cohort = this.readyPeers().filter((p) => {
      const e = this.roster.lookup(p.publicKey);
      return e !== undefined && !e.revoked && !out.has(p);
    });
    const adapt = evaluationAdaptation(this.o.raw.evaluation, this.o.raw.algorithm.hyper);
    const adaptation = { steps: adapt.steps, lr: adapt.lr ?? 0 };
    const wire: EvaluationEncoding = { kind: 'evaluation', report: settings.report, bins, limbs: STATS_FORMAT.limbs, fracBits: STATS_FORMAT.fracBits, evalSteps: adapt.steps, ...(adapt.lr !== undefined ? { evalLr: adapt.lr } : {}) };
    const secure = settings.report === 'secure';
    const floor = secure ? this.startFloor() : 1;
    if (cohort.length < floor) {
      this.log('warn', 'evaluation.skipped', { round, sites: cohort.length, needed: floor, message: `round ${round} not evaluated: ${cohort.length} site(s) connected, ${floor} needed` });
      return;
    }
    this.roundCounts = { cohort: cohort.length, responded: 0, dropped: 0 };
    this.progress('evaluating', 0, 0);
    this.log('info', 'evaluation.started', { round, report: settings.report, sites: cohort.map((p) => p.name), bins });
    let evaluation: RoundEvaluation | null = null;
    let members = cohort;
    const hasLoss = this.algorithm.name !== 'protonets';
    if (secure) {
      const plan = planCohort(cohort.length, this.o.aggregation);
      const encoding = { wire, bits: 32, vectorLength: STATS_FORMAT.limbs * evaluationValues(bins, true) } as unknown as RoundEncoding;
      const { config, secagg, identities } = announceRound(this.o, round, cohort, plan, encoding, this.spec.paramCount, this.o.rng, this.standardisation);
      const outcome = await this.drive(round, cohort, config, secagg, identities, true);
      if (this.closing) return;
      if (outcome.status !== 'completed') {
        this.log('warn', 'evaluation.aborted', { round, reason: outcome.reason, detail: outcome.detail });
        this.endRound(cohort, round, 'aborted', { reason: outcome.reason, evaluation: null }, new Map());
        return;
      }
      const v = decodeFixedPoint(outcome.sum, STATS_FORMAT);
      const hist = (from: number) => Array.from({ length: bins }, (_, b) => Math.round(v[from + b]!));
      members = outcome.survivors;
      const sum: SiteReport = {
        name: 'federation',
        count: Math.round(v[0]!),
        correct: Math.round(v[1]!),
        ...(hasLoss ? { lossSum: v[2]! } : {}),
        positive: hist(3),
        negative: hist(3 + bins),
        personalCorrect: Math.round(v[3 + 2 * bins]!),
        ...(hasLoss ? { personalLossSum: v[4 + 2 * bins]! } : {}),
      };
      evaluation = combineEvaluation('secure', [sum], outcome.survivors.length, false, adaptation);
    } else {
      const plan = { mode: 'plaintext' as const, degree: 0, threshold: 0 };
      const encoding = { wire, bits: 32, vectorLength: 1 } as unknown as RoundEncoding;
      const { config } = announceRound(this.o, round, cohort, plan, encoding, this.spec.paramCount, this.o.rng, this.standardisation);
      const reports = await this.collectReports(round, cohort, config, bins, settings);
      if (this.closing) return;
      members = [...reports.keys()];
      const list: SiteReport[] = [...reports].map(([p, r]) => ({
        name: p.name,
        count: r.count,
        correct: r.correct,
        ...(r.lossSum !== undefined ? { lossSum: r.lossSum } : {}),
        ...(r.auc !== undefined ? { auc: r.auc } : {}),
        positive: r.positive,
        negative: r.negative,
        ...(r.personalCorrect !== undefined ? { personalCorrect: r.personalCorrect } : {}),
        ...(r.personalLossSum !== undefined ? { personalLossSum: r.personalLossSum } : {}),
      }));
      evaluation = combineEvaluation('per-site', list, list.length, true, adaptation);
    }
    if (!evaluation) {
      this.log('warn', 'evaluation.empty', { round, message: `round ${round}: no site reported held-out rows` });
      this.endRound(cohort, round, 'aborted', { reason: 'NO_EVALUATION', evaluation: null }, new Map());
      return;
    }
    summary.evaluation = evaluation;
    if (!this.best || betterEvaluation(evaluation, this.best.evaluation)) this.best = { round, params: this.params.slice(), evaluation };
    this.log('info', 'round.evaluated', { round, ...evaluation, best: this.best.round, sites: evaluation.sites, reporters: members.map((p) => p.name) });
    const { perSite: _perSite, ...federationWide } = evaluation;
    this.endRound(cohort, round, 'completed', { evaluation: federationWide, ...(summary.epsilon !== undefined ? { epsilon: summary.epsilon } : {}), best: this.best.round }, new Map());
    this.checkpoint();
  }

  /**
   * Per-site evaluation: sends the evaluation roundStart and collects one evalReport per
   * member until every member reported or left, or the deadline passed.
   */
  private collectReports(round: number, cohort: Peer[], config: RoundConfig, bins: number, settings: { report: string }): Promise<Map<Peer, MessageOf<'evalReport'>>> {
    const deadlineMs = this.o.raw.evaluation?.deadlineMs ?? this.o.deadlines.trainingMs;
    return new Promise((resolve) => {
      const reports = new Map<Peer, MessageOf<'evalReport'>>();
      const gone = new Set<Peer>();
      const listeners = new Map<Peer, () => void>();
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        for (const p of cohort) {
          p.handler = null;
          p.closeListeners.delete(listeners.get(p)!);
        }
        const missing = cohort.filter((p) => !reports.has(p) && !gone.has(p));
        if (missing.length) this.log('info', 'evaluation.deadline', { round, ms: deadlineMs, missing: missing.map((p) => p.name) });
        resolve(reports);
      };
      const check = () => {
        this.progress('evaluating', reports.size, gone.size);
        if (reports.size + gone.size >= cohort.length) done();
      };
      const timer = setTimeout(done, deadlineMs);
      timer.unref?.();
      cohort.forEach((p, i) => {
        p.handler = (msg) => {
          if (finished) return;
          try {
            // Leftovers of the training round of the same number (this round aggregates nothing).
            if ((msg.type === 'secagg' || msg.type === 'plainInput' || msg.type === 'progress') && msg.round <= round) return;
            if (msg.type !== 'evalReport') throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} during the evaluation of round ${round} (${settings.report} reports)`);
            if (msg.round < round) return;
            if (msg.round !== round) throw new TransportError('ERR_ROUND_MISMATCH', `evalReport for round ${msg.round} during the evaluation of round ${round}`);
            if (reports.has(p) || gone.has(p)) throw new TransportError('ERR_UNEXPECTED_FRAME', `a second evalReport for round ${round}`);
            if (msg.positive.length !== bins) throw new TransportError('ERR_BAD_PAYLOAD', `evalReport has ${msg.positive.length} score bins, the evaluation of round ${round} announced ${bins}`);
            reports.set(p, msg);
            this.log('debug', 'evaluation.report', { round, peer: p.name, count: msg.count, correct: msg.correct, ...(msg.personalCorrect !== undefined ? { personalCorrect: msg.personalCorrect } : {}) });
          } catch (err) {
            const e = err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err));
            this.log('warn', 'evaluation.refused', { round, peer: p.name, code: e.code, message: e.message });
            gone.add(p);
            p.refuse(e);
          }
          check();
        };
        const l = () => {
          gone.add(p);
          if (!finished) check();
        };
        listeners.set(p, l);
        p.closeListeners.add(l);
        if (!p.isReady || !p.send({ type: 'roundStart', round, participantId: i + 1, config: config as unknown as Record<string, unknown>, params: this.params })) gone.add(p);
      });
      check();
    });
  }

  private endRound(cohort: Peer[], round: number, status: 'completed' | 'aborted', summary: Record<string, unknown>, benched: ReadonlyMap<Peer, Record<string, unknown>>): void {
    for (const p of cohort) {
      if (!p.isReady) continue;
      const bench = benched.get(p);
      // A benched member learns why, and for how long, in its roundEnd.
      if (bench) p.send({ type: 'roundEnd', round, status: 'excluded', summary: { ...summary, bench } });
      else p.send({ type: 'roundEnd', round, status, summary });
    }
  }

  /**
   * The straggler policy: a member that missed a deadline or went silent this round is
   * left out of the next cohorts for benchRounds * 2^(strikes-1) rounds (capped at
   * maxBenchRounds); a member that takes part in a round without lagging is forgiven.
   * @returns the members benched now, with what their roundEnd tells them
   */
  private updateBench(round: number, cohort: readonly Peer[], laggards: readonly Laggard<Peer>[]): Map<Peer, Record<string, unknown>> {
    const out = new Map<Peer, Record<string, unknown>>();
    for (const [p, v] of this.bench.update(round, cohort, laggards, (m) => m.publicKeyHex)) {
      this.log('warn', 'peer.benched', { peer: p.name, round, rounds: v.rounds, untilRound: v.untilRound, strikes: v.strikes, reason: v.reason });
      // What the member's roundEnd tells it (the strike count stays in the coordinator's log).
      out.set(p, { rounds: v.rounds, untilRound: v.untilRound, reason: v.reason });
    }
    return out;
  }

  private isBenched(p: Peer): boolean {
    return this.bench.isBenched(p.publicKeyHex, this.nextRound);
  }

  private checkpoint(): void {
    const dir = this.o.raw.checkpointDir;
    if (!dir) return;
    this.progress('checkpointing');
    const opt = readOptimizerState(this.optimizer);
    saveCheckpoint(dir, {
      federationId: this.o.federationId,
      configHash: this.hash,
      configFields: this.fingerprint.fields,
      nextRound: this.nextRound,
      arrays: { params: this.params, ...opt.arrays, ...(this.best ? { bestParams: this.best.params } : {}) },
      meta: {
        optimizer: opt.meta,
        rounds: this.summaries,
        epsilon: this.privacy?.spent() ?? null,
        // The noise multiplier of the rounds so far (a restart may re-plan it for the rest).
        dp: this.o.raw.dp ? { unit: this.o.raw.dp.unit ?? 'client', noiseMultiplier: this.o.raw.dp.noiseMultiplier } : null,
        // Record-level DP: rounds released so far, journalled before each release (see Privacy.open).
        ...(this.privacy?.record ? { recordReleases: this.privacy.releases } : {}),
        // Record-level DP keeps no ledger here (every site keeps its own): what was announced.
        recordDp: this.privacy?.record ? { mode: this.privacy.record.mode, epsilonBudget: this.privacy.record.epsilonBudget, delta: this.privacy.record.delta, noiseMultiplier: this.privacy.record.noiseMultiplier, sampleRate: this.privacy.record.sampleRate } : null,
        standardisation: this.standardisation ?? null,
        best: this.best ? { round: this.best.round, evaluation: this.best.evaluation } : null,
      },
    });
    this.log('info', 'checkpoint.saved', { dir, nextRound: this.nextRound });
  }

  status(): ServerStatus {
    return {
      federationId: this.o.federationId,
      round: this.nextRound,
      rounds: this.o.rounds,
      phase: this.phase,
      connected: this.readyPeers().map((p) => ({ name: p.name, since: p.connectedAt.toISOString() })),
      benched: this.bench.benched(this.nextRound).map((b) => ({ name: b.name, untilRound: b.untilRound, reason: b.reason })),
      ...(this.privacy ? { epsilon: this.privacy.spent() } : {}),
      ...(this.lastEvaluation() ? { evaluation: this.lastEvaluation()! } : {}),
      ...(this.best ? { best: { round: this.best.round, accuracy: this.best.evaluation.accuracy, ...(this.best.evaluation.loss !== undefined ? { loss: this.best.evaluation.loss } : {}) } } : {}),
      siteErrors: this.siteErrors.map((e) => ({ ...e })),
    };
  }

  private lastEvaluation(): ({ round: number } & RoundEvaluation) | null {
    const r = [...this.summaries].reverse().find((x) => x.evaluation);
    return r ? { round: r.round, ...r.evaluation! } : null;
  }

  private summary(endReason: FederationSummary['endReason']): FederationSummary {
    return {
      federationId: this.o.federationId,
      roundsCompleted: this.summaries.filter((s) => s.status === 'completed').length,
      rounds: [...this.summaries],
      finalParams: this.params.slice(),
      ...(this.standardisation ? { standardisation: this.standardisation } : {}),
      ...(this.privacy ? { epsilon: this.privacy.spent() } : {}),
      endReason,
      manifest: this.manifest('last'),
      ...(this.best ? { best: { round: this.best.round, params: this.best.params.slice(), manifest: this.manifest('best') } } : {}),
      sentToSites: this.sendsBest() ? 'best' : 'last',
    };
  }

  /** Whether the finalModel frame carries the best round's model (configured, and one was evaluated). */
  private sendsBest(): boolean {
    return this.o.raw.evaluation?.sendToSites === 'best' && this.best !== null;
  }

  /**
   * What the final model is and how to feed it: the model and algorithm, the data schema
   * (feature order, class names), the standardisation, the round it comes from with that
   * round's metrics, and the DP guarantee it was trained under.
   */
  private manifest(kind: 'last' | 'best'): ModelManifest {
    const lastDone = [...this.summaries].reverse().find((r) => r.status === 'completed');
    const last = kind === 'best' && this.best ? [...this.summaries].reverse().find((r) => r.round === this.best!.round && r.status === 'completed') : lastDone;
    const fed = kind === 'best' && this.best ? this.best.evaluation : last?.evaluation;
    const dp = this.o.raw.dp;
    return {
      format: 'fedmeta-model/1',
      federationId: this.o.federationId,
      round: kind === 'best' && this.best ? this.best.round : (last?.round ?? 0),
      roundsCompleted: this.summaries.filter((r) => r.status === 'completed').length,
      model: this.spec.config as unknown as ModelManifest['model'],
      algorithm: this.o.raw.algorithm.name,
      ...(this.o.raw.dataSchema ? { data: this.o.raw.dataSchema } : {}),
      ...(this.standardisation ? { standardisation: { mean: this.standardisation.mean, std: this.standardisation.std } } : {}),
      metrics: {
        ...(last?.accuracy !== undefined ? { accuracy: last.accuracy } : {}),
        ...(last && 'loss' in last && typeof (last as { loss?: unknown }).loss === 'number' ? { loss: (last as { loss: number }).loss } : {}),
        ...(fed
          ? { federated: { report: fed.report, accuracy: fed.accuracy, ...(fed.loss !== undefined ? { loss: fed.loss } : {}), ...(fed.auc !== undefined ? { auc: fed.auc } : {}), sites: fed.sites, count: fed.count } }
          : {}),
      },
      ...(this.o.raw.evaluation ? { selection: { kind, metric: this.best ? BEST_METRIC : null, lastRound: lastDone?.round ?? 0, bestRound: this.best?.round ?? null } } : {}),
      dp:
        dp && this.privacy
          ? {
              unit: dp.unit ?? 'client',
              epsilon: this.privacy.spent(),
              delta: dp.delta,
              epsilonBudget: dp.epsilonBudget,
              covers: this.o.raw.preprocessing ? 'the training rounds; the round-0 feature statistics (count, sum, sum of squares over all sites) were released without noise' : 'every released aggregate',
            }
          : null,
    };
  }

  private async finish(reason: FederationSummary['endReason']): Promise<void> {
    this.progress('done');
    const s = this.summary(reason);
    for (const p of this.readyPeers()) {
      // Every site receives the model it helped train, with its manifest.
      const sent = s.sentToSites === 'best' && s.best ? s.best : { manifest: s.manifest, params: s.finalParams };
      if (s.roundsCompleted > 0) p.send({ type: 'finalModel', manifest: sent.manifest as unknown as Record<string, unknown>, params: sent.params });
      p.send({ type: 'bye', summary: { roundsCompleted: s.roundsCompleted, endReason: reason } });
      p.conn.close(1000, 'federation done');
    }
    this.log('info', 'server.done', {
      endReason: reason,
      roundsCompleted: s.roundsCompleted,
      ...(this.o.raw.evaluation ? { lastRound: s.manifest.round, bestRound: s.best?.round ?? null, sentToSites: s.sentToSites } : {}),
    });
    await this.shutdown();
    this.resolveDone(s);
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.peersChanged?.();
    // Give close frames a moment to flush before tearing sockets down.
    await new Promise((r) => setTimeout(r, 50));
    await this.listener?.close();
    this.privacy?.close();
  }

  async close(): Promise<void> {
    if (this.closing) {
      await this.done.catch(() => undefined);
      return;
    }
    this.closing = true;
    this.running?.cancel('server shutting down');
    for (const p of this.peers.values()) p.conn.fail(new TransportError('ERR_SHUTDOWN', 'the server is shutting down'));
    this.peersChanged?.();
    await this.done.catch(() => undefined);
  }
}

