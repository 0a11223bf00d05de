/**
 * Record-level DP at a site: DP-SGD (Abadi et al. 2016) with Poisson sampling, accounted
 * per site. Each step samples every one of the site's N records independently with
 * probability q = batchSize / N, clips each sampled record's gradient to L2 norm C, sums
 * them and adds Gaussian noise of std sigma * C per coordinate; T = localSteps x rounds
 * such steps are the Poisson-subsampled Gaussian composed T times, accounted here with
 * the package's RDP or PLD accountant (the same code as epsilonFor and the ledger).
 *
 * Two ways to add the noise:
 *   - 'local': the site adds all of sigma * C to each of its steps itself. Its update is
 *     then DP whatever the others do (post-processing), and any number of local steps
 *     per round is fine.
 *   - 'distributed' (under SecAgg): each site adds a share of std sigma * C / sqrt(t) and
 *     only the secure sum over the sites is released, so the noise in the released sum is
 *     sigma * C as long as at least t sites' shares are in it. TRUST ASSUMPTION: this holds
 *     only if at least t of the sites in each sum add their share honestly and keep it
 *     secret from the server and the other sites (a colluder can subtract its own share);
 *     if only h < t are honest the effective multiplier is sigma * sqrt(h / t), and a site
 *     that trusts no one is protected by its own share alone (`epsilonOwnShareOnly`).
 *     Each noisy step must itself be released through the secure sum: a site's
 *     intermediate local steps would carry only its own share, so distributed mode
 *     requires localSteps = 1 (one DP-SGD step = one secure sum = one round).
 *     The shares must sum to an exact Gaussian: shares sent through SecAgg's integer ring
 *     need the discrete-Gaussian treatment (see the dp README, "record-level DP").
 */
import { checkNumber, DpArgumentError, PrivacyBudgetError } from './errors.js';
import { epsilonFor, planNoiseMultiplier, type AccountantName } from './planner.js';
import type { GaussianEvent } from './ledger.js';
import type { RecordNoiseMode } from './utility.js';

export interface RecordLevelQuery {
  /** Target epsilon of this site's records over the whole run. */
  epsilon: number;
  delta: number;
  /** N: the site's records. */
  records: number;
  /** Expected Poisson batch size B (0 < B <= N); the sampling rate is q = B / N. */
  batchSize: number;
  rounds: number;
  /** DP-SGD steps per round (default 1; must be 1 in distributed mode). */
  localSteps?: number;
  /** Default 'local'. */
  mode?: RecordNoiseMode;
  /** Distributed mode: t, the fewest sites whose shares are in every released sum (required there). */
  threshold?: number;
  accountant?: AccountantName;
  /** Relative width at which the sigma search stops (see planNoiseMultiplier). */
  tolerance?: number;
}

export interface RecordLevelPlan {
  unit: 'record';
  mode: RecordNoiseMode;
  records: number;
  batchSize: number;
  q: number;
  rounds: number;
  localSteps: number;
  /** T = localSteps x rounds. */
  steps: number;
  /** Total noise multiplier of one step: noise std sigma * C. */
  sigma: number;
  /** Epsilon of T steps at sigma, recomputed after the search; <= targetEpsilon. */
  epsilon: number;
  targetEpsilon: number;
  delta: number;
  accountant: AccountantName;
  /** Sites whose shares make up sigma (1 with local noise). */
  threshold: number;
  /** Noise multiplier of the share this site adds to each step: sigma / sqrt(threshold). */
  shareMultiplier: number;
  /** Distributed mode: epsilon if only this site's own share protected its records (RDP). */
  epsilonOwnShareOnly?: number;
  /** The event to charge to the site's ledger each round, before its update is released. */
  roundEvent: GaussianEvent & { steps: number };
}

function checkQuery(p: RecordLevelQuery): { records: number; batchSize: number; rounds: number; localSteps: number; mode: RecordNoiseMode; threshold: number } {
  if (p === null || typeof p !== 'object') throw new DpArgumentError('query must be an object');
  const records = checkNumber('records', p.records, { min: 1, integer: true });
  const batchSize = checkNumber('batchSize', p.batchSize, { min: 0, minExclusive: true });
  if (batchSize > records) throw new DpArgumentError(`batchSize (${batchSize}) must not exceed records (${records})`);
  const rounds = checkNumber('rounds', p.rounds, { min: 1, integer: true });
  const localSteps = checkNumber('localSteps', p.localSteps ?? 1, { min: 1, integer: true });
  const mode = p.mode ?? 'local';
  if (mode !== 'local' && mode !== 'distributed') throw new DpArgumentError(`mode must be 'local' or 'distributed', got ${String(mode)}`);
  let threshold = 1;
  if (mode === 'distributed') {
    if (p.threshold === undefined) throw new DpArgumentError('threshold (the fewest sites whose noise shares are in every sum) is required with distributed noise');
    threshold = checkNumber('threshold', p.threshold, { min: 1, integer: true });
    if (localSteps !== 1) {
      throw new DpArgumentError(
        `localSteps must be 1 with distributed noise (got ${localSteps}): a site's intermediate local steps would carry only its own share sigma/sqrt(${threshold}); release every noisy step through the secure sum, or use mode 'local'`,
      );
    }
  } else if (p.threshold !== undefined && p.threshold !== 1) {
    throw new DpArgumentError(`threshold applies to distributed noise only (local noise: each site adds all of sigma), got ${String(p.threshold)}`);
  }
  return { records, batchSize, rounds, localSteps, mode, threshold };
}

/**
 * The smallest DP-SGD noise multiplier sigma (within the planner's tolerance) with which
 * T = localSteps x rounds Poisson-sampled steps at q = batchSize / records meet the
 * site's (epsilon, delta); for distributed noise also the per-site share.
 * @throws DpArgumentError for invalid arguments (batch larger than the site, distributed
 *   noise with several local steps, no threshold, ...).
 * @throws PrivacyBudgetError (DP_BUDGET_UNREACHABLE) when no sigma up to MAX_NOISE_MULTIPLIER meets the target.
 */
export function planRecordLevel(p: RecordLevelQuery): RecordLevelPlan {
  const { records, batchSize, rounds, localSteps, mode, threshold } = checkQuery(p);
  const q = batchSize / records;
  const steps = localSteps * rounds;
  const plan = planNoiseMultiplier({
    epsilon: p.epsilon,
    delta: p.delta,
    q,
    steps,
    ...(p.accountant !== undefined ? { accountant: p.accountant } : {}),
    ...(p.tolerance !== undefined ? { tolerance: p.tolerance } : {}),
  });
  return recordLevelPlanAt({ ...p, mode, threshold, localSteps, records, batchSize, rounds }, plan.sigma, plan.epsilon, plan.accountant);
}

function recordLevelPlanAt(
  p: RecordLevelQuery & { mode: RecordNoiseMode; threshold: number; localSteps: number },
  sigma: number,
  epsilon: number,
  accountant: AccountantName,
): RecordLevelPlan {
  const q = p.batchSize / p.records;
  const steps = p.localSteps * p.rounds;
  const shareMultiplier = sigma / Math.sqrt(p.threshold);
  return {
    unit: 'record',
    mode: p.mode,
    records: p.records,
    batchSize: p.batchSize,
    q,
    rounds: p.rounds,
    localSteps: p.localSteps,
    steps,
    sigma,
    epsilon,
    targetEpsilon: p.epsilon,
    delta: p.delta,
    accountant,
    threshold: p.threshold,
    shareMultiplier,
    ...(p.mode === 'distributed' ? { epsilonOwnShareOnly: epsilonFor({ q, sigma: shareMultiplier, steps, delta: p.delta, accountant: 'rdp' }) } : {}),
    roundEvent: { mechanism: 'gaussian', q, sigma, steps: p.localSteps },
  };
}

export interface SiteRecords {
  site: string;
  records: number;
  batchSize: number;
}

export interface RecordLevelFederationPlan {
  mode: RecordNoiseMode;
  /** Distributed mode: the one total multiplier every sum carries (the largest any site needs). */
  sigma?: number;
  /** One plan per site, in input order; each site's epsilon at the sigma it will run with. */
  sites: Array<RecordLevelPlan & { site: string }>;
}

/**
 * Plans record-level DP for every site of a federation. Local noise: each site its own
 * sigma. Distributed noise: the released sum carries ONE noise, so every site runs with
 * the largest sigma any site needs (the site with the largest q); each site's epsilon is
 * recomputed at that sigma and is at most its target.
 * @throws DpArgumentError for no sites, duplicate names, a threshold above the number of sites, or a site's invalid query.
 * @throws PrivacyBudgetError when some site's target is unreachable.
 */
export function planRecordLevelFederation(p: Omit<RecordLevelQuery, 'records' | 'batchSize'> & { sites: readonly SiteRecords[] }): RecordLevelFederationPlan {
  if (!Array.isArray(p.sites) || p.sites.length === 0) throw new DpArgumentError('sites must be a non-empty array');
  const names = new Set<string>();
  for (const s of p.sites) {
    if (typeof s?.site !== 'string' || s.site === '') throw new DpArgumentError('every site needs a non-empty name');
    if (names.has(s.site)) throw new DpArgumentError(`site ${s.site} appears twice`);
    names.add(s.site);
  }
  const mode = p.mode ?? 'local';
  if (mode === 'distributed' && p.threshold !== undefined && p.threshold > p.sites.length) {
    throw new DpArgumentError(`threshold ${p.threshold} exceeds the ${p.sites.length} sites`);
  }
  const { sites, ...common } = p;
  const own = sites.map((s) => ({ ...planRecordLevel({ ...common, records: s.records, batchSize: s.batchSize }), site: s.site }));
  if (mode === 'local') return { mode, sites: own };
  const sigma = Math.max(...own.map((s) => s.sigma));
  const plans = own.map((s) => {
    const epsilon = s.sigma === sigma ? s.epsilon : epsilonFor({ q: s.q, sigma, steps: s.steps, delta: s.delta, accountant: s.accountant });
    if (!(epsilon <= s.targetEpsilon)) throw new PrivacyBudgetError(`internal: site ${s.site} spends ${epsilon} > ${s.targetEpsilon} at the common sigma ${sigma}`);
    return { ...recordLevelPlanAt({ ...common, ...s, epsilon: s.targetEpsilon, mode, threshold: s.threshold, localSteps: s.localSteps }, sigma, epsilon, s.accountant), site: s.site };
  });
  return { mode, sigma, sites: plans };
}
