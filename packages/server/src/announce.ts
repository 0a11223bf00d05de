/**
 * What the server announces for one round: the secagg session config (ids 1..n for the
 * cohort, a fresh session nonce, k and t from the cohort plan) and the round config
 * every member receives in its roundStart frame (transport/round-config.ts).
 */
import type { Rng, SecAggConfig } from '@fedmeta/secagg';
import { toHex, type FederationSettings, type RoundConfig } from '@fedmeta/transport';
import { planCohort, type CohortPlan } from './cohort.js';
import type { RoundEncoding } from './encoding.js';
import type { Peer } from './peer.js';
import { recordLevelSettings, type DpRoundEncoding } from './privacy.js';
import { createModel, type ModelConfig } from '@fedmeta/meta';

const paramCounts = new WeakMap<object, number>();
/** The announced model's parameter count (record-level DP's distributed encoding announces it). */
function paramCountOf(o: ResolvedServerOptions): number {
  let n = paramCounts.get(o.raw.model.config);
  if (n === undefined) paramCounts.set(o.raw.model.config, (n = createModel(o.raw.model.config as unknown as ModelConfig).paramCount));
  return n;
}
import type { ResolvedServerOptions } from './validate.js';

export interface Announcement {
  config: RoundConfig;
  secagg: SecAggConfig | null;
  /** Identity keys per secagg id (active mode only). */
  identities: Map<number, Uint8Array> | null;
}

type FullCohort = NonNullable<FederationSettings['aggregation']['fullCohort']>;
const fullCohorts = new WeakMap<object, FullCohort | null>();
/**
 * The SecAgg plan of a full cohort, as announced: as many members as a round may hold
 * (cohort.maxClients, at least the start floor, at most the active roster members when the
 * server started), planned like every round (planCohort). Null in plaintext mode or when
 * no round could hold two members.
 */
export function fullCohortPlan(o: ResolvedServerOptions): FullCohort | null {
  const known = fullCohorts.get(o);
  if (known !== undefined) return known;
  const n = Math.min(Math.max(o.cohort.maxClients, o.cohort.minClients, o.cohort.minAggregate), o.roster.active);
  const plan = n >= 2 ? planCohort(n, o.aggregation) : null;
  const planned = plan && plan.mode !== 'plaintext' ? { clients: n, threshold: plan.threshold, degree: plan.degree } : null;
  fullCohorts.set(o, planned);
  return planned;
}

/** The settings announced in every welcome frame and round config. */
export function federationSettings(o: ResolvedServerOptions): FederationSettings {
  const dp = o.raw.dp;
  const fullCohort = fullCohortPlan(o);
  return {
    ...(o.raw.dataSchema ? { data: o.raw.dataSchema } : {}),
    ...(o.raw.preprocessing?.standardise === 'federated' ? { preprocessing: 'federated-standardise' as const } : {}),
    ...(o.raw.evaluation ? { evaluation: evaluationSettings(o) } : {}),
    rounds: o.rounds,
    aggregation: { mode: o.aggregation.mode, security: o.aggregation.security, minClients: o.cohort.minClients, minAggregate: o.cohort.minAggregate, ...(fullCohort ? { fullCohort } : {}) },
    dp: !dp
      ? null
      : dp.unit === 'record'
        ? recordLevelSettings(dp, { cohort: { minClients: o.cohort.minClients, maxClients: Math.min(o.cohort.maxClients, o.roster.size) }, aggregation: o.aggregation, hyper: o.raw.algorithm.hyper }, paramCountOf(o))
        : { unit: 'client', epsilonBudget: dp.epsilonBudget, delta: dp.delta, noiseMultiplier: dp.noiseMultiplier, l2Clip: dp.l2Clip },
  };
}

/** The federated evaluation as announced (defaults filled in). */
export function evaluationSettings(o: ResolvedServerOptions): NonNullable<FederationSettings['evaluation']> {
  const e = o.raw.evaluation ?? {};
  return { everyRounds: e.everyRounds ?? 1, report: e.report ?? 'per-site', bins: e.bins ?? DEFAULT_EVAL_BINS };
}

/** Score-histogram bins of the federated AUC unless configured. */
export const DEFAULT_EVAL_BINS = 100;

export function announceRound(
  o: ResolvedServerOptions,
  round: number,
  cohort: readonly Peer[],
  plan: CohortPlan,
  encoding: RoundEncoding | DpRoundEncoding,
  paramCount: number,
  rng: Rng,
  standardisation?: { mean: number[]; std: number[] } | null,
): Announcement {
  const nonce = rng.fill(new Uint8Array(32));
  const clientIds = cohort.map((_, i) => i + 1);
  const mode = o.aggregation.security === 'active' ? 'active' : 'semi-honest';
  const identities = mode === 'active' ? new Map(cohort.map((p, i) => [i + 1, p.publicKey])) : null;
  const secagg: SecAggConfig | null =
    plan.mode === 'plaintext'
      ? null
      : { sessionNonce: nonce, clientIds, threshold: plan.threshold, bits: encoding.bits, vectorLength: encoding.vectorLength, degree: plan.degree, mode };
  const config: RoundConfig = {
    federationId: o.federationId,
    round,
    model: o.raw.model.config,
    paramCount,
    algorithm: { name: o.raw.algorithm.name, hyper: o.raw.algorithm.hyper },
    trainSeed: (o.seed * 1_000_003 + round) % 2 ** 31,
    encoding: encoding.wire,
    aggregation: {
      mode: plan.mode,
      vectorLength: encoding.vectorLength,
      bits: encoding.bits,
      ...(secagg
        ? {
            secagg: {
              sessionNonce: toHex(nonce),
              clientIds,
              threshold: plan.threshold,
              degree: plan.degree,
              mode,
              ...(identities ? { identities: Object.fromEntries([...identities].map(([id, pk]) => [String(id), toHex(pk)])) } : {}),
            },
          }
        : {}),
    },
    trainingMs: o.deadlines.trainingMs,
    federation: federationSettings(o),
    ...(standardisation ? { standardisation: { mean: standardisation.mean, std: standardisation.std } } : {}),
  };
  return { config, secagg, identities };
}
