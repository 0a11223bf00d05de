/**
 * A site's own policy: the conditions under which this institution takes part at all,
 * checked against what the coordinator announces (the welcome frame's settings, before
 * any round) and against every round config (before anything is trained or released).
 * The coordinator decides the federation's settings; the policy lets a site refuse them.
 * Whatever the policy, every round is also held to the settings the site accepted at the
 * welcome (consistencyViolations): a round whose settings copy, SecAgg plan or DP
 * parameters give less protection than announced is refused.
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

/** Aggregation modes by what they hide: 'auto' may run SecAgg+ (sparser graph) for large cohorts. */
const MODE_STRENGTH: Record<FederationSettings['aggregation']['mode'], number> = { plaintext: 0, 'secagg+': 1, auto: 2, secagg: 3 };

/**
 * How a round's own copy of the federation settings is weaker than the settings this site
 * accepted at the welcome (empty: as strong or stronger). Not a policy: every site holds
 * the coordinator to what it announced, whatever client.policy says.
 */
export function weakenedSettings(accepted: FederationSettings, now: FederationSettings, round: number): string[] {
  const v: string[] = [];
  const at = `round ${round} announces`;
  const was = accepted.aggregation;
  const is = now.aggregation;
  if (is.minClients < was.minClients) v.push(`${at} minClients ${is.minClients}, below the ${was.minClients} this site accepted`);
  if (is.minAggregate < was.minAggregate) v.push(`${at} minAggregate ${is.minAggregate}, below the ${was.minAggregate} this site accepted`);
  if (was.security === 'active' && is.security !== 'active') v.push(`${at} ${is.security} secure aggregation; this site accepted active`);
  if (MODE_STRENGTH[is.mode] < MODE_STRENGTH[was.mode]) v.push(`${at} aggregation mode ${is.mode}, weaker than the ${was.mode} this site accepted`);
  const f = was.fullCohort;
  if (f && is.mode !== 'plaintext') {
    const g = is.fullCohort;
    if (!g) v.push(`${at} no SecAgg plan; this site accepted threshold ${f.threshold} of a full cohort of ${f.clients}`);
    else if (g.clients === f.clients && (g.threshold < f.threshold || (f.degree === 0 && g.degree !== 0))) {
      v.push(`${at} threshold ${g.threshold} (degree ${g.degree}) for a full cohort of ${g.clients}; this site accepted threshold ${f.threshold} (degree ${f.degree})`);
    }
  }
  const a = accepted.dp;
  const b = now.dp;
  if (a) {
    if (!b) v.push(`${at} no differential privacy; this site accepted ${a.unit}-level DP`);
    else if (b.unit !== a.unit) v.push(`${at} ${b.unit}-level DP; this site accepted ${a.unit}-level DP`);
    else {
      if (b.epsilonBudget > a.epsilonBudget) v.push(`${at} an epsilon budget of ${b.epsilonBudget}, above the ${a.epsilonBudget} this site accepted`);
      if (b.delta > a.delta) v.push(`${at} delta ${b.delta}, above the ${a.delta} this site accepted`);
      if (b.noiseMultiplier < a.noiseMultiplier) v.push(`${at} a noise multiplier of ${b.noiseMultiplier}, below the ${a.noiseMultiplier} this site accepted`);
      if (b.l2Clip > a.l2Clip) v.push(`${at} an L2 clip of ${b.l2Clip}, above the ${a.l2Clip} this site accepted`);
      if (a.unit === 'record' && b.unit === 'record') {
        if (b.mode !== a.mode) v.push(`${at} ${b.mode} record-level noise; this site accepted ${a.mode}`);
        if (b.sampleRate > a.sampleRate) v.push(`${at} a sampling rate of ${b.sampleRate}, above the ${a.sampleRate} this site accepted`);
        if (b.localSteps > a.localSteps) v.push(`${at} ${b.localSteps} DP-SGD steps per round, more than the ${a.localSteps} this site accepted`);
        if (b.threshold > a.threshold) v.push(`${at} noise shares sized for ${b.threshold} sites, more than the ${a.threshold} this site accepted`);
      }
    }
    if (now.rounds > accepted.rounds) v.push(`${at} ${now.rounds} rounds; this site accepted ${accepted.rounds} (the DP budget is planned over them)`);
  }
  if (now.preprocessing && !accepted.preprocessing) v.push(`${at} a statistics round (federated standardisation) that was not announced when this site joined`);
  if (now.evaluation && !accepted.evaluation) v.push(`${at} federated evaluation that was not announced when this site joined`);
  else if (now.evaluation?.report === 'per-site' && accepted.evaluation?.report === 'secure') v.push(`${at} per-site evaluation reports; this site accepted secure evaluation`);
  return v;
}

/**
 * The fewest inputs, each with its noise share, in any sum a masked round can release: the
 * SecAgg protocol unmasks nothing with fewer than its threshold t, and this site's machine
 * refuses to unmask with fewer than max(the accepted and the round's minAggregate, the
 * site's own policy.minAggregate) survivors. Null in plaintext (nothing masked: the
 * coordinator sees every input, and what it releases rests on it alone).
 */
export function guaranteedShares(accepted: FederationSettings, c: RoundConfig, policy: SitePolicy): number | null {
  const s = c.aggregation.secagg;
  if (c.aggregation.mode === 'plaintext' || !s) return null;
  return Math.max(s.threshold, minSurvivors(accepted, c, policy));
}

/** The floor this site's SecAgg machine puts on a released sum (its minSurvivors). */
export function minSurvivors(accepted: FederationSettings, c: RoundConfig, policy: SitePolicy): number {
  return Math.max(2, accepted.aggregation.minAggregate, c.federation.aggregation.minAggregate, policy.minAggregate ?? 2);
}

/** A DP encoding's noise multiplier and clip against the announced ones (no lower, no higher). */
function noiseViolations(r: number, p: Record<string, unknown>, ref: { noiseMultiplier: number; l2Clip: number }): string[] {
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const z = num(p['noiseMultiplier']);
  const clip = num(p['l2Clip']);
  const v: string[] = [];
  if (z === null || z < ref.noiseMultiplier) v.push(`round ${r}'s noise multiplier ${String(p['noiseMultiplier'])} (encoding.params.noiseMultiplier) is below the announced ${ref.noiseMultiplier}`);
  if (clip === null || clip <= 0 || clip > ref.l2Clip) v.push(`round ${r}'s L2 clip ${String(p['l2Clip'])} (encoding.params.l2Clip) is above the announced ${ref.l2Clip}`);
  return v;
}

/**
 * How one round breaks what the coordinator announced and this site accepted at the
 * welcome (empty: consistent). Applied to every round whatever the site's policy: its own
 * settings copy no weaker than accepted (weakenedSettings); the SecAgg threshold of a full
 * cohort no lower than announced; a masked federation's rounds masked (per-site evaluation
 * reports aside, when announced); a statistics or evaluation round only when announced;
 * a DP federation's training rounds carrying its noise, with parameters that give no less
 * privacy than announced (distributed DP: a noise multiplier no lower, a clip no higher, no
 * per-client noise override, noise shares sized for no more sites than any released sum
 * is sure to hold, no round beyond the announced rounds).
 * @param policy only `minAggregate` is read: this site's own floor on a released sum
 */
export function consistencyViolations(accepted: FederationSettings, c: RoundConfig, policy: SitePolicy = {}): string[] {
  const v = weakenedSettings(accepted, c.federation, c.round);
  const r = c.round;
  const e = c.encoding;
  const a = c.aggregation;
  const s = a.secagg;
  const perSiteEvaluation = e.kind === 'evaluation' && e.report === 'per-site';
  if (accepted.aggregation.mode !== 'plaintext' && a.mode === 'plaintext' && !perSiteEvaluation) v.push(`round ${r} is aggregated in plaintext; this site accepted ${accepted.aggregation.mode}`);
  if (accepted.aggregation.mode === 'secagg' && a.mode === 'secagg+') v.push(`round ${r} runs SecAgg+ (a sparse graph); this site accepted secagg (the complete graph)`);
  if (accepted.aggregation.security === 'active' && s && s.mode !== 'active') v.push(`round ${r} runs ${s.mode} secure aggregation; this site accepted active`);
  if (s && s.clientIds.length < accepted.aggregation.minClients) v.push(`round ${r} has a cohort of ${s.clientIds.length}, below the announced minClients ${accepted.aggregation.minClients}`);
  const f = accepted.aggregation.fullCohort;
  if (f && s && s.clientIds.length === f.clients) {
    if (s.threshold < f.threshold) v.push(`round ${r} unmasks its cohort of ${f.clients} with threshold ${s.threshold}, below the announced ${f.threshold}`);
    if (f.degree === 0 && s.degree !== 0) v.push(`round ${r} masks its cohort of ${f.clients} over a graph of degree ${s.degree}; the complete graph was announced`);
  }
  if (e.kind === 'stats' && accepted.preprocessing !== 'federated-standardise') v.push(`round ${r} is a statistics round that was not announced when this site joined`);
  if (e.kind === 'evaluation') {
    if (!accepted.evaluation) v.push(`round ${r} is an evaluation round that was not announced when this site joined`);
    else if (e.report === 'per-site' && accepted.evaluation.report === 'secure') v.push(`round ${r} asks for a per-site evaluation report; this site accepted secure evaluation`);
  }
  const dp = accepted.dp;
  if (dp && (e.kind === 'quantize' || e.kind === 'ddg' || e.kind === 'record-ddg')) {
    const want = dp.unit === 'client' ? 'ddg' : dp.mode === 'local' ? 'quantize' : 'record-ddg';
    if (e.kind !== want) v.push(`round ${r} encodes with ${e.kind}; the ${dp.unit}-level DP this site accepted${dp.unit === 'record' ? ` (${dp.mode} noise)` : ''} encodes with ${want}`);
  }
  if ((e.kind === 'ddg' || e.kind === 'record-ddg') && r > accepted.rounds) v.push(`round ${r} is beyond the ${accepted.rounds} rounds announced (the DP budget covers those)`);
  const shares = guaranteedShares(accepted, c, policy);
  if (e.kind === 'ddg') {
    const ref = dp?.unit === 'client' ? dp : c.federation.dp?.unit === 'client' ? c.federation.dp : null;
    const p = e.params as Record<string, unknown>;
    if (!ref) v.push(`round ${r} encodes with client-level DP noise (ddg) that the federation did not announce`);
    else {
      const n = p['numClients'];
      if (p['localNoiseStddev'] !== undefined || p['noiseStddevPerClient'] !== undefined) {
        v.push(`round ${r} sets each site's noise directly (encoding.params.localNoiseStddev / noiseStddevPerClient) instead of the announced noise multiplier ${ref.noiseMultiplier}`);
      }
      v.push(...noiseViolations(r, p, ref));
      if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1)) v.push(`round ${r}'s encoding.params.numClients ${String(n)}: expected an integer >= 1`);
      else if (shares !== null && n > shares) {
        v.push(`round ${r} sizes each site's noise for ${n} shares (encoding.params.numClients), but a released sum is only sure to hold ${shares} (the SecAgg threshold ${s!.threshold}, the floor ${minSurvivors(accepted, c, policy)} on survivors): the released noise could fall below the announced noise multiplier`);
      }
    }
  }
  if (e.kind === 'record-ddg') {
    const ref = dp?.unit === 'record' ? dp : c.federation.dp?.unit === 'record' ? c.federation.dp : null;
    const p = e.params as Record<string, unknown>;
    if (!ref || ref.mode !== 'distributed') v.push(`round ${r} encodes with distributed record-level noise (record-ddg) that the federation did not announce`);
    else {
      const t = p['threshold'];
      v.push(...noiseViolations(r, p, ref));
      if (!(typeof t === 'number' && Number.isInteger(t) && t >= 1)) v.push(`round ${r}'s encoding.params.threshold ${String(t)}: expected an integer >= 1`);
      else {
        if (t > ref.threshold) v.push(`round ${r} sizes each site's noise share for ${t} sites (encoding.params.threshold), more than the announced ${ref.threshold}`);
        if (shares === null) v.push(`round ${r} sends distributed record-level noise shares in plaintext (they need SecAgg)`);
        else if (t > shares) v.push(`round ${r} sizes each site's noise share for ${t} sites (encoding.params.threshold), but a released sum is only sure to hold ${shares}`);
      }
    }
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
  const f = a.fullCohort;
  const plan = !f
    ? ''
    : f.degree === 0
      ? `, SecAgg threshold ${f.threshold} of ${f.clients} in a full cohort of ${f.clients}`
      : `, SecAgg+ threshold ${f.threshold} of ${f.degree + 1} (each member and its ${f.degree} neighbours) in a full cohort of ${f.clients}`;
  return `${a.mode} ${a.security}, rounds of >= ${a.minClients} members, sums of >= ${a.minAggregate} inputs, ${dp}, ${s.rounds} rounds${plan}`;
}
