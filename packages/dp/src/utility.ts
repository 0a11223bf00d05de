/**
 * What a DP setting does to the signal: the expected noise-to-signal ratio of the noisy
 * sums a federation releases, and a warning when the noise dominates.
 *
 * Model (both units of privacy): one release is a noisy sum
 *   S = x_1 + ... + x_m + N(0, (z C)^2 I_d),   every ||x_i||_2 <= C,
 * where z is the noise multiplier, C the clipping norm, d the dimension and m the number
 * of clipped contributions in the sum:
 *   - client-level DP: m = the sites whose (whole, clipped) updates are summed in a round;
 *   - record-level DP-SGD, noise added locally: m = the expected Poisson batch B = q N of one
 *     site's step (each step is one site's own noisy sum);
 *   - record-level DP-SGD, distributed noise under SecAgg: m = sites x B (one step is the
 *     secure sum of every site's batch; the shares add up to z C).
 *
 * Definitions (all scale-free: C cancels):
 *   perRelease   = E||N(0,(zC)^2 I_d)||_2 / (m C) = z kappa_d / m,
 *                  kappa_d = E||N(0, I_d)||_2 = sqrt(2) Gamma((d+1)/2) / Gamma(d/2) ~ sqrt(d - 1/2).
 *                  Since ||x_1 + ... + x_m|| <= m C, this is a LOWER bound on the real ratio:
 *                  real updates are shorter than the clip and point in different directions.
 *   perCoordinate = z sqrt(d) / m: the noise std of one coordinate (z C) against the largest
 *                  possible root-mean-square coordinate of the signal (m C / sqrt(d)); equal to
 *                  perRelease up to kappa_d / sqrt(d) (-> 1 as d grows).
 *   perDirection = z / m: the noise std along any one fixed direction (e.g. the true
 *                  gradient's) against the largest signal; independent of d.
 *   overRun      = perRelease / sqrt(k) for k independent releases of the same kind whose
 *                  sum is what training accumulates (rounds for client-level; sites x steps
 *                  for local record-level; steps for distributed record-level): the noise
 *                  of k releases has expected norm sqrt(k) z C kappa_d, their signal at
 *                  most k m C. The most favourable case: every release's signal aligned.
 * Levels: 'signal' (perRelease <= 1), 'noisy' (perRelease > 1 but overRun <= 1: each
 * release is mostly noise, learning relies on averaging over the run), 'dominated'
 * (overRun > 1: even summed over the whole run, in the most favourable case, the noise is
 * larger than the signal; expect little better than an untrained model).
 */
import { checkNumber, DpArgumentError } from './errors.js';

/** E||X||_2 for X ~ N(0, I_d): exact recurrence up to d = 256, asymptotic series (error < 1e-14) above. */
export function expectedGaussianNorm(dim: number): number {
  const d = checkNumber('dim', dim, { min: 1, integer: true });
  if (d <= 256) {
    // kappa_1 = sqrt(2/pi), kappa_2 = sqrt(pi/2), kappa_{j+2} = kappa_j (j+1)/j.
    let k = d % 2 === 1 ? Math.sqrt(2 / Math.PI) : Math.sqrt(Math.PI / 2);
    for (let j = d % 2 === 1 ? 1 : 2; j < d; j += 2) k *= (j + 1) / j;
    return k;
  }
  // sqrt(2) Gamma(x + 1/2) / Gamma(x) at x = d/2.
  return Math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (32 * d * d) + 5 / (128 * d ** 3) - 21 / (2048 * d ** 4));
}

export type PrivacyUnit = 'client' | 'record';
export type RecordNoiseMode = 'local' | 'distributed';

/** Client-level DP: each site's whole update (clipped to C) is the unit; central noise z C per round. */
export interface ClientLevelSetting {
  unit: 'client';
  /** z: the released sum's noise std per coordinate is z * C (the server's central std; a lower bound when more than the planned sites survive). */
  noiseMultiplier: number;
  /** Sites whose updates are summed in one round (the largest cohort: the most favourable signal). */
  sites: number;
  /** Model dimension (parameter count). */
  dim: number;
  /** Rounds of the run. */
  rounds: number;
}

/** Record-level DP-SGD: each record's gradient (clipped to C) is the unit; noise sigma * C per step. */
export interface RecordLevelSetting {
  unit: 'record';
  /** 'local': each site adds all of sigma * C to its own step; 'distributed': the sites' shares sum to sigma * C in the secure sum. */
  mode: RecordNoiseMode;
  /** sigma: the total noise std per coordinate of one step is sigma * C. */
  noiseMultiplier: number;
  /** Expected Poisson batch size q * N of one site's step. */
  batchSize: number;
  /** Sites training (default 1). */
  sites?: number;
  dim: number;
  /** DP-SGD steps of one site over the run (local steps x rounds). */
  steps: number;
}

export type UtilitySetting = ClientLevelSetting | RecordLevelSetting;

export type UtilityLevel = 'signal' | 'noisy' | 'dominated';

export interface NoiseToSignal {
  unit: PrivacyUnit;
  mode?: RecordNoiseMode;
  noiseMultiplier: number;
  dim: number;
  /** m: clipped contributions in one release. */
  contributions: number;
  /** k: independent releases whose sum training accumulates. */
  releases: number;
  /** Expected L2 norm of one release's noise, in units of the clip C (z * kappa_d). */
  noiseNorm: number;
  /** Largest L2 norm of one release's signal, in units of C (m). */
  maxSignalNorm: number;
  perRelease: number;
  perCoordinate: number;
  perDirection: number;
  overRun: number;
  level: UtilityLevel;
  /** The setting this was computed from (for the warning's wording). */
  setting: UtilitySetting;
}

function levelOf(perRelease: number, overRun: number): UtilityLevel {
  if (overRun > 1) return 'dominated';
  if (perRelease > 1) return 'noisy';
  return 'signal';
}

/**
 * Expected noise-to-signal ratios of a DP setting (definitions in the module comment).
 * @throws DpArgumentError for a non-positive multiplier, dimension, count or step number.
 */
export function noiseToSignal(setting: UtilitySetting): NoiseToSignal {
  if (setting === null || typeof setting !== 'object') throw new DpArgumentError('setting must be an object');
  if (setting.unit !== 'client' && setting.unit !== 'record') throw new DpArgumentError(`unit must be 'client' or 'record', got ${String((setting as { unit?: unknown }).unit)}`);
  const z = checkNumber('noiseMultiplier', setting.noiseMultiplier, { min: 0, minExclusive: true });
  const dim = checkNumber('dim', setting.dim, { min: 1, integer: true });
  let m: number;
  let k: number;
  if (setting.unit === 'client') {
    m = checkNumber('sites', setting.sites, { min: 1, integer: true });
    k = checkNumber('rounds', setting.rounds, { min: 1, integer: true });
  } else if (setting.unit === 'record') {
    const b = checkNumber('batchSize', setting.batchSize, { min: 0, minExclusive: true });
    const n = checkNumber('sites', setting.sites ?? 1, { min: 1, integer: true });
    const steps = checkNumber('steps', setting.steps, { min: 1, integer: true });
    if (setting.mode === 'local') {
      m = b;
      k = n * steps;
    } else if (setting.mode === 'distributed') {
      m = n * b;
      k = steps;
    } else {
      throw new DpArgumentError(`mode must be 'local' or 'distributed', got ${String((setting as { mode?: unknown }).mode)}`);
    }
  } else {
    throw new DpArgumentError(`unit must be 'client' or 'record', got ${String((setting as { unit?: unknown }).unit)}`);
  }
  const kappa = expectedGaussianNorm(dim);
  const perRelease = (z * kappa) / m;
  const overRun = perRelease / Math.sqrt(k);
  return {
    unit: setting.unit,
    ...(setting.unit === 'record' ? { mode: setting.mode } : {}),
    noiseMultiplier: z,
    dim,
    contributions: m,
    releases: k,
    noiseNorm: z * kappa,
    maxSignalNorm: m,
    perRelease,
    perCoordinate: (z * Math.sqrt(dim)) / m,
    perDirection: z / m,
    overRun,
    level: levelOf(perRelease, overRun),
    setting,
  };
}

function fmt(x: number): string {
  if (!Number.isFinite(x) || (Number.isInteger(x) && Math.abs(x) < 1e5)) return String(x);
  if (x >= 1e5 || x < 1e-3) return x.toExponential(2);
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3);
}

/**
 * Sites per round that would bring a client-level setting's overRun ratio to 1 at the same
 * noise multiplier (z kappa_d / sqrt(rounds)); the multiplier itself barely moves with the
 * number of sites when every site takes part in every round (q = 1).
 */
export function sitesForClientLevelSignal(r: NoiseToSignal): number {
  if (r.unit !== 'client') throw new DpArgumentError('sitesForClientLevelSignal needs a client-level result');
  return Math.ceil(r.noiseNorm / Math.sqrt(r.releases));
}

/**
 * The warning to show an operator when the noise dominates (level 'dominated'), else
 * undefined. One paragraph; it states the ratio, what it means and what to change.
 * Accepts a setting or the result of noiseToSignal.
 */
export function utilityWarning(input: UtilitySetting | NoiseToSignal): string | undefined {
  const r = 'perRelease' in input ? input : noiseToSignal(input);
  if (r.level !== 'dominated') return undefined;
  if (r.unit === 'client') {
    const s = r.setting as ClientLevelSetting;
    return (
      `WARNING: client-level DP noise dominates: each round adds noise of expected norm ${fmt(r.noiseNorm)} x clip ` +
      `(noise multiplier ${fmt(r.noiseMultiplier)}, ${r.dim} parameters) to a sum of ${s.sites} site update(s) of norm at most ${s.sites} x clip: ` +
      `noise-to-signal >= ${fmt(r.perRelease)} per round and still >= ${fmt(r.overRun)} summed over all ${s.rounds} rounds, even if every round's signal pointed the same way. ` +
      `Expect a large loss of accuracy: a model with many parameters learns little or nothing (near chance); a very small one (e.g. logistic regression) may keep part of its accuracy. ` +
      `Protect records instead of whole sites (record-level DP-SGD at each site; \`fedmeta dp plan --unit record\` plans it), ` +
      `or federate many more sites per round (about ${sitesForClientLevelSignal(r)} to bring the ratio over the run to 1 at this noise), or accept a larger epsilon knowingly.`
    );
  }
  const s = r.setting as RecordLevelSetting;
  const sum = r.mode === 'distributed' ? `the secure sum of ${s.sites ?? 1} site(s)' batches (${fmt(r.maxSignalNorm)} records expected)` : `a batch of ${fmt(r.maxSignalNorm)} records expected`;
  return (
    `WARNING: record-level DP noise dominates: each DP-SGD step adds noise of expected norm ${fmt(r.noiseNorm)} x clip ` +
    `(noise multiplier ${fmt(r.noiseMultiplier)}, ${r.dim} parameters) to ${sum}, each record's gradient clipped to norm <= clip: ` +
    `noise-to-signal >= ${fmt(r.perRelease)} per step and still >= ${fmt(r.overRun)} over all ${r.releases} noisy sums of the run in the most favourable case. ` +
    `At a fixed epsilon this ratio falls with more records per site, more sites${r.mode === 'local' ? ', distributed noise under secure aggregation (all sites\' batches share one noise)' : ''}, ` +
    `larger batches (while the noise multiplier is near its floor of about 1) and a smaller model; or accept a larger epsilon knowingly.`
  );
}
