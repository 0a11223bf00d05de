/**
 * A site's own policy: the conditions under which this institution takes part at all,
 * checked against what the coordinator announces (the welcome frame's settings, before
 * any round) and against every round config (before anything is trained or released).
 * The coordinator decides the federation's settings; the policy lets a site refuse them.
 * Pure functions: the client turns a non-empty list of violations into ERR_POLICY_REFUSED.
 */
import type { FederationSettings, RoundConfig } from '@fedmeta/transport';

export interface SitePolicy {
  /** Refuse a federation that adds no differential-privacy noise. */
  requireDp?: boolean;
  /** Refuse a federation whose whole announced epsilon budget exceeds this (or that has no DP). */
  maxEpsilon?: number;
  /** Refuse a federation that may run rounds with fewer members, and any such round. */
  minCohort?: number;
  /**
   * This site's floor on a released sum: in every round its secagg machine refuses to
   * reveal unmasking shares when fewer inputs survive (the round then releases nothing),
   * whatever floor the federation announced.
   */
  minAggregate?: number;
  /** 'active': refuse semi-honest secure aggregation; 'semi-honest': either mode is fine. */
  requireSecurity?: 'semi-honest' | 'active';
  /** Refuse plaintext aggregation (the coordinator would see this site's update). */
  requireSecAgg?: boolean;
  /**
   * 'secure': this site's evaluation of the global model leaves it only inside a secure
   * sum (an evaluation round with `report: 'secure'`); it never sends a per-site report and
   * refuses a federation, or a round, that asks for one. 'per-site' (default): either is fine.
   */
  evaluation?: 'per-site' | 'secure';
  /**
   * Accept the statistics round of federated standardisation (its feature count / sum /
   * sum of squares leave the site only inside a secure sum, but without DP noise) in a
   * federation whose training is DP. Without it, a site with requireDp or maxEpsilon
   * refuses such a federation when it is announced, before anything is sent.
   */
  allowStatistics?: boolean;
}

/** Whether a policy asks for DP on everything the site releases (requireDp or maxEpsilon). */
const wantsDp = (policy: SitePolicy): boolean => policy.requireDp === true || policy.maxEpsilon !== undefined;

/** Violations of `policy` by the federation's announced settings (empty: accepted). */
export function settingsViolations(policy: SitePolicy, s: FederationSettings): string[] {
  const v: string[] = [];
  if (policy.requireDp && !s.dp) v.push('requireDp: the federation adds no differential-privacy noise (dp off)');
  if (policy.maxEpsilon !== undefined) {
    if (!s.dp) v.push(`maxEpsilon ${policy.maxEpsilon}: the federation has no DP budget (dp off, epsilon unbounded)`);
    else if (s.dp.epsilonBudget > policy.maxEpsilon) v.push(`maxEpsilon ${policy.maxEpsilon}: the federation's epsilon budget is ${s.dp.epsilonBudget}`);
  }
  if (policy.minCohort !== undefined && s.aggregation.minClients < policy.minCohort) {
    v.push(`minCohort ${policy.minCohort}: the federation may run rounds with ${s.aggregation.minClients} members (server.minClients)`);
  }
  if (policy.requireSecurity === 'active' && s.aggregation.security !== 'active') v.push(`requireSecurity active: the federation runs ${s.aggregation.security} secure aggregation`);
  if (policy.requireSecAgg && s.aggregation.mode === 'plaintext') v.push('requireSecAgg: the federation aggregates in plaintext (the coordinator would see every update)');
  if (wantsDp(policy) && !policy.allowStatistics && s.dp && s.preprocessing === 'federated-standardise') {
    v.push(
      `${policy.requireDp ? 'requireDp' : `maxEpsilon ${policy.maxEpsilon}`}: the federation's statistics round (federated standardisation) releases the sites' feature sums without DP noise; accept it with client.policy.allowStatistics: true, or the coordinator sets data.standardise: false`,
    );
  }
  if (policy.evaluation === 'secure' && s.evaluation?.report === 'per-site') v.push("evaluation secure: the federation asks every site for a per-site evaluation report (server evaluation.report 'per-site')");
  return v;
}

/**
 * Violations of `policy` by an evaluation round (no update is trained or released: the
 * DP-encoding checks of roundViolations do not apply; evaluation metrics are outside the
 * DP guarantee, like the statistics round). A per-site report is refused under
 * `evaluation: 'secure'`; a secure evaluation round is held to the cohort and aggregation
 * checks of a training round.
 */
export function evaluationViolations(policy: SitePolicy, c: RoundConfig): string[] {
  const v = settingsViolations(policy, c.federation);
  if (c.encoding.kind !== 'evaluation') return v;
  if (c.encoding.report === 'per-site') {
    if (policy.evaluation === 'secure') v.push(`evaluation secure: round ${c.round} asks this site for a per-site evaluation report`);
    return v;
  }
  const a = c.aggregation;
  const cohort = a.secagg?.clientIds.length;
  if ((policy.requireSecAgg || policy.evaluation === 'secure') && a.mode === 'plaintext') v.push(`${policy.evaluation === 'secure' ? 'evaluation secure' : 'requireSecAgg'}: the evaluation of round ${c.round} is aggregated in plaintext`);
  if (policy.requireSecurity === 'active' && a.secagg && a.secagg.mode !== 'active') v.push(`requireSecurity active: the evaluation of round ${c.round} runs ${a.secagg.mode} secure aggregation`);
  if (policy.minCohort !== undefined && cohort !== undefined && cohort < policy.minCohort) v.push(`minCohort ${policy.minCohort}: the evaluation of round ${c.round} has a cohort of ${cohort}`);
  if (cohort !== undefined && cohort < c.federation.aggregation.minAggregate) v.push(`the evaluation of round ${c.round} has a cohort of ${cohort}, below the federation's own announced floor of ${c.federation.aggregation.minAggregate}`);
  return v;
}

/** Violations of `policy` by one round's config, including its own copy of the settings. */
export function roundViolations(policy: SitePolicy, c: RoundConfig): string[] {
  const v = settingsViolations(policy, c.federation);
  const a = c.aggregation;
  const cohort = a.secagg?.clientIds.length;
  if (policy.requireSecAgg && a.mode === 'plaintext') v.push(`requireSecAgg: round ${c.round} is aggregated in plaintext`);
  if (a.mode !== 'plaintext' && a.mode !== 'secagg' && a.mode !== 'secagg+') v.push(`round ${c.round}: unknown aggregation mode`);
  const recordLevel = c.federation.dp?.unit === 'record' && (c.federation.dp.mode === 'local' ? c.encoding.kind === 'quantize' : c.encoding.kind === 'record-ddg');
  const allowedStatistics = c.encoding.kind === 'stats' && policy.allowStatistics === true;
  if (wantsDp(policy) && c.encoding.kind !== 'ddg' && !recordLevel && !allowedStatistics) v.push(`requireDp: round ${c.round} carries no DP noise (encoding ${c.encoding.kind})`);
  if (policy.requireSecurity === 'active' && a.secagg && a.secagg.mode !== 'active') v.push(`requireSecurity active: round ${c.round} runs ${a.secagg.mode} secure aggregation`);
  if (policy.minCohort !== undefined && cohort !== undefined && cohort < policy.minCohort) v.push(`minCohort ${policy.minCohort}: round ${c.round} has a cohort of ${cohort}`);
  if (cohort !== undefined && cohort < c.federation.aggregation.minAggregate) {
    v.push(`round ${c.round} has a cohort of ${cohort}, below the federation's own announced floor of ${c.federation.aggregation.minAggregate}`);
  }
  return v;
}

/** Checks a policy's own fields. @returns the first problem, or null */
export function policyProblem(p: SitePolicy): string | null {
  if (p === null || typeof p !== 'object') return 'policy: expected an object';
  for (const k of ['requireDp', 'requireSecAgg', 'allowStatistics'] as const) if (p[k] !== undefined && typeof p[k] !== 'boolean') return `policy.${k}: expected a boolean`;
  if (p.maxEpsilon !== undefined && !(typeof p.maxEpsilon === 'number' && Number.isFinite(p.maxEpsilon) && p.maxEpsilon > 0)) return 'policy.maxEpsilon: expected a finite number > 0';
  for (const k of ['minCohort', 'minAggregate'] as const) {
    const n = p[k];
    if (n !== undefined && !(Number.isInteger(n) && n >= 2)) return `policy.${k}: expected an integer >= 2`;
  }
  if (p.requireSecurity !== undefined && p.requireSecurity !== 'semi-honest' && p.requireSecurity !== 'active') return "policy.requireSecurity: expected 'semi-honest' or 'active'";
  if (p.evaluation !== undefined && p.evaluation !== 'per-site' && p.evaluation !== 'secure') return "policy.evaluation: expected 'per-site' or 'secure'";
  return null;
}

/** Notes (not refusals) on how this site's policy will act in the announced federation. */
export function settingsNotes(policy: SitePolicy, s: FederationSettings): string[] {
  const notes: string[] = [];
  if (policy.minAggregate !== undefined && s.aggregation.minAggregate < policy.minAggregate) {
    notes.push(
      `the federation releases sums of ${s.aggregation.minAggregate} or more inputs; this site refuses to unmask rounds with fewer than ${policy.minAggregate} surviving inputs (client.policy.minAggregate), which then abort`,
    );
  }
  return notes;
}

/** One line for a console: the settings a client accepted. */
export function describeSettings(s: FederationSettings): string {
  const a = s.aggregation;
  const dp = !s.dp
    ? 'DP off'
    : s.dp.unit === 'record'
      ? `DP record-level (DP-SGD, ${s.dp.mode} noise), epsilon ${s.dp.epsilonBudget} per site (delta ${s.dp.delta}, noise multiplier ${s.dp.noiseMultiplier.toFixed(3)}, clip ${s.dp.l2Clip}, sampling rate ${s.dp.sampleRate})`
      : `DP ${s.dp.unit}-level, epsilon budget ${s.dp.epsilonBudget} (delta ${s.dp.delta}, noise multiplier ${s.dp.noiseMultiplier.toFixed(3)}, clip ${s.dp.l2Clip})`;
  return `${a.mode} ${a.security}, rounds of >= ${a.minClients} members, sums of >= ${a.minAggregate} inputs, ${dp}, ${s.rounds} rounds`;
}
