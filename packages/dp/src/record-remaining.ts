/**
 * Record-level DP for a federation that continues past rounds already released: the noise
 * multiplier of the rounds left, given what the rounds before spent.
 *
 * Every site's ledger composes its past charges with the rounds still to come (RDP over
 * the whole multiset of events, dp's epsilonOfEvents), so the rounds left may use another
 * sigma than the rounds before: the planner looks for the smallest sigma whose remaining
 * rounds, composed with the past events, stay within the target. A site also checks the
 * announced setting on its own (all announced rounds at the announced sigma within the
 * announced target); `announcedRounds` makes the plan meet that check too.
 */
import { checkNumber, DpArgumentError, DpError, PrivacyBudgetError } from './errors.js';
import { epsilonOfEvents, ownShareOnlyEvent, type DdgEvent, type GaussianEvent, type PrivacyEvent } from './ledger.js';
import { MAX_NOISE_MULTIPLIER, planNoiseMultiplier } from './planner.js';
import { checkRecordSettings, planRecordLevelSettings, recordLevelEpsilon, recordLevelRoundEvent, type RecordLevelSettingsQuery } from './record-ddg.js';
import type { RecordNoiseMode } from './utility.js';

/** The record-level setting of the rounds left, and what was released before them. */
export interface RemainingRecordLevelQuery extends Omit<RecordLevelSettingsQuery, 'rounds'> {
  /**
   * What the released rounds charged, oldest first: each entry a ledger event, or a number,
   * the sigma of one past round of this same setting (its event is recordLevelRoundEvent).
   */
  past: ReadonlyArray<PrivacyEvent | number>;
  /** Rounds still to run (>= 1). */
  remainingRounds: number;
  /**
   * All rounds the federation announces (past and remaining): when given, the plan's sigma
   * also keeps that many rounds at sigma alone within the target, the check every site
   * makes of an announced setting before it joins.
   */
  announcedRounds?: number;
}

export interface RemainingRecordLevelPlan {
  mode: RecordNoiseMode;
  /** The noise multiplier of the remaining rounds. */
  sigma: number;
  /** Epsilon of the past events composed with the remaining rounds at sigma (<= target). */
  epsilon: number;
  /** Epsilon of the past events alone. */
  epsilonPast: number;
  /** The event a site charges for each remaining round. */
  roundEvent: GaussianEvent | DdgEvent;
  /** The past events, as composed (numbers replaced by their events). */
  pastEvents: PrivacyEvent[];
  remainingRounds: number;
  /** What set sigma: the budget left after the past, or the announced-setting check (announcedRounds). */
  boundBy: 'budget' | 'announced';
  /** Distributed: the composed epsilon if only a site's own share had protected its records in every round. */
  epsilonOwnShareOnly?: number;
}

/**
 * What the past events left of the target does not fit the remaining rounds at any noise
 * multiplier up to MAX_NOISE_MULTIPLIER; in particular the past alone reaches the target.
 * A PrivacyBudgetError (code DP_BUDGET_UNREACHABLE) with the numbers.
 */
export class RecordBudgetSpentError extends PrivacyBudgetError {
  constructor(
    message: string,
    /** Epsilon of the past events alone. */
    readonly epsilonPast: number,
    /** The target. */
    readonly epsilonTarget: number,
    readonly pastRounds: number,
    readonly remainingRounds: number,
  ) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'RecordBudgetSpentError', enumerable: false });
  }
}

function settingsOf(p: RemainingRecordLevelQuery): RecordLevelSettingsQuery {
  const { past: _p, remainingRounds, announcedRounds: _a, ...rest } = p;
  return { ...rest, rounds: remainingRounds };
}

/** The past entries as ledger events (a number is one round of this setting at that sigma). */
function pastEventsOf(p: RemainingRecordLevelQuery, q: RecordLevelSettingsQuery): PrivacyEvent[] {
  if (!Array.isArray(p.past)) throw new DpArgumentError('past must be an array of privacy events or noise multipliers');
  return p.past.map((e, i) => {
    if (typeof e === 'number') return recordLevelRoundEvent(q, checkNumber(`past[${i}]`, e, { min: 0, minExclusive: true }));
    if (e === null || typeof e !== 'object' || (e.mechanism !== 'gaussian' && e.mechanism !== 'ddg')) throw new DpArgumentError(`past[${i}] must be a privacy event ({mechanism: 'gaussian' | 'ddg', ...}) or a noise multiplier`);
    return e;
  });
}

/**
 * Epsilon of the past events composed with `remainingRounds` rounds of the setting at
 * `sigma`: what every site's ledger holds once the remaining rounds are charged (the
 * ledger's accountant: p.accountant, default rdp).
 */
export function remainingRecordLevelEpsilon(p: RemainingRecordLevelQuery, sigma: number): number {
  const q = settingsOf(p);
  checkRecordSettings(q);
  checkNumber('sigma', sigma, { min: 0, minExclusive: true });
  const past = pastEventsOf(p, q);
  const ev = recordLevelRoundEvent(q, sigma);
  return epsilonOfEvents([...past, ...Array.from({ length: q.rounds }, () => ev)], p.delta, p.accountant ?? 'rdp');
}

/**
 * Plans the DP-SGD noise multiplier of the rounds a record-level federation has left: the
 * smallest sigma (to within a factor 1 + 1e-4; the returned value is one that meets the
 * target) such that the past events composed with `remainingRounds` rounds at sigma have
 * epsilon <= p.epsilon, by the accounting every site's ledger applies (epsilonOfEvents of
 * the events recordLevelRoundEvent gives). With no past it is planRecordLevelSettings over
 * the remaining rounds. With `announcedRounds`, never below planRecordLevelSettings over
 * that many rounds (what a site checks of the announced setting).
 * @throws DpArgumentError for invalid settings or past entries
 * @throws RecordBudgetSpentError when the past events leave too little of the target for the
 *   remaining rounds at any sigma up to MAX_NOISE_MULTIPLIER (the past alone reaches it, or nearly)
 * @throws PrivacyBudgetError when the announced-setting check itself is unreachable
 */
export function planRemainingRecordLevelSettings(p: RemainingRecordLevelQuery): RemainingRecordLevelPlan {
  if (p === null || typeof p !== 'object') throw new DpArgumentError('query must be an object');
  const remaining = checkNumber('remainingRounds', p.remainingRounds, { min: 1, integer: true });
  const q = settingsOf(p);
  checkRecordSettings(q);
  const pastEvents = pastEventsOf(p, q);
  const announced = p.announcedRounds === undefined ? undefined : checkNumber('announcedRounds', p.announcedRounds, { min: 1, integer: true });
  const target = p.epsilon;
  const delta = p.delta;
  const accountant = p.accountant ?? 'rdp';
  const epsilonPast = epsilonOfEvents(pastEvents, delta, accountant);
  if (!(epsilonPast < target)) {
    throw new RecordBudgetSpentError(`the ${pastEvents.length} past round(s) already spend epsilon ${epsilonPast} of the target ${target} (delta ${delta}): no further round fits at any noise multiplier`, epsilonPast, target, pastEvents.length, remaining);
  }
  const composed = (sigma: number): number => {
    let ev: PrivacyEvent;
    try {
      ev = recordLevelRoundEvent(q, sigma);
    } catch (err) {
      // A sigma too small to encode (a discrete Gaussian share below 0.5) does not fit.
      if (err instanceof DpError && err.code === 'DP_INVALID_ARGUMENT' && sigma < MAX_NOISE_MULTIPLIER) return Infinity;
      throw err;
    }
    return epsilonOfEvents([...pastEvents, ...Array.from({ length: remaining }, () => ev)], delta, accountant);
  };
  const finish = (sigma: number, boundBy: RemainingRecordLevelPlan['boundBy']): RemainingRecordLevelPlan => {
    const epsilon = composed(sigma);
    if (!(epsilon <= target)) throw new PrivacyBudgetError(`internal: verification failed for sigma ${sigma} (${epsilon} > ${target})`);
    const roundEvent = recordLevelRoundEvent(q, sigma);
    const plan: RemainingRecordLevelPlan = { mode: q.mode, sigma, epsilon, epsilonPast, roundEvent, pastEvents, remainingRounds: remaining, boundBy };
    if (q.mode === 'distributed') {
      const t = q.threshold!;
      const own = [...pastEvents, ...Array.from({ length: remaining }, () => roundEvent)].map((e) => ownShareOnlyEvent(e, t));
      plan.epsilonOwnShareOnly = epsilonOfEvents(own, delta, 'rdp');
    }
    return plan;
  };

  // Nothing released yet: the plan of a fresh federation over the rounds to come.
  if (pastEvents.length === 0 && (announced === undefined || announced <= remaining)) return finish(planRecordLevelSettings(q).sigma, 'budget');

  // The announced-setting check: no sigma below this one passes a site's check of the setting.
  const floor = announced === undefined ? 0 : planRecordLevelSettings({ ...q, rounds: announced }).sigma;
  if (floor > 0 && composed(floor) <= target) return finish(floor, 'announced');

  if (!(composed(MAX_NOISE_MULTIPLIER) <= target)) {
    throw new RecordBudgetSpentError(`the ${pastEvents.length} past round(s) spend epsilon ${epsilonPast} of the target ${target} (delta ${delta}); ${remaining} more round(s) do not fit in the rest even at noise multiplier ${MAX_NOISE_MULTIPLIER} (q ${p.sampleRate}, mode ${p.mode})`, epsilonPast, target, pastEvents.length, remaining);
  }
  const fits = (sigma: number): boolean => composed(sigma) <= target;
  // Start from the Gaussian plan of the remaining steps alone (a lower bound for local noise,
  // a close guess for distributed), then bracket and bisect geometrically on sigma.
  let start: number;
  try {
    start = Math.max(floor, planNoiseMultiplier({ epsilon: target, delta, q: p.sampleRate, steps: (p.localSteps ?? 1) * remaining, accountant: 'rdp', tolerance: 1e-3 }).sigma);
  } catch (err) {
    if (!(err instanceof PrivacyBudgetError)) throw err;
    start = MAX_NOISE_MULTIPLIER;
  }
  let lo: number;
  let hi: number;
  if (fits(start)) {
    hi = start;
    lo = hi / 1.5;
    while (lo > Math.max(floor, 1e-3) && fits(lo)) {
      hi = lo;
      lo /= 1.5;
    }
    lo = Math.max(lo, floor);
  } else {
    lo = start;
    hi = Math.min(MAX_NOISE_MULTIPLIER, start * 1.5);
    while (!fits(hi)) {
      lo = hi;
      hi = Math.min(MAX_NOISE_MULTIPLIER, hi * 1.5);
    }
  }
  while (hi / lo > 1 + 1e-4) {
    const mid = Math.sqrt(lo * hi);
    if (fits(mid)) hi = mid;
    else lo = mid;
  }
  return finish(hi, 'budget');
}
