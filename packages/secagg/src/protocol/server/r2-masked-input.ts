/**
 * Server round 2, MaskedInputCollection: collect the masked vectors of U2, and any
 * share-report (sent before its sender's masked input) naming neighbours whose share
 * ciphertexts the reporter could not use. On close the round is sealed: U3 = responders
 * minus every reported sender (a reporter neither holds its shares nor masked with it, so
 * its masked input could never be unmasked consistently); abort if |U3| < t, or below the
 * server's floor minSurvivors, or if some client of U2 keeps fewer than t holders of its
 * shares in U3. Any masked input that arrives later is rejected (ERR_LATE_MESSAGE) and
 * never stored - the server is about to ask for the s_sk shares of everyone outside U3.
 * Active mode continues with the ConsistencyCheck, semi-honest mode straight with Unmasking.
 */
import { isShareFaultCause, type ClientMessage, type MaskedInputMessage, type ShareFault, type ShareReportMessage } from '../messages.js';
import { SecAggProtocolError } from '../reasons.js';
import type { ServerSend, ServerSession, ServerTransition } from './context.js';
import { CollectingRound, invalid } from './round-base.js';
import { ConsistencyCheckRound } from './r3-consistency-check.js';
import { UnmaskingRound } from './r4-unmasking.js';

export class MaskedInputRound extends CollectingRound<'masked-input', Uint32Array> {
  readonly name = 'masked-input';
  protected readonly kind = 'masked-input';
  /** reporter -> its share-report. */
  private readonly reports = new Map<number, readonly ShareFault[]>();
  private readonly inU2: ReadonlySet<number>;

  constructor(session: ServerSession, u2: readonly number[]) {
    super(session, u2);
    this.inU2 = new Set(u2);
  }

  override receive(clientId: number, message: ClientMessage): void {
    if (message.kind !== 'share-report') {
      super.receive(clientId, message);
      return;
    }
    this.admit(clientId, message.kind);
    if (this.responses.has(clientId)) {
      throw new SecAggProtocolError('ERR_UNEXPECTED_MESSAGE', `${this.name}: share-report from client ${clientId} after its masked input (a report must come first)`, { clientId });
    }
    if (this.reports.has(clientId)) {
      throw new SecAggProtocolError('ERR_DUPLICATE_MESSAGE', `${this.name}: client ${clientId} already sent a share-report`, { clientId });
    }
    this.reports.set(clientId, this.validateReport(clientId, message));
  }

  /** Each reported sender is a neighbour in U2 (so it was in the reporter's delivery), listed once, ascending. */
  private validateReport(clientId: number, m: ShareReportMessage): readonly ShareFault[] {
    const graph = this.session.graph!;
    if (!Array.isArray(m.faults) || m.faults.length === 0) invalid(this.name, clientId, 'a share-report names at least one sender');
    let prev = 0;
    for (const f of m.faults) {
      if (!Number.isInteger(f.senderId) || f.senderId <= prev) invalid(this.name, clientId, 'reported sender ids are not strictly increasing');
      prev = f.senderId;
      if (!this.inU2.has(f.senderId) || !graph.adjacent(clientId, f.senderId)) {
        invalid(this.name, clientId, `reported sender ${f.senderId} is not a neighbour in U2 (it delivered this client nothing)`);
      }
      if (!isShareFaultCause(f.cause)) invalid(this.name, clientId, `unregistered cause ${String(f.cause)} for sender ${f.senderId}`);
    }
    return m.faults.map((f) => ({ senderId: f.senderId, cause: f.cause }));
  }

  protected validate(clientId: number, m: MaskedInputMessage): Uint32Array {
    const { bits, vectorLength } = this.session.config;
    if (m.bits !== bits) invalid(this.name, clientId, `bits ${m.bits}, session uses ${bits}`);
    if (!(m.vector instanceof Uint32Array) || m.vector.length !== vectorLength) {
      invalid(this.name, clientId, `vector must be a Uint32Array of ${vectorLength} entries`);
    }
    if (bits < 32) {
      const limit = 2 ** bits;
      for (let i = 0; i < m.vector.length; i++) if (m.vector[i]! >= limit) invalid(this.name, clientId, `vector[${i}] >= 2^${bits}`);
    }
    return m.vector;
  }

  close(): ServerTransition {
    const { session } = this;
    const t = session.config.threshold;
    const graph = session.graph!;
    // A reporter neither holds the reported sender's shares nor masked with it, and refuses a
    // U3 holding it: no reporter and reported sender may both be in U3. Who is left out is
    // settled by a deterministic greedy cover of the report pairs (settleReports).
    const reportedBy = new Map<number, ReadonlySet<number>>();
    for (const [reporter, faults] of this.reports) reportedBy.set(reporter, new Set(faults.map((f) => f.senderId)));
    const reporters = new Map<number, number[]>();
    for (const reporter of session.u2!) {
      for (const sender of reportedBy.get(reporter) ?? []) {
        if (!reporters.has(sender)) reporters.set(sender, []);
        reporters.get(sender)!.push(reporter);
      }
    }
    session.reportedBy = reportedBy;
    session.accused = reporters;
    const excluded = settleReports(reportedBy);
    for (const x of [...excluded].sort((a, b) => a - b)) {
      session.faultLog.excluded.set(x, { reportedBy: reporters.get(x) ?? [], reported: [...(reportedBy.get(x) ?? [])].sort((a, b) => a - b) });
    }
    const u3 = this.responders().filter((id) => !excluded.has(id));
    if (u3.length < t) {
      return { abort: 'TOO_FEW_MASKED_INPUTS', detail: `${u3.length} masked inputs, threshold ${t}` };
    }
    // The server's own floor: the sum over U3 is fixed here, so a U3 below it is never
    // shown to anyone (no consistency or unmask request goes out).
    if (session.minSurvivors !== null && u3.length < session.minSurvivors) {
      return { abort: 'TOO_FEW_SURVIVORS', detail: `${u3.length} masked inputs, below the server's floor of ${session.minSurvivors} (minSurvivors)` };
    }
    // Fail before anyone reveals: each survivor's b_u and each dropped client's s_sk_v can
    // only be rebuilt from t holders in U3 that hold its shares (a reporter holds none of the
    // sender it reported), and a survivor refuses to reveal unless t of its own holders
    // survive (the clients' check). The s_sk of a reported sender is only needed when some
    // survivor masked with it, i.e. opened its shares.
    const inU3 = new Set(u3);
    for (const u of session.u2!) {
      const against = new Set(reporters.get(u) ?? []);
      const holders = [u, ...graph.neighbours(u)].filter((h) => inU3.has(h) && !against.has(h)).length;
      if (against.size > 0 && holders === 0) continue;
      if (holders < t) {
        const what = inU3.has(u) ? 'survivor' : 'dropped client';
        return { abort: 'NEIGHBOURHOOD_TOO_SMALL', detail: `${what} ${u} keeps ${holders} share holders in U3, threshold ${t}` };
      }
    }
    session.maskedInputs = new Map(u3.map((id) => [id, this.responses.get(id)!]));
    session.u3 = u3;
    if (session.config.mode === 'active') {
      const message = { kind: 'consistency-request', survivors: u3 } as const;
      const sends: ServerSend[] = u3.map((to) => ({ to, message }));
      return { next: new ConsistencyCheckRound(session, u3), sends };
    }
    const message = { kind: 'unmask-request', survivors: u3, signatures: [] } as const;
    const sends: ServerSend[] = u3.map((to) => ({ to, message }));
    return { next: new UnmaskingRound(session, u3), sends };
  }
}

/**
 * Who leaves U3 over share-reports: a greedy vertex cover of the undirected pairs
 * {reporter, reported sender}. While a pair is uncovered, take the member with the most
 * uncovered pairs; on a tie, the one reported by the most of those pairs' other members;
 * then the smallest id. A sender of garbage to all its neighbours is the one member of all
 * its pairs (it alone leaves), and so is a member that falsely reports all its neighbours.
 * @param reportedBy reporter -> the senders it reported
 */
export function settleReports(reportedBy: ReadonlyMap<number, ReadonlySet<number>>): Set<number> {
  const pairs = new Map<string, { a: number; b: number; reported: Set<number> }>();
  for (const [reporter, senders] of reportedBy) {
    for (const sender of senders) {
      const [a, b] = reporter < sender ? [reporter, sender] : [sender, reporter];
      const key = `${a},${b}`;
      if (!pairs.has(key)) pairs.set(key, { a, b, reported: new Set() });
      pairs.get(key)!.reported.add(sender);
    }
  }
  const out = new Set<number>();
  let open = [...pairs.values()];
  while (open.length > 0) {
    const degree = new Map<number, number>();
    const accused = new Map<number, number>();
    for (const p of open) {
      for (const x of [p.a, p.b]) degree.set(x, (degree.get(x) ?? 0) + 1);
      for (const x of p.reported) accused.set(x, (accused.get(x) ?? 0) + 1);
    }
    let best = -1;
    for (const x of degree.keys()) {
      if (best < 0) { best = x; continue; }
      const d = degree.get(x)! - degree.get(best)!;
      const r = (accused.get(x) ?? 0) - (accused.get(best) ?? 0);
      if (d > 0 || (d === 0 && (r > 0 || (r === 0 && x < best)))) best = x;
    }
    out.add(best);
    open = open.filter((p) => p.a !== best && p.b !== best);
  }
  return out;
}
