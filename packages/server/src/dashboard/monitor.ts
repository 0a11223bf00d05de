/**
 * What an operator sees of a federation, built only from what the coordinator already
 * says about itself: its structured events (ServerOptions.logger) and its progress
 * (ServerOptions.onProgress), plus ServerStatus for who is connected and benched. The same
 * class serves the live dashboard, the Prometheus metrics and the offline report (which
 * replays a JSON-lines log of the same events), so all three agree.
 *
 * Round timing: every phase the server passes through between the end of one round and
 * the end of the next is charged to that next round, including the wait for a cohort
 * (`waiting`) before it starts and the checkpoint write after it.
 */
import { BEST_METRIC, betterEvaluation } from '../evaluation.js';
import type { RoundEvaluation, RoundSummary, ServerEvent, ServerProgress, ServerStatus } from '../options.js';

/** One round as the dashboard shows it: the server's RoundSummary plus time per phase. */
export interface MonitorRound {
  round: number;
  status: 'completed' | 'aborted';
  mode: string;
  cohort: number;
  survivors: number;
  dropped: number;
  degree: number;
  threshold: number;
  abortReason?: string;
  accuracy?: number;
  loss?: number;
  /** Cumulative epsilon after this round (DP only). */
  epsilon?: number;
  /**
   * Personalised accuracy: the federated evaluation's (each site's model adapted on its
   * training rows, weighted by held-out rows), or fedmeta simulate's.
   */
  personalisedAccuracy?: number;
  /** The federated evaluation of this round's model on the sites' held-out rows (per-site numbers in per-site mode). */
  federated?: RoundEvaluation;
  bytesIn: number;
  bytesOut: number;
  wallMs: number;
  /** Milliseconds spent in each server phase for this round (empty for rounds restored from a checkpoint). */
  phases: Record<string, number>;
}

/** One line of the audit trail. */
export interface AuditEntry {
  /** Increasing per monitor; live clients ask for entries after the last one they hold. */
  seq: number;
  time: string;
  level: ServerEvent['level'];
  event: string;
  /** One sentence for people. */
  text: string;
}

/** Everything the dashboard page renders (served as JSON, embedded in reports). */
export interface DashboardSnapshot {
  version: 1;
  /** 'live' from a running coordinator; 'report' in a written report. */
  source: 'live' | 'report';
  title: string;
  federationId: string;
  generatedAt: string;
  /** The round running or about to run (1-based), and the rounds planned. */
  round: number;
  rounds: number;
  phase: string;
  /** When the current phase began (ISO), if known. */
  phaseSince: string | null;
  /** Why the federation ended, once it has. */
  endReason: string | null;
  sites: {
    connected: number;
    /** Names of connected members (live only). */
    connectedNames: { name: string; since: string }[];
    benched: { name: string; untilRound: number; reason: string }[];
    rosterActive: number | null;
    rosterRevoked: number | null;
  };
  /** The round in progress (zeros while waiting). */
  current: { cohort: number; responded: number; dropped: number };
  bytes: { in: number; out: number };
  privacy: { budget: number; delta: number; spent: number; unit?: 'client' | 'record' } | null;
  /** Round rows from index `roundsFrom` on (all of them in a full snapshot). */
  roundsFrom: number;
  roundRows: MonitorRound[];
  /** Audit entries after `auditAfter` (all retained ones in a full snapshot). */
  auditAfter: number;
  audit: AuditEntry[];
  /** Refusals so far by code (auth, policy, duplicate sessions, TLS). */
  refusals: Record<string, number>;
  /** Free-form facts a report adds (model, algorithm, ...); shown as a table. */
  facts: [string, string][];
  /**
   * The best round by the federated evaluation (accuracy, loss breaks ties: the
   * coordinator's rule), or null before any round was evaluated.
   */
  best: { round: number; accuracy: number; loss?: number; report: RoundEvaluation['report']; metric: string } | null;
}

export interface MonitorInit {
  federationId: string;
  rounds: number;
  /** unit 'record': the budget is every site's record-level epsilon (each site keeps its own ledger). */
  privacy: { budget: number; delta: number; unit?: 'client' | 'record' } | null;
  roster: { active: number; size: number } | null;
  /** Audit entries kept (oldest dropped first); default 2000. */
  auditLimit?: number;
  title?: string;
}

/** Counters behind /metrics (monotonic unless noted). */
export interface MonitorCounters {
  roundsCompleted: number;
  roundsAborted: number;
  abortsByReason: Map<string, number>;
  dropouts: number;
  refusalsByCode: Map<string, number>;
  tlsHandshakeFailures: number;
  operatorRefusals: number;
  /** Finished round wall times (seconds) and phase durations (seconds), for histograms. */
  roundSeconds: Histogram;
  phaseSeconds: Map<string, Histogram>;
}

/** Cumulative histogram with fixed upper bounds (Prometheus semantics). */
export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.count++;
    this.sum += v;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }
}

/** Seconds: from a fast loopback phase to a long training deadline. */
export const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** The audit trail's sentence for an event, or null for events that are not audited. */
export function auditText(e: ServerEvent): string | null {
  const f = e as Record<string, unknown>;
  switch (e.event) {
    case 'server.listening':
      return `listening on ${str(f.url)} (next round ${str(f.nextRound)} of ${str(f.rounds)})`;
    case 'checkpoint.resumed':
      return `resumed from the checkpoint in ${str(f.dir)} at round ${str(f.nextRound)}`;
    case 'checkpoint.saved':
      return `checkpoint saved (next round ${str(f.nextRound)})`;
    case 'peer.authenticated':
      return `${str(f.peer)} joined from ${str(f.remote)}`;
    case 'peer.refused':
      return `refused ${str(f.peer)} from ${str(f.remote)}: ${str(f.code)} ${str(f.message)}`.trim();
    case 'peer.policy-refused':
      return `${str(f.peer)} refused the federation under its site policy: ${str(f.message)}`;
    case 'peer.closed':
      // Ordinary goodbyes are noise; refusals at the door and failures are not.
      return f.error ? `connection of ${str(f.peer)} closed: ${str(f.error)}${f.reason ? ` (${str(f.reason)})` : ''}` : null;
    case 'peer.revoked':
      return `closed the session of ${str(f.peer)} (${str(f.why)})`;
    case 'peer.benched':
      return `${str(f.peer)} benched for ${str(f.rounds)} round(s), until round ${str(f.untilRound)}: ${str(f.reason)}`;
    case 'roster.updated': {
      const list = (k: string) => (Array.isArray(f[k]) && (f[k] as unknown[]).length ? `; ${k} ${(f[k] as unknown[]).join(', ')}` : '');
      return `roster updated: ${str(f.active)} active of ${str(f.size)}${list('added')}${list('revoked')}${list('disconnected')}`;
    }
    case 'session.duplicate':
      return `refused a second session of ${str(f.peer)} from ${str(f.remote)} (live session from ${str(f.live)})`;
    case 'session.replaced':
      return `a new session of ${str(f.peer)} from ${str(f.remote)} replaced a silent one from ${str(f.silent)}`;
    case 'cohort.roster-too-small':
      return str(f.message);
    case 'round.started':
      return `round ${str(f.round)} started: ${Array.isArray(f.cohort) ? f.cohort.length : '?'} members, ${str(f.mode)}${f.threshold ? ` (t ${str(f.threshold)}${f.degree ? `, k ${str(f.degree)}` : ''})` : ''}`;
    case 'round.dropped':
    case 'round.laggard':
      return `${str(f.peer)} dropped from round ${str(f.round)}${f.phase ? ` in ${str(f.phase)}` : ''}${f.reason ? `: ${str(f.reason)}` : ''}`;
    case 'round.refused':
      return `round ${str(f.round)}: refused a message of ${str(f.peer)}: ${str(f.code)} ${str(f.message)}`.trim();
    case 'round.aborted':
      return `round ${str(f.round)} aborted: ${str(f.reason)}${f.detail ? ` (${str(f.detail)})` : ''}`;
    case 'round.finished': {
      if (f.status !== 'completed') return null; // round.aborted said it
      const acc = typeof f.accuracy === 'number' ? `, accuracy ${(100 * f.accuracy).toFixed(1)}%` : '';
      const eps = typeof f.epsilon === 'number' ? `, epsilon ${f.epsilon.toFixed(3)}` : '';
      return `round ${str(f.round)} completed: ${str(f.survivors)} of ${str(f.cohort)} inputs${acc}${eps}`;
    }
    case 'round.evaluated': {
      const pct = (v: unknown) => (typeof v === 'number' ? `${(100 * v).toFixed(1)}%` : '?');
      const loss = typeof f.loss === 'number' ? `, loss ${f.loss.toFixed(4)}` : '';
      const auc = typeof f.auc === 'number' ? `, AUC ${f.auc.toFixed(3)}` : '';
      const own = personalisedOf(f.personalised);
      const pers = own ? `, personalised ${pct(own.accuracy)}${own.loss !== undefined ? ` (loss ${own.loss.toFixed(4)})` : ''}` : '';
      return `round ${str(f.round)} evaluated (${str(f.report)}, ${str(f.sites)} sites, ${str(f.count)} held-out rows): federated accuracy ${pct(f.accuracy)}${loss}${auc}${pers}; best round ${str(f.best)}`;
    }
    case 'evaluation.skipped':
    case 'evaluation.empty':
      return str(f.message);
    case 'evaluation.aborted':
      return `the evaluation of round ${str(f.round)} aborted: ${str(f.reason)}${f.detail ? ` (${str(f.detail)})` : ''}`;
    case 'budget.exhausted':
      return `privacy budget exhausted before round ${str(f.round)} (epsilon ${str(f.epsilon)} of ${str(f.budget)}): nothing of it released`;
    case 'tls.handshake-failed':
      return `TLS handshake failed from ${str(f.remote)}: ${str(f.reason)}${f.hint ? ` (${str(f.hint)})` : ''}`;
    case 'tls.handshake-failed.suppressed':
      return `${str(f.count)} more TLS handshake failure(s) from ${str(f.remote)}`;
    case 'connections.refused':
      return `refused ${str(f.refusedSinceLast)} connection(s) from ${str(f.remote)} over the cap of ${str(f.perAddress)} per address`;
    case 'operator.refused':
      return `operator credential refused from ${str(f.remote)} (${str(f.path)})`;
    case 'server.failed':
      return `server failed: ${str(f.error)}`;
    case 'server.done':
      return `federation ended: ${str(f.endReason)} after ${str(f.roundsCompleted)} completed round(s)`;
    default:
      return null;
  }
}

/** The refusal code an event counts under, if it is a refusal. */
function refusalCode(e: ServerEvent): string | null {
  const f = e as Record<string, unknown>;
  switch (e.event) {
    case 'peer.refused':
      return str(f.code) || 'UNKNOWN';
    case 'peer.policy-refused':
      return 'ERR_POLICY_REFUSED';
    case 'session.duplicate':
      return 'ERR_SESSION_DUPLICATE';
    case 'peer.closed':
      // Failures at the door: unknown or revoked keys, bad signatures, auth timeouts.
      return typeof f.error === 'string' && f.error.startsWith('ERR_AUTH_') ? f.error : null;
    default:
      return null;
  }
}

export class FederationMonitor {
  private readonly init: MonitorInit;
  private round = 1;
  private rounds: number;
  private phase = 'waiting';
  private phaseSince: number | null = null;
  private endReason: string | null = null;
  private connected = 0;
  private current = { cohort: 0, responded: 0, dropped: 0 };
  private bytes = { in: 0, out: 0 };
  private epsilon = 0;
  private rosterActive: number | null;
  private rosterSize: number | null;
  private readonly rows: MonitorRound[] = [];
  /** Per row: the change number of its last change (live streams resend rows changed since they last got them). */
  private readonly rowRevs: number[] = [];
  private rowSeq = 0;
  /** Phase time charged to the round not finished yet. */
  private pending: Record<string, number> = {};
  private readonly audit: AuditEntry[] = [];
  private seq = 0;
  private status: (() => ServerStatus) | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly facts: [string, string][] = [];
  readonly counters: MonitorCounters = {
    roundsCompleted: 0,
    roundsAborted: 0,
    abortsByReason: new Map(),
    dropouts: 0,
    refusalsByCode: new Map(),
    tlsHandshakeFailures: 0,
    operatorRefusals: 0,
    roundSeconds: new Histogram(DURATION_BUCKETS),
    phaseSeconds: new Map(),
  };

  constructor(init: MonitorInit) {
    this.init = init;
    this.rounds = init.rounds;
    this.rosterActive = init.roster?.active ?? null;
    this.rosterSize = init.roster?.size ?? null;
  }

  get federationId(): string {
    return this.init.federationId;
  }
  get privacy(): MonitorInit['privacy'] {
    return this.init.privacy;
  }

  /** Live member lists from the running server (connected names, bench). */
  attachStatus(status: () => ServerStatus): void {
    this.status = status;
  }

  /** Called (synchronously) after every change; the HTTP side throttles. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  addFact(key: string, value: string): void {
    this.facts.push([key, value]);
  }

  /**
   * The round history of record (a checkpoint's): it replaces the rows, keeping the phase
   * times of rounds this monitor saw finish (rounds from before a restart have none).
   */
  restoreRounds(history: readonly RoundSummary[]): void {
    const seen = new Map(this.rows.map((r) => [r.round, r]));
    const rows = history.map((h) => {
      const old = seen.get(h.round);
      const row = toRow(h as unknown as Record<string, unknown>, old?.phases ?? {});
      if (old?.personalisedAccuracy !== undefined && row.personalisedAccuracy === undefined) row.personalisedAccuracy = old.personalisedAccuracy;
      return row;
    });
    const kept = new Set(rows.map((r) => r.round));
    for (const r of this.rows) if (!kept.has(r.round)) rows.push(r);
    rows.sort((a, b) => a.round - b.round);
    this.rows.splice(0, this.rows.length, ...rows);
    const rev = ++this.rowSeq;
    this.rowRevs.splice(0, this.rowRevs.length, ...rows.map(() => rev));
    for (const r of rows) if (typeof r.epsilon === 'number') this.epsilon = Math.max(this.epsilon, r.epsilon);
    this.changed();
  }

  /** The epsilon of record (a ledger's, recomputed from its events). */
  setEpsilonSpent(epsilon: number): void {
    this.epsilon = epsilon;
    this.changed();
  }

  /** Adds a value per round the server does not know (simulate's personalised accuracy). */
  annotateRound(round: number, fields: Partial<Pick<MonitorRound, 'personalisedAccuracy'>>): void {
    const i = this.rows.findIndex((r) => r.round === round);
    if (i < 0) return;
    Object.assign(this.rows[i]!, fields);
    this.rowRevs[i] = ++this.rowSeq;
  }

  /** The latest change number of the round rows (0 before any row). */
  get roundsSeq(): number {
    return this.rowSeq;
  }

  /** The index of the first row changed after change number `seq` (the row count when none). */
  roundsChangedFrom(seq: number): number {
    const i = this.rowRevs.findIndex((r) => r > seq);
    return i < 0 ? this.rows.length : i;
  }

  /** The latest federated evaluation and its round, or null before any. */
  latestEvaluation(): { round: number; evaluation: RoundEvaluation } | null {
    for (let i = this.rows.length - 1; i >= 0; i--) {
      const r = this.rows[i]!;
      if (r.federated) return { round: r.round, evaluation: r.federated };
    }
    return null;
  }

  /** The best evaluated round by the coordinator's rule (higher accuracy, then lower loss; the earlier on a tie). */
  bestRound(): DashboardSnapshot['best'] {
    let best: MonitorRound | null = null;
    for (const r of this.rows) if (r.federated && (!best || betterEvaluation(r.federated, best.federated!))) best = r;
    if (!best) return null;
    const ev = best.federated!;
    return { round: best.round, accuracy: ev.accuracy, ...(ev.loss !== undefined ? { loss: ev.loss } : {}), report: ev.report, metric: BEST_METRIC };
  }

  setRounds(rounds: number): void {
    this.rounds = rounds;
  }

  progress(p: ServerProgress): void {
    this.round = p.round;
    this.rounds = p.rounds;
    this.connected = p.connected;
    this.current = { cohort: p.cohort, responded: p.responded, dropped: p.dropped };
    this.bytes = { in: p.bytesIn, out: p.bytesOut };
    if (p.phase !== this.phase) this.enterPhase(p.phase, Date.now());
    this.changed();
  }

  private enterPhase(phase: string, at: number): void {
    if (phase === this.phase && this.phaseSince !== null) return;
    if (this.phaseSince !== null && this.phase !== 'done') {
      this.pending[this.phase] = (this.pending[this.phase] ?? 0) + Math.max(0, at - this.phaseSince);
    }
    this.phase = phase;
    this.phaseSince = at;
  }

  event(e: ServerEvent): void {
    const at = Date.parse(e.time);
    const t = Number.isFinite(at) ? at : Date.now();
    const f = e as Record<string, unknown>;
    switch (e.event) {
      case 'phase':
        this.enterPhase(str(f.phase), t);
        if (typeof f.round === 'number') this.round = f.round;
        break;
      case 'server.listening':
        // A (re)started coordinator: time before it (a crash, a restart) is nobody's phase.
        if (typeof f.nextRound === 'number') this.round = f.nextRound;
        if (typeof f.rounds === 'number') this.rounds = f.rounds;
        this.pending = {};
        this.phase = 'waiting';
        this.phaseSince = t;
        this.endReason = null;
        break;
      case 'round.started':
        this.round = Number(f.round);
        this.current = { cohort: Array.isArray(f.cohort) ? f.cohort.length : 0, responded: 0, dropped: 0 };
        break;
      case 'round.evaluated': {
        // The evaluation round follows its training round's round.finished.
        const i = this.rows.findIndex((r) => r.round === Number(f.round));
        const ev = evaluationOf(f);
        if (i >= 0 && ev) {
          this.rows[i]!.federated = ev;
          if (ev.personalised) this.rows[i]!.personalisedAccuracy = ev.personalised.accuracy;
          this.rowRevs[i] = ++this.rowSeq;
        }
        break;
      }
      case 'round.finished': {
        // Close the running phase at this instant: it belongs to the round just finished.
        if (this.phaseSince !== null && this.phase !== 'done') {
          this.pending[this.phase] = (this.pending[this.phase] ?? 0) + Math.max(0, t - this.phaseSince);
          this.phaseSince = t;
        }
        const row = toRow(f, this.pending);
        this.pending = {};
        this.rows.push(row);
        this.rowRevs.push(++this.rowSeq);
        if (row.status === 'completed') this.counters.roundsCompleted++;
        else {
          this.counters.roundsAborted++;
          const reason = row.abortReason ?? 'UNKNOWN';
          this.counters.abortsByReason.set(reason, (this.counters.abortsByReason.get(reason) ?? 0) + 1);
        }
        this.counters.dropouts += row.dropped;
        this.counters.roundSeconds.observe(row.wallMs / 1000);
        for (const [phase, ms] of Object.entries(row.phases)) {
          let h = this.counters.phaseSeconds.get(phase);
          if (!h) this.counters.phaseSeconds.set(phase, (h = new Histogram(DURATION_BUCKETS)));
          h.observe(ms / 1000);
        }
        if (typeof row.epsilon === 'number') this.epsilon = Math.max(this.epsilon, row.epsilon);
        this.round = row.round + 1;
        break;
      }
      case 'budget.exhausted': {
        // The refused round is summarised (aborted, BUDGET_EXHAUSTED) but gets no round.finished.
        const round = Number(f.round);
        const row: MonitorRound = { round, status: 'aborted', mode: '', cohort: this.current.cohort, survivors: 0, dropped: 0, degree: 0, threshold: 0, abortReason: 'BUDGET_EXHAUSTED', bytesIn: 0, bytesOut: 0, wallMs: 0, phases: this.pending };
        this.pending = {};
        this.rows.push(row);
        this.rowRevs.push(++this.rowSeq);
        this.counters.roundsAborted++;
        this.counters.abortsByReason.set('BUDGET_EXHAUSTED', (this.counters.abortsByReason.get('BUDGET_EXHAUSTED') ?? 0) + 1);
        break;
      }
      case 'roster.updated':
        if (typeof f.active === 'number') this.rosterActive = f.active;
        if (typeof f.size === 'number') this.rosterSize = f.size;
        break;
      case 'tls.handshake-failed':
        this.counters.tlsHandshakeFailures++;
        break;
      case 'tls.handshake-failed.suppressed':
        this.counters.tlsHandshakeFailures += Number(f.count ?? 0);
        break;
      case 'operator.refused':
        this.counters.operatorRefusals++;
        break;
      case 'server.done':
        this.endReason = str(f.endReason);
        this.enterPhase('done', t);
        break;
      default:
        break;
    }
    const code = refusalCode(e);
    if (code) this.counters.refusalsByCode.set(code, (this.counters.refusalsByCode.get(code) ?? 0) + 1);
    const text = auditText(e);
    if (text !== null) {
      this.audit.push({ seq: ++this.seq, time: e.time, level: e.level, event: e.event, text });
      const limit = this.init.auditLimit ?? 2000;
      if (this.audit.length > limit) this.audit.splice(0, this.audit.length - limit);
    }
    this.changed();
  }

  /** The latest audit sequence number (0 before any entry). */
  get auditSeq(): number {
    return this.seq;
  }
  get roundCount(): number {
    return this.rows.length;
  }
  /** Current gauges for /metrics. */
  gauges(): { round: number; rounds: number; phase: string; connected: number; benched: number; rosterActive: number | null; rosterRevoked: number | null; cohort: number; bytesIn: number; bytesOut: number; epsilon: number; accuracy: number | null; loss: number | null } {
    const s = this.status?.();
    const lastAcc = [...this.rows].reverse().find((r) => typeof r.accuracy === 'number');
    const lastLoss = [...this.rows].reverse().find((r) => typeof r.loss === 'number');
    return {
      round: this.round,
      rounds: this.rounds,
      phase: this.phase,
      connected: s ? s.connected.length : this.connected,
      benched: s ? s.benched.length : 0,
      rosterActive: this.rosterActive,
      rosterRevoked: this.rosterSize === null || this.rosterActive === null ? null : this.rosterSize - this.rosterActive,
      cohort: this.current.cohort,
      bytesIn: this.bytes.in,
      bytesOut: this.bytes.out,
      epsilon: s?.epsilon ?? this.epsilon,
      accuracy: lastAcc?.accuracy ?? null,
      loss: lastLoss?.loss ?? null,
    };
  }

  /**
   * The state to render. With `roundsFrom` / `auditAfter`, only the rows and audit entries
   * a client does not hold yet (the live stream's updates).
   */
  snapshot(source: 'live' | 'report' = 'live', since: { roundsFrom?: number; auditAfter?: number } = {}): DashboardSnapshot {
    const s = this.status?.();
    const roundsFrom = Math.min(since.roundsFrom ?? 0, this.rows.length);
    const auditAfter = since.auditAfter ?? 0;
    const g = this.gauges();
    return {
      version: 1,
      source,
      title: this.init.title ?? `fedmeta federation '${this.init.federationId}'`,
      federationId: this.init.federationId,
      generatedAt: new Date().toISOString(),
      round: this.round,
      rounds: this.rounds,
      phase: this.phase,
      phaseSince: this.phaseSince === null ? null : new Date(this.phaseSince).toISOString(),
      endReason: this.endReason,
      sites: {
        connected: g.connected,
        connectedNames: s ? s.connected : [],
        benched: s ? s.benched : [],
        rosterActive: this.rosterActive,
        rosterRevoked: g.rosterRevoked,
      },
      current: { ...this.current },
      bytes: { ...this.bytes },
      privacy: this.init.privacy ? { budget: this.init.privacy.budget, delta: this.init.privacy.delta, spent: g.epsilon, ...(this.init.privacy.unit ? { unit: this.init.privacy.unit } : {}) } : null,
      roundsFrom,
      roundRows: this.rows.slice(roundsFrom).map((r) => ({ ...r, phases: { ...r.phases }, ...(r.federated ? { federated: { ...r.federated, ...(r.federated.perSite ? { perSite: r.federated.perSite.map((p) => ({ ...p })) } : {}) } } : {}) })),
      auditAfter,
      audit: this.audit.filter((a) => a.seq > auditAfter),
      refusals: Object.fromEntries([...this.counters.refusalsByCode].sort()),
      facts: this.facts.map(([k, v]) => [k, v]),
      best: this.bestRound(),
    };
  }
}

function toRow(f: Record<string, unknown>, phases: Record<string, number>): MonitorRound {
  const num = (k: string) => (typeof f[k] === 'number' ? (f[k] as number) : 0);
  const opt = (k: string) => (typeof f[k] === 'number' ? (f[k] as number) : undefined);
  const row: MonitorRound = {
    round: num('round'),
    status: f['status'] === 'completed' ? 'completed' : 'aborted',
    mode: str(f['mode']),
    cohort: num('cohort'),
    survivors: num('survivors'),
    dropped: num('dropped'),
    degree: num('degree'),
    threshold: num('threshold'),
    bytesIn: num('bytesIn'),
    bytesOut: num('bytesOut'),
    wallMs: num('wallMs'),
    phases: { ...phases },
  };
  if (typeof f['abortReason'] === 'string') row.abortReason = f['abortReason'];
  const acc = opt('accuracy');
  if (acc !== undefined) row.accuracy = acc;
  const loss = opt('loss');
  if (loss !== undefined) row.loss = loss;
  const eps = opt('epsilon');
  if (eps !== undefined) row.epsilon = eps;
  const pers = opt('personalisedAccuracy');
  if (pers !== undefined) row.personalisedAccuracy = pers;
  const fed = f['evaluation'] !== null && typeof f['evaluation'] === 'object' ? evaluationOf(f['evaluation'] as Record<string, unknown>) : null;
  if (fed) row.federated = fed;
  if (fed?.personalised && row.personalisedAccuracy === undefined) row.personalisedAccuracy = fed.personalised.accuracy;
  return row;
}

/** A federated evaluation's personalised numbers, when well-formed. */
function personalisedOf(v: unknown): RoundEvaluation['personalised'] | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const p = v as Record<string, unknown>;
  if (typeof p['accuracy'] !== 'number') return undefined;
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : 0);
  return { sites: n('sites'), count: n('count'), correct: n('correct'), accuracy: p['accuracy'], ...(typeof p['loss'] === 'number' ? { loss: p['loss'] } : {}), steps: n('steps'), lr: n('lr') };
}

/** A federated evaluation from a round.evaluated event or a RoundSummary's `evaluation`. */
function evaluationOf(f: Record<string, unknown>): RoundEvaluation | null {
  if (typeof f['accuracy'] !== 'number' || typeof f['count'] !== 'number') return null;
  const ev: RoundEvaluation = {
    report: f['report'] === 'secure' ? 'secure' : 'per-site',
    sites: typeof f['sites'] === 'number' ? f['sites'] : 0,
    count: f['count'],
    correct: typeof f['correct'] === 'number' ? f['correct'] : 0,
    accuracy: f['accuracy'],
  };
  if (typeof f['loss'] === 'number') ev.loss = f['loss'];
  if (typeof f['auc'] === 'number') ev.auc = f['auc'];
  if (typeof f['aucBound'] === 'number') ev.aucBound = f['aucBound'];
  const own = personalisedOf(f['personalised']);
  if (own) ev.personalised = own;
  if (Array.isArray(f['perSite'])) ev.perSite = f['perSite'] as NonNullable<RoundEvaluation['perSite']>;
  return ev;
}
