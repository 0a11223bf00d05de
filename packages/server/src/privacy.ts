/**
 * Distributed DP glue. Clients clip and add discrete Gaussian noise with the dp package's
 * DDG encoder; the server decodes the SecAgg sum with the same encoder and charges the
 * dp package's crash-safe ledger BEFORE the aggregate is applied or released. The ledger
 * refuses (BudgetExceededError) a charge that would exceed the budget: the federation
 * then stops without using that round's aggregate.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BudgetExceededError, createDdgEncoder, createRecordDdgEncoder, epsilonOfEvents, openLedger, paddedLength, recordLevelRoundEvent, type DdgConfig, type DdgEncoder, type Ledger, type PrivacyEvent, type RecordDdgEncoder, type RecordLevelSettingsQuery } from '@fedmeta/dp';
import { toHex, type DdgEncoding, type RecordLevelDpSettings } from '@fedmeta/transport';
import { atomicWrite } from './checkpoint.js';
import { planCohort, type CohortPlan } from './cohort.js';
import { ServerError } from './errors.js';
import { quantizeEncoding, type RoundEncoding } from './encoding.js';
import type { AggregationOptions, DpOptions } from './options.js';
import type { ResolvedServerOptions } from './validate.js';

/**
 * How many clients a round's DP event is accounted with: the secagg threshold t (the
 * fewest clients whose noise can end up in a released sum), or, when nothing is masked,
 * the plaintext floor (server minAggregate, at most the cohort: a plaintext round releases
 * the sum of as few inputs as that after dropouts). Every client's
 * local noise is sized for this count too (std z * clip / sqrt(numClients)), so
 * numClients survivors together add exactly the planned central noise z * clip.
 * The ONE rule: the server charges each round with it, and the CLI plans through
 * plannedDpNumClients, which applies it to every cohort size the server may run.
 */
export function accountedClients(plan: CohortPlan, cohortSize: number, minAggregate: number = cohortSize): number {
  return plan.threshold > 0 ? plan.threshold : Math.min(cohortSize, Math.max(2, minAggregate));
}

/** The aggregation policy with the server's defaults filled in (validate.ts applies the same ones). */
function aggregationPolicy(a: AggregationOptions = {}): ResolvedServerOptions['aggregation'] {
  return {
    mode: a.mode ?? 'auto',
    security: a.security ?? 'semi-honest',
    plusFromClients: a.plusFromClients ?? 16,
    dropoutFraction: a.dropoutFraction ?? 0.1,
    corruptFraction: a.corruptFraction ?? 0.05,
    ...(a.threshold === undefined ? {} : { threshold: a.threshold }),
    ...(a.degree === undefined ? {} : { degree: a.degree }),
    bits: a.bits ?? 32,
    elementClip: a.elementClip ?? 1,
    ...(a.l2Clip === undefined ? {} : { l2Clip: a.l2Clip }),
    maxWeight: a.maxWeight ?? 10_000,
  };
}

/**
 * The numClients a DP round over a cohort of `cohortSize` is charged with, exactly as the
 * server picks it (planCohort's threshold for that size, then accountedClients).
 * @param aggregation the server's `aggregation` options (defaults as the server's)
 */
export function dpNumClients(cohortSize: number, aggregation?: AggregationOptions, minAggregate?: number): number {
  const policy = aggregationPolicy(aggregation);
  return accountedClients(planCohort(cohortSize, policy), cohortSize, minAggregate);
}

/**
 * The numClients to PLAN the noise multiplier with: the largest dpNumClients over every
 * cohort size the server may run, from `minClients` to `maxClients` (the clients per
 * round, at most the roster).
 *
 * Why the largest, and why not simply the smallest cohort: with the noise multiplier z
 * fixed, the central noise is z * clip whatever numClients is, but each client's share
 * is a discrete Gaussian of std z * clip / sqrt(numClients) (in units of the encoder's
 * grid gamma, which also grows with numClients), and a sum of more, narrower discrete
 * Gaussians is further from a discrete Gaussian (the dp accountant's tau term), so the
 * per-round epsilon of a DDG event GROWS with numClients (dp's createDdgEncoder().epsilon;
 * the server tests measure it). Planning with the largest numClients therefore bounds
 * every round the server can run from above: the planned rounds fit the budget whatever
 * cohort sizes occur. Nor is t monotone in the cohort size (SecAgg+ from
 * `plusFromClients` on has a much smaller t than the complete graph just below it), so
 * every size in the range is checked.
 * @throws RangeError when minClients < 2 or maxClients < minClients
 */
export function plannedDpNumClients(cohort: { minClients: number; maxClients: number; minAggregate?: number }, aggregation?: AggregationOptions): number {
  const { minClients, maxClients } = cohort;
  if (!Number.isInteger(minClients) || minClients < 2) throw new RangeError(`cohort.minClients: expected an integer >= 2, got ${minClients}`);
  if (!Number.isInteger(maxClients) || maxClients < minClients) throw new RangeError(`cohort.maxClients: expected an integer >= minClients (${minClients}), got ${maxClients}`);
  const policy = aggregationPolicy(aggregation);
  let most = 0;
  // The plaintext floor defaults to minClients, as the server's own (validate.ts).
  const floor = cohort.minAggregate ?? minClients;
  for (let n = minClients; n <= maxClients; n++) most = Math.max(most, accountedClients(planCohort(n, policy), n, floor));
  return most;
}

/** A DDG round's encoding plus what the server needs to decode and account it. */
export interface DpRoundEncoding extends Omit<RoundEncoding, 'wire' | 'decode'> {
  wire: DdgEncoding;
  encoder: DdgEncoder;
  roundSeed: Uint8Array;
}

/**
 * Record-level DP: the smallest number of noise shares any released sum can hold, over every
 * cohort size the server may run (`minClients` .. min(maxClients, roster)): the SecAgg
 * threshold (no sum of fewer inputs is unmasked). Each site's share is sized for it, so
 * every released sum carries at least the planned noise (more shares only add noise).
 * @throws RangeError when minClients < 2 or maxClients < minClients
 */
export function recordDpThreshold(cohort: { minClients: number; maxClients: number }, aggregation?: AggregationOptions): number {
  const { minClients, maxClients } = cohort;
  if (!Number.isInteger(minClients) || minClients < 2) throw new RangeError(`cohort.minClients: expected an integer >= 2, got ${minClients}`);
  if (!Number.isInteger(maxClients) || maxClients < minClients) throw new RangeError(`cohort.maxClients: expected an integer >= minClients (${minClients}), got ${maxClients}`);
  const policy = aggregationPolicy(aggregation);
  let least = Infinity;
  for (let n = minClients; n <= maxClients; n++) least = Math.min(least, accountedClients(planCohort(n, policy), n));
  return least;
}

/** What record-level DP needs from the rest of the server's options. */
export interface RecordDpContext {
  rounds: number;
  cohort: { minClients: number; maxClients: number };
  aggregation: ResolvedServerOptions['aggregation'];
  /** The algorithm's hyper-parameters (lr: the DP-SGD step size; localSteps: local mode's default). */
  hyper: { lr: number; localSteps?: number };
}

/** The record-level settings the coordinator announces (welcome and every round config). */
export function recordLevelSettings(o: DpOptions, ctx: Pick<RecordDpContext, 'cohort' | 'aggregation' | 'hyper'>, dim: number): RecordLevelDpSettings {
  const r = o.record!;
  const distributed = r.mode === 'distributed';
  const threshold = distributed ? r.threshold ?? recordDpThreshold(ctx.cohort, ctx.aggregation) : 1;
  return {
    unit: 'record',
    mode: r.mode,
    epsilonBudget: o.epsilonBudget,
    delta: o.delta,
    noiseMultiplier: o.noiseMultiplier,
    l2Clip: o.l2Clip,
    sampleRate: r.sampleRate,
    localSteps: distributed ? 1 : r.localSteps ?? ctx.hyper.localSteps ?? 1,
    threshold,
    ...(distributed && r.expectedBatchSize !== undefined ? { expectedBatchSize: r.expectedBatchSize } : {}),
    ...(distributed ? { encoding: recordEncodingParams(o, dim, threshold) } : {}),
  };
}

function recordEncodingParams(o: DpOptions, dim: number, threshold: number): { dim: number; bits: number; scaleBits: number } {
  const p = createRecordDdgEncoder({ dim, l2Clip: o.l2Clip, noiseMultiplier: o.noiseMultiplier, threshold, bits: o.bits ?? 32 }).params;
  return { dim, bits: p.bits, scaleBits: p.scaleBits };
}

/** The dp package's query for a record-level setting (the sites' ledgers account with the same). */
export function recordLevelQuery(s: RecordLevelDpSettings, rounds: number): RecordLevelSettingsQuery {
  const e = s.encoding;
  return { mode: s.mode, epsilon: s.epsilonBudget, delta: s.delta, l2Clip: s.l2Clip, sampleRate: s.sampleRate, rounds, localSteps: s.localSteps, threshold: s.threshold, ...(e ? { dim: e.dim, bits: e.bits, scaleBits: e.scaleBits } : {}) };
}

/**
 * Record-level DP: where the coordinator journals its released rounds, next to the ledger
 * path (which a record-level coordinator leaves unused: every site keeps its own ledger).
 * `<checkpointDir>/ledger.json` -> `<checkpointDir>/ledger.record-releases.json`.
 */
export function recordReleasesPath(ledgerPath: string): string {
  return `${ledgerPath.replace(/\.jsonl?$/, '')}.record-releases.json`;
}

const RELEASES_FORMAT = 'fedmeta-record-releases/1';

/** One released record-level round: its number and the event every site charged for it. */
export interface RecordRelease {
  /** The round; 0 for a release the checkpoint counted and the journal did not hold (see Privacy.open). */
  round: number;
  event: PrivacyEvent;
}

/**
 * Reads a record-level release journal (none yet: empty).
 * @throws ServerError ERR_CHECKPOINT_CORRUPT when the file is not a journal
 */
export function readRecordReleases(path: string): RecordRelease[] {
  if (!existsSync(path)) return [];
  let doc: { format?: unknown; releases?: unknown };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as typeof doc;
  } catch (cause) {
    throw new ServerError('ERR_CHECKPOINT_CORRUPT', `${path}: the record-level release journal is not JSON (it is written atomically, so this is not a torn write: restore it from a backup, or move it away to count only the rounds the checkpoint holds)`, { cause });
  }
  const ok = doc !== null && typeof doc === 'object' && doc.format === RELEASES_FORMAT && Array.isArray(doc.releases) && doc.releases.every((r: unknown) => {
    const x = r as RecordRelease | null;
    return x !== null && typeof x === 'object' && Number.isInteger(x.round) && x.event !== null && typeof x.event === 'object' && (x.event.mechanism === 'gaussian' || x.event.mechanism === 'ddg');
  });
  if (!ok) throw new ServerError('ERR_CHECKPOINT_CORRUPT', `${path}: not a record-level release journal (${RELEASES_FORMAT})`);
  return doc.releases as RecordRelease[];
}

export class Privacy {
  private ledger: Ledger | null = null;
  private readonly rounds = new Map<number, DpRoundEncoding>();
  private readonly recordRounds = new Map<number, { local: RoundEncoding } | { encoder: RecordDdgEncoder; expectedBatchSize: number }>();
  /**
   * Record-level DP: every round released so far (this run and, restored by open(), the
   * runs before), each with the event the sites charged for it.
   */
  private recordReleases: RecordRelease[] = [];
  readonly record: RecordLevelDpSettings | null;

  constructor(
    private readonly o: DpOptions,
    private readonly ledgerPath: string,
    private readonly paramCount: number,
    private readonly ctx?: RecordDpContext,
  ) {
    if (o.unit === 'record') {
      if (!ctx) throw new Error('privacy: record-level DP needs the rounds, cohort and algorithm hyper-parameters');
      this.record = recordLevelSettings(o, ctx, paramCount);
    } else this.record = null;
  }

  /**
   * Record-level DP, one round's encoding. Local mode: the quantiser with every weight 1
   * (a site's update must not reveal its batch size); distributed: the record DDG encoder.
   * @throws Error when the cohort's SecAgg threshold is below the shares the noise is sized for
   */
  recordEncoding(round: number, cohortSize: number, minSurvivors: number): RoundEncoding | DpRoundEncoding {
    const s = this.record!;
    if (s.mode === 'local') {
      const local = quantizeEncoding(this.paramCount, cohortSize, { ...this.ctx!.aggregation, maxWeight: 1 });
      this.recordRounds.set(round, { local });
      return local;
    }
    if (minSurvivors < s.threshold) throw new Error(`record-level DP: a round of ${cohortSize} may release a sum of ${minSurvivors} inputs, fewer than the ${s.threshold} noise shares each site's share is sized for`);
    const params = { dim: this.paramCount, l2Clip: s.l2Clip, noiseMultiplier: s.noiseMultiplier, threshold: s.threshold, bits: s.encoding!.bits, scaleBits: s.encoding!.scaleBits };
    const encoder = createRecordDdgEncoder(params);
    this.recordRounds.set(round, { encoder, expectedBatchSize: s.expectedBatchSize! });
    return { wire: { kind: 'record-ddg', params }, vectorLength: this.paramCount, bits: encoder.params.bits } as unknown as DpRoundEncoding;
  }

  /**
   * Opens (or creates) the ledger; a restarted server sees everything charged before the crash.
   *
   * Record-level DP: every site accounts its own records in its own ledger; the coordinator
   * reports the per-site epsilon of the rounds it released, which it journals (fsync'd,
   * atomic) BEFORE each release. A restart restores them from the journal, and from
   * `checkpointedReleases` (the completed rounds the checkpoint holds) when that is more,
   * counting each missing one at the current setting: a crash after the journal was written
   * and before the release over-counts by one round, never under-counts.
   * @param checkpointedReleases record-level rounds the checkpoint counts as released
   */
  open(checkpointedReleases = 0): void {
    if (this.record) {
      this.recordReleases = readRecordReleases(recordReleasesPath(this.ledgerPath));
      if (checkpointedReleases > this.recordReleases.length) {
        const event = this.recordEvent();
        while (this.recordReleases.length < checkpointedReleases) this.recordReleases.push({ round: 0, event });
      }
      return;
    }
    mkdirSync(dirname(this.ledgerPath), { recursive: true });
    this.ledger = openLedger(this.ledgerPath, { budget: this.o.epsilonBudget, delta: this.o.delta });
  }

  /**
   * The DDG configuration of one round. `minSurvivors` is accountedClients() of the
   * round's plan (the secagg threshold: the fewest clients whose noise can end up in the
   * sum), the same rule the CLI plans the noise multiplier with (plannedDpNumClients).
   */
  encoding(round: number, minSurvivors: number): DpRoundEncoding {
    const cfg: DdgConfig = {
      dim: this.paramCount,
      numClients: minSurvivors,
      l2Clip: this.o.l2Clip,
      noiseMultiplier: this.o.noiseMultiplier,
      bits: this.o.bits ?? 32,
    };
    const encoder = createDdgEncoder(cfg);
    // Public per-round seed of the randomised rotation; fresh each round.
    const roundSeed = new Uint8Array(randomBytes(32));
    const enc: DpRoundEncoding = {
      wire: { kind: 'ddg', params: { ...cfg }, roundSeed: toHex(roundSeed) },
      vectorLength: paddedLength(this.paramCount),
      bits: encoder.params.bits,
      encoder,
      roundSeed,
    };
    this.rounds.set(round, enc);
    return enc;
  }

  /**
   * Charges the round to the ledger (fsync'd before returning).
   * @returns ok=false when the budget would be exceeded (nothing charged, nothing may be released)
   */
  charge(round: number): { ok: boolean; epsilon: number } {
    if (this.record) {
      // Each site charged its own ledger before its input left; this is the per-site epsilon
      // of every round released so far, journalled before this one is released.
      this.recordReleases.push({ round, event: this.recordEvent() });
      this.writeRecordReleases();
      return { ok: true, epsilon: this.recordEpsilon() };
    }
    const enc = this.rounds.get(round);
    if (!enc || !this.ledger) throw new Error(`privacy: round ${round} was not prepared`);
    // q = 1: the cohort is whoever is connected, not a uniformly random (Poisson) sample of
    // the population, so no privacy amplification by sampling is claimed.
    try {
      const { epsilon } = this.ledger.charge({ ...enc.encoder.privacyEvent(1), round });
      return { ok: true, epsilon };
    } catch (err) {
      if (err instanceof BudgetExceededError) return { ok: false, epsilon: err.epsilonIfCharged };
      throw err;
    }
  }

  /** The survivors' mean update from the modular sum (sum of clipped + noised updates / count). */
  decode(sum: Uint32Array, round: number, survivors: number): { mean: Float32Array; totalWeight: number } {
    const rec = this.recordRounds.get(round);
    if (rec) {
      this.recordRounds.delete(round);
      if ('local' in rec) return rec.local.decode(sum);
      // One DP-SGD step: params += -lr * (noisy sum of clipped gradients) / B.
      const total = rec.encoder.decode(sum);
      const scale = -this.ctx!.hyper.lr / rec.expectedBatchSize;
      for (let i = 0; i < total.length; i++) total[i] = total[i]! * scale;
      return { mean: total, totalWeight: survivors };
    }
    const enc = this.rounds.get(round);
    if (!enc) throw new Error(`privacy: round ${round} was not prepared`);
    this.rounds.delete(round);
    const total = enc.encoder.decode(sum, enc.roundSeed);
    for (let i = 0; i < total.length; i++) total[i] = total[i]! / survivors;
    return { mean: total, totalWeight: survivors };
  }

  /** Epsilon spent so far, recomputed from every ledger record (record-level: from every released round). */
  spent(): number {
    if (this.record) return this.recordEpsilon();
    return this.ledger?.spent() ?? 0;
  }

  /** Record-level DP: the rounds released so far, this run and before (0 at client level). */
  get releases(): number {
    return this.recordReleases.length;
  }

  /** The event each site charges for one round of the record-level setting now in force. */
  private recordEvent(): PrivacyEvent {
    return recordLevelRoundEvent(recordLevelQuery(this.record!, this.ctx!.rounds), this.o.noiseMultiplier);
  }

  /**
   * The sites' accounting of the released rounds (dp's epsilonOfEvents, as their ledgers;
   * n rounds of one setting give exactly dp's recordLevelEpsilon for n rounds).
   */
  private recordEpsilon(): number {
    return epsilonOfEvents(this.recordReleases.map((r) => r.event), this.o.delta, 'rdp');
  }

  private writeRecordReleases(): void {
    const path = recordReleasesPath(this.ledgerPath);
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true });
    atomicWrite(path, dir, [Buffer.from(JSON.stringify({ format: RELEASES_FORMAT, releases: this.recordReleases }), 'utf8')]);
  }

  close(): void {
    this.ledger?.close();
    this.ledger = null;
  }
}
