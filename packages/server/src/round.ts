/**
 * The round driver: runs ONE aggregation round over a cohort. Protocol logic is the
 * aggregator's (the SecAgg server machine, or plaintext summation); the driver moves
 * messages between it and the members, keeps the deadlines, and turns rejections into
 * typed refusals. It owns no sockets and reads no clock of its own: members, the clock
 * and randomness are injected, so every transition is unit-tested with a fake clock.
 *
 * Deadlines: each phase has one (`trainingMs` for training + key advertisement, then one
 * per SecAgg phase); when it fires, the members the phase still waits for are dropped and
 * reported as laggards. While training, a member must also show progress (a `progress`
 * frame, or its first SecAgg message) at least every `progressMs`: heartbeats and partial
 * frames do not count, so a member that keeps its socket alive by dripping bytes is
 * dropped after `progressMs`, not after the whole training deadline. The silence check
 * runs in plaintext rounds too: their one collecting phase is the training phase.
 *
 * A stalled event loop (a synchronous evaluation or checkpoint in the coordinator's
 * process) runs due timers before it reads the sockets, so a silence check that fires
 * late would see members as silent whose progress frames are already waiting unread, and
 * a phase deadline that fires late would drop members whose inputs are already waiting. A
 * silence check or phase deadline that fires more than `LATE_TIMER_MS` after it was due
 * therefore re-arms once with no delay, which lets the pending frames be processed, and
 * decides then.
 */
import type { Rng, SecAggConfig } from '@fedmeta/secagg';
import { TransportError, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import { PlaintextAggregator, SecAggAggregator, type Aggregator, type AggregatorSend } from './aggregator.js';
import type { Clock, TimerHandle } from './clock.js';
import type { ServerPhase } from './options.js';

/** Bulk cap of an authenticated peer outside its rounds: it has nothing large to send. */
export const IDLE_BULK_CAP = 64 << 10;

/**
 * A silence check or phase deadline that fires this much later than it was due is taken as
 * a sign that the event loop stalled: its verdict is deferred once, so that frames that
 * arrived during the stall are processed first.
 */
export const LATE_TIMER_MS = 100;

export interface RoundDeadlines {
  trainingMs: number;
  shareKeysMs: number;
  maskedInputMs: number;
  consistencyMs: number;
  unmaskingMs: number;
  /** Longest silence (no progress frame, no input) allowed while training. */
  progressMs: number;
}

/** What the driver needs of a cohort member (the server's Peer; a fake in unit tests). */
export interface RoundMember {
  readonly name: string;
  /** Authenticated and connected. */
  readonly isReady: boolean;
  send(msg: RuntimeMessage): void;
  /** Ends the member's connection with a typed refusal (its close is then reported). */
  refuse(err: TransportError): void;
  /** Largest message the member may send now. */
  setBulkCap(bytes: number): void;
}

export interface RoundInput<M extends RoundMember> {
  round: number;
  /** Cohort members; member i gets participant id i + 1. */
  cohort: readonly M[];
  config: RoundConfig;
  params: Float32Array;
  secagg: SecAggConfig | null;
  /** Identity public keys per participant id (active mode). */
  identities: Map<number, Uint8Array> | null;
  deadlines: RoundDeadlines;
  rng: Rng;
  clock: Clock;
  /** The floor on the released sum: fewer surviving inputs abort the round, nothing is released. */
  minAggregate: number;
  /**
   * An evaluation round, which carries the number of the training round just finished: a
   * member's secagg / plainInput messages before its first `progress` frame of this round
   * are late messages of that training round (they left before this round's roundStart
   * reached it) and are ignored, not fed to this round's machine.
   */
  awaitProgress?: boolean;
  log(level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void;
  progress(phase: ServerPhase, responded: number, dropped: number): void;
}

/** A member dropped for missing a deadline or going silent: a candidate for the bench. */
export interface Laggard<M> {
  member: M;
  phase: ServerPhase;
  reason: string;
}

export type RoundOutcome<M> =
  | { status: 'completed'; sum: Uint32Array; survivors: M[]; dropped: M[]; laggards: Laggard<M>[]; faulty: M[]; faults: readonly unknown[] }
  | { status: 'aborted'; reason: string; detail: string; dropped: M[]; laggards: Laggard<M>[] };

export class RoundDriver<M extends RoundMember> {
  readonly outcome: Promise<RoundOutcome<M>>;
  private settle!: (o: RoundOutcome<M>) => void;
  private readonly idOf = new Map<M, number>();
  private readonly memberOf = new Map<number, M>();
  private readonly agg: Aggregator;
  private readonly gone = new Set<M>();
  private readonly laggards: Laggard<M>[] = [];
  /** Last sign of training progress per member (training phase only). */
  private readonly heardAt = new Map<M, number>();
  /** awaitProgress: members whose first progress frame of this round arrived. */
  private readonly started = new Set<M>();
  private phaseTimer: TimerHandle | null = null;
  private stallTimer: TimerHandle | null = null;
  private done = false;

  constructor(private readonly input: RoundInput<M>) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
    input.cohort.forEach((m, i) => {
      this.idOf.set(m, i + 1);
      this.memberOf.set(i + 1, m);
    });
    const a = input.config.aggregation;
    this.agg =
      a.mode === 'plaintext'
        ? new PlaintextAggregator(input.cohort.map((_, i) => i + 1), a.vectorLength, a.bits, input.minAggregate)
        : new SecAggAggregator(input.secagg!, input.rng, { ...(input.identities ? { roster: input.identities } : {}), minSurvivors: input.minAggregate }, input.round);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Sends roundStart to every member and arms the first deadline. */
  start(): void {
    const { round, config, params, clock } = this.input;
    // The largest thing a member may send this round is its masked (or plain) vector plus
    // headers; shares and signatures are far smaller. Bounds server memory to about one
    // vector per member instead of maxMessageBytes per member.
    const cap = 4 * config.aggregation.vectorLength + (64 << 10);
    const now = clock.now();
    for (const m of this.input.cohort) {
      if (!m.isReady) continue;
      m.setBulkCap(cap);
      this.heardAt.set(m, now);
      m.send({ type: 'roundStart', round, participantId: this.idOf.get(m)!, config: config as unknown as Record<string, unknown>, params });
    }
    for (const m of this.input.cohort) if (!m.isReady) this.memberClosed(m);
    if (this.done) return;
    this.armPhaseTimer();
    this.armStallTimer();
    this.report();
    this.advance(false);
  }

  /** One post-handshake message of a cohort member. Refusals close its connection. */
  receive(member: M, msg: RuntimeMessage): void {
    try {
      this.onMessage(member, msg);
    } catch (err) {
      const e = err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err });
      this.input.log('warn', 'round.refused', { round: this.input.round, peer: member.name, code: e.code, message: e.message });
      member.refuse(e);
    }
  }

  private onMessage(member: M, msg: RuntimeMessage): void {
    const { round } = this.input;
    if (this.done) return;
    if (msg.type === 'evalReport' && msg.round < round) {
      // A per-site evaluation report that missed its round's deadline: late, not hostile.
      this.input.log('debug', 'round.late-message', { round, peer: member.name, type: msg.type, of: msg.round });
      return;
    }
    if (msg.type !== 'progress' && msg.type !== 'secagg' && msg.type !== 'plainInput') throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} during a round`);
    if (msg.round < round) {
      this.input.log('debug', 'round.late-message', { round, peer: member.name, type: msg.type, of: msg.round });
      return;
    }
    if (msg.round !== round) throw new TransportError('ERR_ROUND_MISMATCH', `${msg.type} for round ${msg.round} during round ${round}`);
    if (this.gone.has(member)) {
      // Dropped at a deadline or for silence: what it sends now is late, not hostile.
      this.input.log('debug', 'round.late-message', { round, peer: member.name, type: msg.type, of: msg.round });
      return;
    }
    if (msg.type === 'progress') {
      this.started.add(member);
      if (this.heardAt.has(member)) this.heardAt.set(member, this.input.clock.now());
      return;
    }
    if (this.input.awaitProgress && !this.started.has(member)) {
      this.input.log('debug', 'round.late-message', { round, peer: member.name, type: msg.type, of: msg.round, before: 'progress' });
      return;
    }
    const sends = this.agg.receive(this.idOf.get(member)!, msg);
    // Its first input ends a member's training phase: no more silence checks for it.
    this.heardAt.delete(member);
    this.deliver(sends);
    this.report();
    this.advance(false);
  }

  /** The member's connection closed: it is dropped from the round. */
  memberClosed(member: M): void {
    if (this.done || this.gone.has(member) || !this.idOf.has(member)) return;
    this.drop(member, 'round.dropped');
    this.report();
    this.advance(false);
  }

  private drop(member: M, event: string, fields: Record<string, unknown> = {}): void {
    this.gone.add(member);
    this.heardAt.delete(member);
    this.input.log('info', event, { round: this.input.round, peer: member.name, id: this.idOf.get(member), phase: this.agg.phase?.name ?? null, state: this.agg.machineState, ...fields });
    this.deliver(this.agg.dropped(this.idOf.get(member)!));
  }

  /** Host shutdown: aborts the session (abort messages go out) and settles the outcome. */
  cancel(detail: string): void {
    if (this.done) return;
    this.deliver(this.agg.abort(detail));
    this.finish({ status: 'aborted', reason: 'CANCELLED', detail, dropped: this.dropped(), laggards: this.laggards });
  }

  /**
   * A member was revoked: it leaves the round like a dropout, unless its input was
   * already taken, in which case the round aborts so that no sum holding the revoked
   * member's update is released.
   */
  revoke(member: M, err: TransportError): void {
    if (this.done || !this.idOf.has(member)) return;
    const id = this.idOf.get(member)!;
    if (this.agg.hasInputFrom(id)) {
      const detail = `member '${member.name}' was revoked after its input was taken: no sum holding it is released (${err.message})`;
      this.input.log('warn', 'round.revoked-member', { round: this.input.round, peer: member.name, abort: true });
      this.gone.add(member);
      this.deliver(this.agg.abort(detail));
      this.finish({ status: 'aborted', reason: 'MEMBER_REVOKED', detail, dropped: this.dropped(), laggards: this.laggards });
      return;
    }
    this.input.log('warn', 'round.revoked-member', { round: this.input.round, peer: member.name, abort: false });
    this.memberClosed(member);
  }

  private dropped(): M[] {
    return this.input.cohort.filter((m) => this.gone.has(m));
  }

  private deliver(sends: readonly AggregatorSend[]): void {
    for (const { to, message } of sends) {
      const m = this.memberOf.get(to);
      if (m && !this.gone.has(m)) m.send(message);
    }
  }

  private report(): void {
    const phase = this.agg.phase?.name ?? 'aggregating';
    const pending = this.agg.pending.length;
    this.input.progress(phase, this.input.cohort.length - this.gone.size - pending, this.gone.size);
  }

  /**
   * Arms the current phase's deadline. `deferred`: the deadline fired late (the loop
   * stalled); this check runs as soon as the frames already received are processed.
   */
  private armPhaseTimer(deferred = false): void {
    const { clock, deadlines, round } = this.input;
    if (this.phaseTimer) clock.clearTimer(this.phaseTimer);
    this.phaseTimer = null;
    const phase = this.agg.phase;
    if (!phase) return;
    const ms = deadlines[phase.deadline];
    const due = clock.now() + (deferred ? 0 : ms);
    this.phaseTimer = clock.setTimer(() => {
      this.phaseTimer = null;
      if (this.done) return;
      const lateMs = clock.now() - due;
      if (!deferred && lateMs > LATE_TIMER_MS) {
        this.input.log('info', 'round.timer-late', { round, timer: 'deadline', phase: phase.name, lateMs });
        this.armPhaseTimer(true);
        return;
      }
      this.input.log('info', 'round.deadline', { round, phase: phase.name, ms });
      for (const id of this.agg.pending) {
        const m = this.memberOf.get(id)!;
        if (this.gone.has(m)) continue;
        this.laggards.push({ member: m, phase: phase.name, reason: `missed the ${phase.name} deadline (${ms} ms)` });
        this.drop(m, 'round.laggard', { reason: 'deadline' });
      }
      this.advance(true);
    }, deferred ? 0 : ms);
  }

  /**
   * Arms the silence check for the training phase at the earliest moment someone can stall.
   * `deferred`: the previous check fired late (the loop stalled); this one runs as soon as
   * the frames already received are processed, and decides whatever its own timing.
   */
  private armStallTimer(deferred = false): void {
    const { clock, deadlines, round } = this.input;
    if (this.stallTimer) clock.clearTimer(this.stallTimer);
    this.stallTimer = null;
    if (this.done || this.agg.phase?.name !== 'training' || this.heardAt.size === 0) return;
    const oldest = Math.min(...this.heardAt.values());
    const delay = deferred ? 0 : Math.max(1, oldest + deadlines.progressMs - clock.now());
    const due = clock.now() + delay;
    this.stallTimer = clock.setTimer(() => {
      this.stallTimer = null;
      if (this.done || this.agg.phase?.name !== 'training') return;
      const now = clock.now();
      if (!deferred && now - due > LATE_TIMER_MS) {
        this.input.log('info', 'round.timer-late', { round, timer: 'silence', lateMs: now - due });
        this.armStallTimer(true);
        return;
      }
      for (const [m, at] of [...this.heardAt]) {
        if (now - at < deadlines.progressMs) continue;
        this.laggards.push({ member: m, phase: 'training', reason: `no training progress for ${now - at} ms (limit ${deadlines.progressMs} ms)` });
        this.drop(m, 'round.laggard', { reason: 'silent', silentMs: now - at });
      }
      this.report();
      this.advance(false);
      this.armStallTimer();
    }, delay);
  }

  /** Closes phases for as long as the aggregator is ready (or once, when a deadline fired). */
  private advance(deadline: boolean): void {
    let force = deadline;
    let closed = false;
    while (!this.done && this.agg.state === 'collecting' && (force || this.agg.readyToAdvance)) {
      force = false;
      const before = this.agg.phase?.name;
      this.deliver(this.agg.close());
      closed = true;
      this.input.log('debug', 'round.phase', { round: this.input.round, from: before, to: this.agg.phase?.name ?? this.agg.state });
    }
    if (this.done) return;
    if (this.agg.state === 'completed') {
      const r = this.agg.result!;
      this.finish({
        status: 'completed',
        sum: r.sum,
        survivors: r.survivors.map((id) => this.memberOf.get(id)!),
        dropped: r.dropped.map((id) => this.memberOf.get(id)!),
        laggards: this.laggards,
        // Members the protocol caught sending bad shares or reports (robust recovery named them).
        faulty: (r.faulty ?? []).map((id) => this.memberOf.get(id)!),
        faults: r.faults ?? [],
      });
      return;
    }
    if (this.agg.state === 'aborted') {
      const a = this.agg.abortInfo!;
      this.finish({ status: 'aborted', reason: a.reason, detail: a.detail, dropped: this.dropped(), laggards: this.laggards });
      return;
    }
    if (closed) {
      this.armPhaseTimer();
      this.armStallTimer();
    } else if (this.stallTimer === null) {
      this.armStallTimer();
    }
    this.report();
  }

  private finish(o: RoundOutcome<M>): void {
    if (this.done) return;
    this.done = true;
    const { clock } = this.input;
    if (this.phaseTimer) clock.clearTimer(this.phaseTimer);
    if (this.stallTimer) clock.clearTimer(this.stallTimer);
    this.phaseTimer = this.stallTimer = null;
    for (const m of this.input.cohort) m.setBulkCap(IDLE_BULK_CAP);
    this.settle(o);
  }
}

/** The straggler policy's settings (ServerOptions.stragglers, validated). */
export interface BenchPolicy {
  /** Rounds out after a first miss; 0 disables benching. */
  benchRounds: number;
  /** Cap on the bench period (rounds). */
  maxBenchRounds: number;
}

/** A benched member: left out of cohorts up to and including round `untilRound`. */
export interface BenchEntry {
  name: string;
  /** Misses in a row. */
  strikes: number;
  untilRound: number;
  reason: string;
}

/** What a member benched after a round is told (its roundEnd carries it). */
export interface BenchVerdict {
  rounds: number;
  untilRound: number;
  strikes: number;
  reason: string;
}

/**
 * The straggler bench: a member that missed a deadline or went silent in a round is left
 * out of the next cohorts for benchRounds * 2^(strikes-1) rounds, capped at
 * maxBenchRounds, where strikes counts its misses in a row; a member that takes part in a
 * round without lagging is forgiven (its strikes drop to zero). Members are keyed by a
 * stable identity (their public key), so a reconnection keeps its strikes.
 */
export class StragglerBench {
  private readonly entries = new Map<string, BenchEntry>();

  constructor(private readonly policy: BenchPolicy) {}

  /** Bench period of a member's `strikes`-th miss in a row (0: benching disabled). */
  period(strikes: number): number {
    const { benchRounds, maxBenchRounds } = this.policy;
    return Math.min(maxBenchRounds, benchRounds * 2 ** (strikes - 1));
  }

  /**
   * Applies round `round`'s laggards: the cohort's punctual members are forgiven, each
   * laggard gets a strike and is benched.
   * @returns the members benched now, with their verdicts
   */
  update<M extends { readonly name: string }>(round: number, cohort: readonly M[], laggards: readonly Laggard<M>[], key: (m: M) => string): Map<M, BenchVerdict> {
    const out = new Map<M, BenchVerdict>();
    const late = new Set(laggards.map((l) => l.member));
    for (const m of cohort) if (!late.has(m)) this.entries.delete(key(m));
    for (const l of laggards) {
      if (out.has(l.member)) continue;
      const strikes = (this.entries.get(key(l.member))?.strikes ?? 0) + 1;
      const rounds = this.period(strikes);
      if (rounds <= 0) continue;
      const entry: BenchEntry = { name: l.member.name, strikes, untilRound: round + rounds, reason: l.reason };
      this.entries.set(key(l.member), entry);
      out.set(l.member, { rounds, untilRound: entry.untilRound, strikes, reason: l.reason });
    }
    return out;
  }

  /** The member's bench record (kept after its period ends, until it is forgiven). */
  get(key: string): BenchEntry | undefined {
    return this.entries.get(key);
  }

  /** True while the member is left out of round `round`'s cohort. */
  isBenched(key: string, round: number): boolean {
    const b = this.entries.get(key);
    return b !== undefined && b.untilRound >= round;
  }

  /** Members left out of round `round`'s cohort. */
  benched(round: number): BenchEntry[] {
    return [...this.entries.values()].filter((b) => b.untilRound >= round);
  }
}
