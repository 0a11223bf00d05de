/**
 * Append-only, crash-safe privacy ledger: the server's (client-level DP, one event per
 * round) and a site's (record-level DP-SGD, one event per round covering that round's
 * local steps; see openSiteLedger).
 *
 * File format: JSON lines. Line 1 is a header {type:'header', version, budget, delta,
 * accountant} (version 2 adds unit:'record', site and recordLevel {mode, threshold} for
 * a site's ledger; version 1 is a client-level ledger); every other line is one privacy
 * event {type:'event', mechanism, ...}. A Gaussian event may carry `steps` (k >= 2: k
 * compositions of the same subsampled Gaussian charged in one record), written right
 * after the mechanism so that a torn prefix shows it before q and sigma.
 * Every record is written with ONE fs.writeSync of the whole line followed by
 * fs.fsyncSync on the file; the directory is fsync'd after creation. `charge` returns
 * only after that fsync, so a caller that releases an aggregate only after `charge`
 * returns can never have released something the ledger does not hold.
 *
 * Torn records: a crash mid-write can leave a partial last line. We count every
 * unparseable line as SPENT (conservative; see protocol-spec/08-dp.md): if the prefix
 * still shows the Gaussian parameters q and sigma we count that event, otherwise we
 * count a copy of the most expensive complete event in the ledger, and if there is none
 * the spent epsilon is reported as Infinity. Appending after a torn line first writes a
 * newline so later records stay whole.
 *
 * `spent()` always recomputes epsilon from all events (the `epsilonAfter` field stored
 * in each record is informational and never trusted). With accountant 'pld' and only
 * Gaussian events, the result is min(PLD, RDP) - both are valid upper bounds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BudgetExceededError, DpArgumentError, LedgerCorruptError, checkNumber } from './errors.js';
import { DEFAULT_RDP_ORDERS } from './accountant/orders.js';
import { rdpToEpsilon } from './accountant/convert.js';
import { computeRdp } from './accountant/rdp.js';
import { computeDdgRdp, type DdgMechanismParams } from './accountant/ddg.js';
import { composePld, gaussianPld, pldEpsilonForDelta, selfComposePld, type DiscretePld } from './accountant/pld.js';
import type { AccountantName } from './planner.js';
import type { PrivacyUnit, RecordNoiseMode } from './utility.js';

/**
 * `steps` rounds (default 1) of the Poisson-subsampled Gaussian (noise multiplier sigma,
 * sampling rate q): a server round, or a site's DP-SGD steps of one round charged at once.
 */
export interface GaussianEvent {
  mechanism: 'gaussian';
  q: number;
  sigma: number;
  /** Compositions of this event (an integer >= 1; default 1). */
  steps?: number;
}

/** One round of the distributed discrete Gaussian with client sampling rate q. */
export interface DdgEvent extends DdgMechanismParams {
  mechanism: 'ddg';
  q: number;
}

export type PrivacyEvent = GaussianEvent | DdgEvent;

/** A stored record: the event plus bookkeeping. */
export type LedgerRecord = PrivacyEvent & { round: number; seq: number; epsilonAfter: number };

/**
 * How a record-level site adds its DP-SGD noise. 'local': the site adds all of sigma * C
 * itself (threshold 1). 'distributed': the site adds a share of std sigma * C / sqrt(threshold)
 * and the secure sum of at least `threshold` honest sites' shares carries sigma * C.
 */
export interface RecordLevelInfo {
  mode: RecordNoiseMode;
  threshold: number;
}

export interface LedgerOptions {
  /** Total epsilon budget (required when creating). */
  budget?: number;
  /** Delta at which epsilon is reported (required when creating). */
  delta?: number;
  accountant?: AccountantName;
  /** Open an existing ledger for reading only. */
  readOnly?: boolean;
  /** Unit of privacy (default 'client'); 'record' marks a site's DP-SGD ledger (see openSiteLedger). */
  unit?: PrivacyUnit;
  /** The site's name (record-level ledgers). */
  site?: string;
  /** Record-level ledgers: how the noise is added (required when creating one). */
  recordLevel?: RecordLevelInfo;
}

export interface LedgerSummary {
  epsilon: number;
  delta: number;
  budget: number;
  accountant: AccountantName;
  /** Complete records (charges). */
  events: number;
  /** Compositions in the complete records (a Gaussian record counts its `steps`). */
  steps: number;
  tornRecords: number;
  unit: PrivacyUnit;
  site?: string;
  recordLevel?: RecordLevelInfo;
  /**
   * Distributed record-level ledgers: the epsilon if no other site's share were honest, so
   * that only this site's own share (sigma / sqrt(threshold)) protected its records (RDP).
   */
  epsilonOwnShareOnly?: number;
}

function validateEvent(e: PrivacyEvent): PrivacyEvent {
  if (e === null || typeof e !== 'object') throw new DpArgumentError('event must be an object');
  if (e.mechanism !== 'gaussian' && e.mechanism !== 'ddg') {
    throw new DpArgumentError(`event.mechanism must be 'gaussian' or 'ddg', got ${String((e as { mechanism?: unknown }).mechanism)}`);
  }
  checkNumber('event.q', e.q, { min: 0, max: 1 });
  if (e.mechanism === 'gaussian') {
    checkNumber('event.sigma', e.sigma, { min: 0, minExclusive: true });
    const steps = e.steps === undefined ? 1 : checkNumber('event.steps', e.steps, { min: 1, integer: true });
    // Canonical form; the field order is the on-disk order (steps before q and sigma).
    return steps === 1 ? { mechanism: 'gaussian', q: e.q, sigma: e.sigma } : { mechanism: 'gaussian', steps, q: e.q, sigma: e.sigma };
  }
  if (e.mechanism === 'ddg') {
    checkNumber('event.l2Sensitivity', e.l2Sensitivity, { min: 0 });
    checkNumber('event.localSigma', e.localSigma, { min: 0.5 });
    checkNumber('event.numClients', e.numClients, { min: 1, integer: true });
    checkNumber('event.dim', e.dim, { min: 1, integer: true });
    return { mechanism: 'ddg', q: e.q, l2Sensitivity: e.l2Sensitivity, localSigma: e.localSigma, numClients: e.numClients, dim: e.dim };
  }
  throw new DpArgumentError(`event.mechanism must be 'gaussian' or 'ddg', got ${String((e as { mechanism?: unknown }).mechanism)}`);
}

/** Compositions one event stands for. */
function stepsOf(e: PrivacyEvent): number {
  return e.mechanism === 'gaussian' ? (e.steps ?? 1) : 1;
}

/** Key of the per-step mechanism (a Gaussian event's `steps` is a count, not part of the key). */
function eventKey(e: PrivacyEvent): string {
  return e.mechanism === 'gaussian' ? `g:${e.q}:${e.sigma}` : `d:${e.q}:${e.l2Sensitivity}:${e.localSigma}:${e.numClients}:${e.dim}`;
}

/** Per-step RDP curves on the default grid, memoised by event key (a ledger re-sums them on every charge). */
const rdpCache = new Map<string, Float64Array>();

function perStepRdp(key: string, event: PrivacyEvent): Float64Array {
  let r = rdpCache.get(key);
  if (!r) {
    r = event.mechanism === 'gaussian' ? computeRdp(event.q, event.sigma, 1, DEFAULT_RDP_ORDERS) : computeDdgRdp(event, event.q, 1, DEFAULT_RDP_ORDERS);
    if (rdpCache.size >= 10_000) rdpCache.clear();
    rdpCache.set(key, r);
  }
  return r;
}

/**
 * Epsilon at `delta` of a multiset of events. RDP always; with 'pld' and only Gaussian
 * events also PLD, returning the smaller of the two valid bounds.
 */
export function epsilonOfEvents(events: readonly PrivacyEvent[], delta: number, accountant: AccountantName = 'rdp'): number {
  if (events.length === 0) return 0;
  const groups = new Map<string, { event: PrivacyEvent; count: number }>();
  for (const e of events) {
    const k = eventKey(e);
    const g = groups.get(k);
    if (g) g.count += stepsOf(e);
    else groups.set(k, { event: e, count: stepsOf(e) });
  }
  const orders = DEFAULT_RDP_ORDERS;
  const total = new Float64Array(orders.length);
  for (const [key, { event, count }] of groups) {
    const r = perStepRdp(key, event);
    for (let i = 0; i < total.length; i++) total[i]! += count * r[i]!;
  }
  let eps = rdpToEpsilon(orders, total, delta).epsilon;
  const allGaussian = [...groups.values()].every((g) => g.event.mechanism === 'gaussian');
  if (accountant === 'pld' && allGaussian) {
    let pldEps = 0;
    for (const adjacency of ['remove', 'add'] as const) {
      let acc: DiscretePld | undefined;
      for (const { event, count } of groups.values()) {
        const g = event as GaussianEvent;
        if (g.q === 0) continue;
        const one = g.q === 1 ? gaussianPld(g.sigma / Math.sqrt(count), 1, 'remove', 1e-4) : selfComposePld(gaussianPld(g.sigma, g.q, adjacency, 1e-4), count, (iv) => gaussianPld(g.sigma, g.q, adjacency, iv));
        acc = acc ? composePld(acc, one) : one;
      }
      if (acc) pldEps = Math.max(pldEps, pldEpsilonForDelta(acc, delta));
    }
    eps = Math.min(eps, pldEps);
  }
  return eps;
}

const TORN_GAUSSIAN = /"mechanism":"gaussian","q":([0-9.eE+-]+),"sigma":([0-9.eE+-]+)[,}]/;
const TORN_GAUSSIAN_STEPS = /"mechanism":"gaussian","steps":([0-9]+),"q":([0-9.eE+-]+),"sigma":([0-9.eE+-]+)[,}]/;

const UNITS: readonly PrivacyUnit[] = ['client', 'record'];

function checkRecordLevel(name: string, r: unknown): RecordLevelInfo {
  if (!r || typeof r !== 'object') throw new DpArgumentError(`${name} must be an object {mode, threshold}`);
  const { mode, threshold } = r as { mode?: unknown; threshold?: unknown };
  if (mode !== 'local' && mode !== 'distributed') throw new DpArgumentError(`${name}.mode must be 'local' or 'distributed', got ${String(mode)}`);
  const t = checkNumber(`${name}.threshold`, threshold, { min: 1, integer: true });
  if (mode === 'local' && t !== 1) throw new DpArgumentError(`${name}.threshold must be 1 with local noise, got ${t}`);
  return { mode, threshold: t };
}

/** An open ledger. Not safe for concurrent writers (one process owns a ledger file). */
/**
 * A distributed round's event as if only the charging site's own noise share were honest:
 * a DDG event with one share (numClients 1) of the same discrete Gaussian and sensitivity;
 * a Gaussian event with sigma / sqrt(threshold). What a site that trusts no other site
 * accounts (the ledger's and the planner's `epsilonOwnShareOnly`).
 */
export function ownShareOnlyEvent<E extends GaussianEvent | DdgEvent>(event: E, threshold: number): E {
  const t = checkNumber('threshold', threshold, { min: 1, integer: true });
  if (event.mechanism === 'ddg') return { ...event, numClients: 1 };
  return { ...event, sigma: event.sigma / Math.sqrt(t) };
}

export class Ledger {
  private readonly records: LedgerRecord[] = [];
  private tornRecords = 0;
  private tornEvents: PrivacyEvent[] = [];
  private fd: number | undefined;
  private needsNewline = false;
  readonly budget: number;
  readonly delta: number;
  readonly accountant: AccountantName;
  readonly unit: PrivacyUnit;
  readonly site: string | undefined;
  readonly recordLevel: RecordLevelInfo | undefined;

  /** @internal use openLedger */
  constructor(readonly file: string, opts: LedgerOptions) {
    const exists = fs.existsSync(file);
    if (!exists) {
      if (opts.readOnly) throw Object.assign(new Error(`ENOENT: ledger ${file} does not exist`), { code: 'ENOENT' });
      this.budget = checkNumber('budget', opts.budget, { min: 0, minExclusive: true });
      this.delta = checkNumber('delta', opts.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
      this.accountant = opts.accountant ?? 'rdp';
      if (this.accountant !== 'rdp' && this.accountant !== 'pld') throw new DpArgumentError(`accountant must be 'rdp' or 'pld', got ${String(this.accountant)}`);
      this.unit = opts.unit ?? 'client';
      if (!UNITS.includes(this.unit)) throw new DpArgumentError(`unit must be 'client' or 'record', got ${String(this.unit)}`);
      if (opts.site !== undefined && (typeof opts.site !== 'string' || opts.site === '')) throw new DpArgumentError('site must be a non-empty string');
      this.site = opts.site;
      if (this.unit === 'record') this.recordLevel = checkRecordLevel('recordLevel', opts.recordLevel);
      else if (opts.recordLevel !== undefined) throw new DpArgumentError("recordLevel applies to unit 'record' only");
      else this.recordLevel = undefined;
      const header =
        this.unit === 'record'
          ? { type: 'header', version: 2, budget: this.budget, delta: this.delta, accountant: this.accountant, unit: this.unit, ...(this.site !== undefined ? { site: this.site } : {}), recordLevel: this.recordLevel }
          : { type: 'header', version: 1, budget: this.budget, delta: this.delta, accountant: this.accountant, ...(this.site !== undefined ? { site: this.site } : {}) };
      // The ledger appears with its header or not at all: the header is written and fsync'd
      // under a temporary name, then hard-linked to the ledger's name (which, like 'wx',
      // fails if another writer created it first). A crash in between leaves no empty or
      // half-written ledger that would refuse every later open.
      const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
      try {
        const tmpFd = fs.openSync(tmp, 'wx');
        try {
          const data = Buffer.from(JSON.stringify(header) + '\n', 'utf8');
          let off = 0;
          while (off < data.length) off += fs.writeSync(tmpFd, data, off, data.length - off);
          fs.fsyncSync(tmpFd);
        } finally {
          fs.closeSync(tmpFd);
        }
        fs.linkSync(tmp, file);
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      const dirFd = fs.openSync(path.dirname(path.resolve(file)), 'r');
      try {
        fs.fsyncSync(dirFd);
      } finally {
        fs.closeSync(dirFd);
      }
      this.fd = fs.openSync(file, 'a');
      return;
    }
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    const endsClean = text.endsWith('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let header: { budget?: unknown; delta?: unknown; accountant?: unknown; version?: unknown; unit?: unknown; site?: unknown; recordLevel?: unknown } | undefined;
    try {
      header = JSON.parse(lines[0] ?? '');
    } catch {
      header = undefined;
    }
    if (!header || (header as { type?: unknown }).type !== 'header') throw new LedgerCorruptError(`ledger ${file}: line 1 is not a header record`);
    this.budget = checkNumber('header.budget', header.budget, { min: 0, minExclusive: true });
    this.delta = checkNumber('header.delta', header.delta, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
    const acc = header.accountant;
    if (acc !== 'rdp' && acc !== 'pld') throw new LedgerCorruptError(`ledger ${file}: header.accountant must be 'rdp' or 'pld'`);
    this.accountant = acc;
    if (header.version !== undefined && header.version !== 1 && header.version !== 2) throw new LedgerCorruptError(`ledger ${file}: unsupported version ${String(header.version)} (this reader knows 1 and 2)`);
    const unit = header.unit ?? 'client';
    if (unit !== 'client' && unit !== 'record') throw new LedgerCorruptError(`ledger ${file}: header.unit must be 'client' or 'record'`);
    this.unit = unit;
    if (header.site !== undefined && (typeof header.site !== 'string' || header.site === '')) throw new LedgerCorruptError(`ledger ${file}: header.site must be a non-empty string`);
    this.site = header.site;
    try {
      this.recordLevel = unit === 'record' ? checkRecordLevel('header.recordLevel', header.recordLevel) : undefined;
    } catch (err) {
      throw new LedgerCorruptError(`ledger ${file}: ${(err as Error).message}`);
    }
    if (opts.unit !== undefined && opts.unit !== this.unit) throw new DpArgumentError(`unit ${opts.unit} differs from the ledger's ${this.unit}`);
    if (opts.site !== undefined && opts.site !== this.site) throw new DpArgumentError(`site ${opts.site} differs from the ledger's ${String(this.site)}`);
    if (opts.recordLevel !== undefined) {
      const want = checkRecordLevel('recordLevel', opts.recordLevel);
      if (!this.recordLevel || want.mode !== this.recordLevel.mode || want.threshold !== this.recordLevel.threshold) {
        throw new DpArgumentError(`recordLevel ${JSON.stringify(want)} differs from the ledger's ${JSON.stringify(this.recordLevel ?? null)}`);
      }
    }
    if (opts.budget !== undefined && opts.budget !== this.budget) throw new DpArgumentError(`budget ${opts.budget} differs from the ledger's ${this.budget}`);
    if (opts.delta !== undefined && opts.delta !== this.delta) throw new DpArgumentError(`delta ${opts.delta} differs from the ledger's ${this.delta}`);
    if (opts.accountant !== undefined && opts.accountant !== this.accountant) throw new DpArgumentError(`accountant ${opts.accountant} differs from the ledger's ${this.accountant}`);
    const torn: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        torn.push(line);
        continue;
      }
      if (!rec || typeof rec !== 'object' || (rec as { type?: unknown }).type !== 'event') throw new LedgerCorruptError(`ledger ${file}: line ${i + 1} is not an event record`);
      try {
        const ev = validateEvent(rec as PrivacyEvent);
        const r = rec as LedgerRecord;
        this.records.push({ ...ev, round: r.round, seq: r.seq, epsilonAfter: r.epsilonAfter });
      } catch (err) {
        throw new LedgerCorruptError(`ledger ${file}: line ${i + 1}: ${(err as Error).message}`);
      }
    }
    this.tornRecords = torn.length;
    this.tornEvents = torn.map((line) => this.eventForTorn(line)).filter((e): e is PrivacyEvent => e !== undefined);
    if (!opts.readOnly) {
      this.fd = fs.openSync(file, 'a');
      this.needsNewline = !endsClean && text.length > 0;
    }
  }

  /** The event a torn line is counted as (undefined: unknown and no complete event to copy). */
  private eventForTorn(line: string): PrivacyEvent | undefined {
    const ms = TORN_GAUSSIAN_STEPS.exec(line);
    if (ms) {
      const steps = Number(ms[1]);
      const q = Number(ms[2]);
      const sigma = Number(ms[3]);
      if (Number.isInteger(steps) && steps >= 1 && q >= 0 && q <= 1 && sigma > 0) return { mechanism: 'gaussian', steps, q, sigma };
    }
    const m = TORN_GAUSSIAN.exec(line);
    if (m) {
      const q = Number(m[1]);
      const sigma = Number(m[2]);
      if (q >= 0 && q <= 1 && sigma > 0) return { mechanism: 'gaussian', q, sigma };
    }
    let worst: PrivacyEvent | undefined;
    let worstEps = -1;
    for (const r of this.records) {
      const e = epsilonOfEvents([r], this.delta, 'rdp');
      if (e > worstEps) {
        worstEps = e;
        worst = r;
      }
    }
    return worst;
  }

  private writeLine(line: string): void {
    if (this.fd === undefined) throw new DpArgumentError(`ledger ${this.file} is open read-only or closed`);
    const data = Buffer.from((this.needsNewline ? '\n' : '') + line + '\n', 'utf8');
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
    fs.fsyncSync(this.fd);
    this.needsNewline = false;
  }

  /** All complete events, oldest first. */
  get events(): readonly LedgerRecord[] {
    return this.records;
  }

  private allEvents(): PrivacyEvent[] | undefined {
    if (this.tornRecords > this.tornEvents.length) return undefined;
    return [...this.records, ...this.tornEvents];
  }

  /** Epsilon spent so far, recomputed from every recorded event (Infinity if a torn record cannot be bounded). */
  spent(): number {
    const all = this.allEvents();
    return all ? epsilonOfEvents(all, this.delta, this.accountant) : Infinity;
  }

  /**
   * Distributed record-level ledgers: epsilon if only this site's own share of the noise
   * (sigma / sqrt(threshold)) were honest, RDP; for any other ledger the same as spent().
   */
  spentOwnShareOnly(): number {
    const t = this.recordLevel?.threshold ?? 1;
    if (t === 1) return this.spent();
    const all = this.allEvents();
    if (!all) return Infinity;
    const own = all.map((e): PrivacyEvent => ownShareOnlyEvent(e, t));
    return epsilonOfEvents(own, this.delta, 'rdp');
  }

  /** A summary for reports and the CLI. */
  summary(): LedgerSummary {
    const out: LedgerSummary = {
      epsilon: this.spent(),
      delta: this.delta,
      budget: this.budget,
      accountant: this.accountant,
      events: this.records.length,
      steps: this.records.reduce((s, r) => s + stepsOf(r), 0),
      tornRecords: this.tornRecords,
      unit: this.unit,
    };
    if (this.site !== undefined) out.site = this.site;
    if (this.recordLevel) {
      out.recordLevel = { ...this.recordLevel };
      if (this.recordLevel.mode === 'distributed') out.epsilonOwnShareOnly = this.spentOwnShareOnly();
    }
    return out;
  }

  /**
   * Records one privacy event durably BEFORE its aggregate is released.
   * Returns only after the record is fsync'd; release the aggregate after it returns.
   * @returns epsilon spent including this event.
   * @throws BudgetExceededError (nothing written) if epsilon would exceed the budget.
   */
  charge(event: PrivacyEvent & { round?: number }): { epsilon: number; seq: number } {
    const ev = validateEvent(event);
    const round = event.round === undefined ? this.records.length + 1 : checkNumber('event.round', event.round, { min: 0, integer: true });
    const prior = this.allEvents();
    const eps = prior ? epsilonOfEvents([...prior, ev], this.delta, this.accountant) : Infinity;
    if (!(eps <= this.budget)) {
      throw new BudgetExceededError(`privacy budget exceeded: epsilon would be ${eps} > budget ${this.budget} (delta ${this.delta})`, eps, this.budget);
    }
    const seq = this.records.length + this.tornRecords + 1;
    // Mechanism parameters come first so a torn prefix still reveals them.
    const rec = { type: 'event', ...ev, round, seq, accountant: this.accountant, epsilonAfter: eps };
    this.writeLine(JSON.stringify(rec));
    this.records.push({ ...ev, round, seq, epsilonAfter: eps });
    return { epsilon: eps, seq };
  }

  /** Closes the file descriptor. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Opens (or creates, when `budget` and `delta` are given and the file does not exist) a ledger.
 * @throws LedgerCorruptError for a malformed header or a malformed complete record.
 */
export function openLedger(file: string, opts: LedgerOptions = {}): Ledger {
  if (typeof file !== 'string' || file === '') throw new DpArgumentError('file must be a non-empty path');
  return new Ledger(file, opts);
}

/**
 * Opens (or creates) a site's record-level DP ledger: the same fsync'd, append-only,
 * recompute-on-read ledger as the server's, with unit 'record', the site's name and how
 * its noise is added in the header. Charge each round's DP-SGD steps BEFORE the round's
 * update leaves the site:
 *   const ledger = openSiteLedger(path, { site, budget, delta, accountant, recordLevel: { mode, threshold } });
 *   ledger.charge({ ...plan.roundEvent, round });   // { mechanism: 'gaussian', q, sigma, steps: localSteps }
 *   // ... only now send the update
 * Reopening checks that site, mode and threshold match the header (and budget, delta and
 * accountant when given).
 */
export function openSiteLedger(file: string, opts: Omit<LedgerOptions, 'unit'> & { site: string }): Ledger {
  if (typeof opts?.site !== 'string' || opts.site === '') throw new DpArgumentError('site must be a non-empty string');
  const ledger = openLedger(file, { ...opts, unit: 'record' });
  if (ledger.unit !== 'record') {
    ledger.close();
    throw new DpArgumentError(`ledger ${file} is a client-level ledger, not a site's record-level one`);
  }
  return ledger;
}
