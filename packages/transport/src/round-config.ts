/**
 * The round configuration the server sends in every `roundStart` frame (as capped JSON),
 * and its validation on the client: the client checks every field before it trains or
 * masks anything, so a broken or hostile server gets a typed ERR_BAD_PAYLOAD naming the
 * field rather than a crash deep inside training.
 */
import { TransportError } from './errors.js';
import { fromHex } from './hex.js';
import { MAX_EVAL_BINS, type JsonObject } from './frames.js';

/** Quantisation without DP: the secagg quantiser (weight as coordinate 0). */
export interface QuantizeEncoding {
  kind: 'quantize';
  bits: number;
  maxClients: number;
  elementClip: number;
  l2Clip?: number;
  maxWeight: number;
}

/** Distributed discrete Gaussian (dp package): params are the dp encoder's, opaque here. */
export interface DdgEncoding {
  kind: 'ddg';
  /** The dp package's encoder parameters (JSON). */
  params: JsonObject;
  /** Hex of the 32-byte public round seed (rotation / shared randomness of the encoder). */
  roundSeed: string;
}

/**
 * The statistics round (round 0): each site sends, for its `features` raw feature columns,
 * [count, sum_1..sum_f, sumsq_1..sumsq_f] as fixed-point limbs (secagg's encodeFixedPoint);
 * the coordinator learns only their sums over the sites.
 */
export interface StatsEncoding {
  kind: 'stats';
  features: number;
  limbs: number;
  fracBits: number;
}

/**
 * An evaluation round: no training; every site evaluates the round's params (the global
 * model of round `round`) on its held-out rows. `report: 'per-site'`: it sends an
 * `evalReport` frame (plaintext, per site) and no aggregation runs. `report: 'secure'`: it
 * sends [count, correct, loss sum, positive histogram (bins), negative histogram (bins)]
 * (then, with `evalSteps`, [personal correct, personal loss sum]) as fixed-point limbs (the
 * statistics round's encoding, secagg's encodeFixedPoint) through the round's aggregation,
 * so the coordinator learns only the federation's sums.
 *
 * With `evalSteps` the site also scores its held-out rows with a personalised model: the
 * global model adapted on its training rows by the algorithm's adaptation, `evalSteps`
 * steps at `evalLr` (absent: the algorithm's innerLr, else its lr).
 */
export interface EvaluationEncoding {
  kind: 'evaluation';
  report: 'per-site' | 'secure';
  /** Score-histogram bins for AUC (binary tasks), 0 otherwise. */
  bins: number;
  limbs: number;
  fracBits: number;
  /** Adaptation steps of the personalised evaluation; absent: no personalised numbers. */
  evalSteps?: number;
  /** Adaptation lr of the personalised evaluation (only with evalSteps). */
  evalLr?: number;
}

/** Most adaptation steps a personalised evaluation may announce. */
export const MAX_EVAL_STEPS = 10_000;

/**
 * Record-level DP-SGD under SecAgg (distributed mode): each site encodes its clipped
 * gradient sum plus its discrete Gaussian noise share (the dp package's record DDG encoder).
 */
export interface RecordDdgEncoding {
  kind: 'record-ddg';
  /** The dp package's RecordDdgConfig (JSON): dim, l2Clip, noiseMultiplier, threshold, bits, scaleBits. */
  params: JsonObject;
}

export type Encoding = QuantizeEncoding | DdgEncoding | StatsEncoding | EvaluationEncoding | RecordDdgEncoding;

/**
 * Record-level DP (each record of each site is the unit): DP-SGD at every site with
 * Poisson sampling at `sampleRate`, every record's gradient clipped to `l2Clip`, noise
 * std `noiseMultiplier * l2Clip` per step; each site accounts its own records in its own
 * ledger. 'local': each site adds all the noise itself (any `localSteps`); 'distributed':
 * one step per round, each site adds a share sized for `threshold` shares, under SecAgg.
 */
export interface RecordLevelDpSettings {
  unit: 'record';
  mode: 'local' | 'distributed';
  /** The target epsilon of every site's records over the whole run. */
  epsilonBudget: number;
  delta: number;
  noiseMultiplier: number;
  l2Clip: number;
  sampleRate: number;
  /** DP-SGD steps per round (1 in distributed mode). */
  localSteps: number;
  /** The fewest noise shares in every released sum (1 in local mode). */
  threshold: number;
  /** Distributed: the released noisy gradient sum is divided by this public constant. */
  expectedBatchSize?: number;
  /** Distributed: the encoding every round uses (the model's parameter count, ring bits, gamma = l2Clip / 2^scaleBits). */
  encoding?: { dim: number; bits: number; scaleBits: number };
}

/**
 * Entries of a secure evaluation vector before fixed-point encoding: count, correct, loss
 * sum, 2 histograms, then (personalised) personal correct and personal loss sum.
 */
export function evaluationValues(bins: number, personalised = false): number {
  return 3 + 2 * bins + (personalised ? 2 : 0);
}

/** The federation's feature standardisation, from the statistics round: x' = (x - mean) / std. */
export interface Standardisation {
  mean: number[];
  std: number[];
}

export interface SecAggRoundConfig {
  sessionNonce: string;
  clientIds: number[];
  threshold: number;
  degree: number;
  mode: 'semi-honest' | 'active';
  /** Active mode: identity public key (hex) of every participant id. */
  identities?: Record<string, string>;
}

/**
 * The federation's settings as the coordinator announces them: in the welcome frame
 * (before any round) and again in every round config. A client checks them against its
 * own policy (client.policy) and refuses a federation that does not meet it.
 */
export interface FederationSettings {
  /** Rounds the federation runs in all. */
  rounds: number;
  aggregation: {
    /** The configured mode ('auto' picks secagg or secagg+ per cohort size). */
    mode: 'auto' | 'secagg' | 'secagg+' | 'plaintext';
    security: 'semi-honest' | 'active';
    /** No round starts with fewer members. */
    minClients: number;
    /** No sum of fewer inputs is unmasked or released. */
    minAggregate: number;
    /**
     * The SecAgg plan of a full cohort (absent in plaintext mode, or when not announced):
     * a round of `clients` members unmasks with `threshold` shares of every member's
     * secrets, held by all the others (`degree` 0, the complete graph) or by its `degree`
     * neighbours (SecAgg+). A round of that size announcing a lower threshold, or a sparse
     * graph where the complete one was announced, is refused by the client.
     */
    fullCohort?: { clients: number; threshold: number; degree: number };
  };
  /**
   * The data every site must bring (absent: not announced). A table: the feature columns
   * in the model's order, the label column and the class names (class id = position); a
   * tensor: the input shape and the number of classes.
   */
  data?: DataSchema;
  /**
   * 'federated-standardise': before training, a statistics round (round 0) aggregates every
   * site's feature count / sum / sum of squares under SecAgg, and every site standardises
   * its raw features with the global mean and std (sent in each later round config).
   */
  preprocessing?: 'federated-standardise';
  /**
   * Federated evaluation: after every `everyRounds`-th training round (and the last) an
   * evaluation round in which every site evaluates the new global model on its held-out
   * rows and reports `per-site` (an evalReport frame each) or `secure` (sums through
   * secure aggregation, the coordinator sees only the federation's metrics). `bins`: the
   * score histogram of binary tasks (AUC).
   */
  evaluation?: { everyRounds: number; report: 'per-site' | 'secure'; bins: number };
  /** Differential privacy, or null when the federation adds no noise. */
  dp:
    | null
    | {
        /** 'client': each site's whole update is the unit of privacy. */
        unit: 'client';
        /** The federation's whole budget. */
        epsilonBudget: number;
        delta: number;
        noiseMultiplier: number;
        l2Clip: number;
      }
    | RecordLevelDpSettings;
}

export type DataSchema =
  | { kind: 'table'; labelColumn: string; featureColumns: string[]; classNames: string[] }
  | { kind: 'tensor'; shape: number[]; numClasses: number };

function parseDataSchema(raw: unknown, where: string): DataSchema {
  const no = (field: string, want: string): never => {
    throw new TransportError('ERR_BAD_PAYLOAD', `${where}.${field}: expected ${want}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return no('(root)', 'an object');
  const d = raw as JsonObject;
  const strings = (v: unknown, field: string): string[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 256) ? (v as string[]) : no(field, 'a non-empty list of names');
  if (d.kind === 'table') {
    if (typeof d.labelColumn !== 'string' || d.labelColumn.length === 0) no('labelColumn', 'a column name');
    return { kind: 'table', labelColumn: d.labelColumn as string, featureColumns: strings(d.featureColumns, 'featureColumns'), classNames: strings(d.classNames, 'classNames') };
  }
  if (d.kind === 'tensor') {
    const shape = Array.isArray(d.shape) && d.shape.length > 0 && d.shape.every((x) => Number.isInteger(x) && (x as number) > 0) ? (d.shape as number[]) : no('shape', 'a list of positive integers');
    const numClasses = Number.isInteger(d.numClasses) && (d.numClasses as number) >= 1 ? (d.numClasses as number) : no('numClasses', 'an integer >= 1');
    return { kind: 'tensor', shape, numClasses };
  }
  return no('kind', "'table' or 'tensor'");
}

export interface RoundConfig {
  federationId: string;
  round: number;
  /** A meta ModelConfig. */
  model: JsonObject & { kind: string };
  paramCount: number;
  algorithm: { name: string; hyper: JsonObject };
  /** Seed of local batch sampling this round (clients mix in their own seed). */
  trainSeed: number;
  encoding: Encoding;
  aggregation: {
    mode: 'secagg' | 'secagg+' | 'plaintext';
    /** Length of the encoded (and masked) vector. */
    vectorLength: number;
    bits: number;
    secagg?: SecAggRoundConfig;
  };
  /** Informational: how long the server waits for training + advertise keys. */
  trainingMs: number;
  /** The federation's settings, as in the welcome frame. */
  federation: FederationSettings;
  /** The global feature standardisation (after the statistics round), when the federation uses one. */
  standardisation?: Standardisation;
}

function bad(field: string, want: string): never {
  throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.${field}: expected ${want}`);
}
function obj(v: unknown, field: string): JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(field, 'an object');
  return v as JsonObject;
}
function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `an integer in [${min}, ${max}]`);
  return v;
}
function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(field, 'a finite number > 0');
  return v;
}
function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) bad(field, 'a non-empty string');
  return v;
}

function finite(v: unknown, field: string, prefix: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TransportError('ERR_BAD_PAYLOAD', `${prefix}.${field}: expected a finite number > 0`);
  return v;
}

/**
 * Validates announced federation settings (the welcome frame's, or a round config's).
 * @param where the field path for error messages, e.g. 'welcome.settings'
 * @throws TransportError ERR_BAD_PAYLOAD naming the field
 */
export function parseFederationSettings(raw: unknown, where: string): FederationSettings {
  const no = (field: string, want: string): never => {
    throw new TransportError('ERR_BAD_PAYLOAD', `${where}.${field}: expected ${want}`);
  };
  const isObj = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
  const count = (v: unknown, field: string, min: number) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 0xffff_ffff ? v : no(field, `an integer >= ${min}`));
  if (!isObj(raw)) return no('(root)', 'an object');
  const a = raw.aggregation;
  if (!isObj(a)) return no('aggregation', 'an object');
  if (a.mode !== 'auto' && a.mode !== 'secagg' && a.mode !== 'secagg+' && a.mode !== 'plaintext') no('aggregation.mode', "'auto', 'secagg', 'secagg+' or 'plaintext'");
  if (a.security !== 'semi-honest' && a.security !== 'active') no('aggregation.security', "'semi-honest' or 'active'");
  let dp: FederationSettings['dp'] = null;
  if (raw.dp !== null) {
    const d = raw.dp;
    if (!isObj(d)) return no('dp', 'an object or null');
    if (d.unit !== 'client' && d.unit !== 'record') no('dp.unit', "'client' or 'record'");
    const common = {
      epsilonBudget: finite(d.epsilonBudget, 'dp.epsilonBudget', where),
      delta: finite(d.delta, 'dp.delta', where),
      noiseMultiplier: finite(d.noiseMultiplier, 'dp.noiseMultiplier', where),
      l2Clip: finite(d.l2Clip, 'dp.l2Clip', where),
    };
    if (d.unit === 'client') dp = { unit: 'client', ...common };
    else {
      if (d.mode !== 'local' && d.mode !== 'distributed') no('dp.mode', "'local' or 'distributed'");
      const sampleRate = finite(d.sampleRate, 'dp.sampleRate', where);
      if (sampleRate > 1) no('dp.sampleRate', 'a number in (0, 1]');
      const localSteps = count(d.localSteps, 'dp.localSteps', 1);
      const threshold = count(d.threshold, 'dp.threshold', 1);
      if (d.mode === 'distributed' && localSteps !== 1) no('dp.localSteps', '1 with distributed noise');
      if (d.mode === 'local' && threshold !== 1) no('dp.threshold', '1 with local noise');
      dp = {
        unit: 'record',
        mode: d.mode as 'local' | 'distributed',
        ...common,
        sampleRate,
        localSteps,
        threshold,
        ...(d.expectedBatchSize === undefined ? {} : { expectedBatchSize: finite(d.expectedBatchSize, 'dp.expectedBatchSize', where) }),
        ...(d.encoding === undefined
          ? {}
          : (() => {
              const e = isObj(d.encoding) ? d.encoding : no('dp.encoding', 'an object');
              return { encoding: { dim: count(e.dim, 'dp.encoding.dim', 1), bits: count(e.bits, 'dp.encoding.bits', 8), scaleBits: count(e.scaleBits, 'dp.encoding.scaleBits', 1) } };
            })()),
      };
    }
  }
  if (raw.preprocessing !== undefined && raw.preprocessing !== 'federated-standardise') no('preprocessing', "'federated-standardise' or absent");
  let evaluation: FederationSettings['evaluation'];
  if (raw.evaluation !== undefined && raw.evaluation !== null) {
    const ev = raw.evaluation;
    if (!isObj(ev)) return no('evaluation', 'an object or absent');
    if (ev.report !== 'per-site' && ev.report !== 'secure') no('evaluation.report', "'per-site' or 'secure'");
    const bins = typeof ev.bins === 'number' && Number.isInteger(ev.bins) && ev.bins >= 0 && ev.bins <= MAX_EVAL_BINS ? ev.bins : no('evaluation.bins', `an integer in [0, ${MAX_EVAL_BINS}]`);
    evaluation = { everyRounds: count(ev.everyRounds, 'evaluation.everyRounds', 1), report: ev.report as 'per-site' | 'secure', bins };
  }
  let fullCohort: NonNullable<FederationSettings['aggregation']['fullCohort']> | undefined;
  if (a.fullCohort !== undefined) {
    const f = isObj(a.fullCohort) ? a.fullCohort : no('aggregation.fullCohort', 'an object or absent');
    if (a.mode === 'plaintext') no('aggregation.fullCohort', "absent with mode 'plaintext' (nothing is masked)");
    const clients = count(f.clients, 'aggregation.fullCohort.clients', 2);
    const degree = typeof f.degree === 'number' && Number.isInteger(f.degree) && f.degree >= 0 && f.degree < clients ? f.degree : no('aggregation.fullCohort.degree', `an integer in [0, ${clients - 1}] (0: the complete graph)`);
    const holders = degree === 0 ? clients : degree + 1;
    const threshold = typeof f.threshold === 'number' && Number.isInteger(f.threshold) && f.threshold >= 2 && f.threshold <= holders ? f.threshold : no('aggregation.fullCohort.threshold', `an integer in [2, ${holders}]`);
    fullCohort = { clients, threshold, degree };
  }
  return {
    ...(evaluation ? { evaluation } : {}),
    ...(raw.data === undefined || raw.data === null ? {} : { data: parseDataSchema(raw.data, `${where}.data`) }),
    ...(raw.preprocessing === 'federated-standardise' ? { preprocessing: 'federated-standardise' as const } : {}),
    rounds: count(raw.rounds, 'rounds', 1),
    aggregation: {
      mode: a.mode as FederationSettings['aggregation']['mode'],
      security: a.security as FederationSettings['aggregation']['security'],
      minClients: count(a.minClients, 'aggregation.minClients', 2),
      minAggregate: count(a.minAggregate, 'aggregation.minAggregate', 2),
      ...(fullCohort ? { fullCohort } : {}),
    },
    dp,
  };
}

function parseStandardisation(raw: unknown): Standardisation {
  const v = obj(raw, 'standardisation');
  const list = (x: unknown, field: string, positive: boolean): number[] =>
    Array.isArray(x) && x.length > 0 && x.every((n) => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0)) ? (x as number[]) : bad(`standardisation.${field}`, `a non-empty list of finite numbers${positive ? ' > 0' : ''}`);
  const mean = list(v.mean, 'mean', false);
  const std = list(v.std, 'std', true);
  if (mean.length !== std.length) bad('standardisation.std', `as many entries as mean (${mean.length})`);
  return { mean, std };
}

/**
 * Validates a received round config against what the frame and the client know.
 * @param expected round number from the frame header, params length from the frame, federation id from the challenge
 * @throws TransportError ERR_BAD_PAYLOAD (field named), ERR_ROUND_MISMATCH, ERR_VECTOR_LENGTH
 */
export function parseRoundConfig(raw: JsonObject, expected: { round: number; paramCount: number; federationId: string; participantId: number }): RoundConfig {
  const c = obj(raw, '(root)');
  const federationId = str(c.federationId, 'federationId');
  if (federationId !== expected.federationId) bad('federationId', `'${expected.federationId}'`);
  const round = int(c.round, 'round', 0, 0xffff_ffff);
  if (round !== expected.round) throw new TransportError('ERR_ROUND_MISMATCH', `roundStart.config.round ${round} differs from the frame's round ${expected.round}`);
  const model = obj(c.model, 'model');
  str(model.kind, 'model.kind');
  const paramCount = int(c.paramCount, 'paramCount', 1, 2 ** 28);
  if (paramCount !== expected.paramCount) throw new TransportError('ERR_VECTOR_LENGTH', `roundStart.params has ${expected.paramCount} entries, config.paramCount says ${paramCount}`);
  const algorithm = obj(c.algorithm, 'algorithm');
  str(algorithm.name, 'algorithm.name');
  obj(algorithm.hyper, 'algorithm.hyper');
  const trainSeed = int(c.trainSeed, 'trainSeed', 0, 2 ** 31 - 1);
  const trainingMs = int(c.trainingMs, 'trainingMs', 1, 2 ** 31 - 1);
  const e = obj(c.encoding, 'encoding');
  let encoding: Encoding;
  if (e.kind === 'quantize') {
    encoding = {
      kind: 'quantize',
      bits: int(e.bits, 'encoding.bits', 8, 32),
      maxClients: int(e.maxClients, 'encoding.maxClients', 1, 0xffff),
      elementClip: num(e.elementClip, 'encoding.elementClip'),
      maxWeight: int(e.maxWeight, 'encoding.maxWeight', 1, 0xffff_ffff),
      ...(e.l2Clip === undefined ? {} : { l2Clip: num(e.l2Clip, 'encoding.l2Clip') }),
    };
  } else if (e.kind === 'stats') {
    encoding = {
      kind: 'stats',
      features: int(e.features, 'encoding.features', 1, 1 << 20),
      limbs: int(e.limbs, 'encoding.limbs', 2, 8),
      fracBits: int(e.fracBits, 'encoding.fracBits', 0, 126),
    };
  } else if (e.kind === 'evaluation') {
    if (e.report !== 'per-site' && e.report !== 'secure') bad('encoding.report', "'per-site' or 'secure'");
    encoding = {
      kind: 'evaluation',
      report: e.report,
      bins: int(e.bins, 'encoding.bins', 0, MAX_EVAL_BINS),
      limbs: int(e.limbs, 'encoding.limbs', 2, 8),
      fracBits: int(e.fracBits, 'encoding.fracBits', 0, 126),
      ...(e.evalSteps === undefined ? {} : { evalSteps: int(e.evalSteps, 'encoding.evalSteps', 0, MAX_EVAL_STEPS) }),
    };
    if (e.evalLr !== undefined) {
      if (e.evalSteps === undefined) bad('encoding.evalLr', 'absent without encoding.evalSteps');
      encoding.evalLr = num(e.evalLr, 'encoding.evalLr');
    }
  } else if (e.kind === 'ddg') {
    fromHex(e.roundSeed, 32, 'roundStart.config.encoding.roundSeed');
    encoding = { kind: 'ddg', params: obj(e.params, 'encoding.params'), roundSeed: e.roundSeed as string };
  } else if (e.kind === 'record-ddg') {
    encoding = { kind: 'record-ddg', params: obj(e.params, 'encoding.params') };
  } else {
    bad('encoding.kind', "'quantize', 'ddg', 'record-ddg', 'stats' or 'evaluation'");
  }
  const a = obj(c.aggregation, 'aggregation');
  if (a.mode !== 'secagg' && a.mode !== 'secagg+' && a.mode !== 'plaintext') bad('aggregation.mode', "'secagg', 'secagg+' or 'plaintext'");
  const vectorLength = int(a.vectorLength, 'aggregation.vectorLength', 1, 2 ** 28);
  const bits = int(a.bits, 'aggregation.bits', 1, 32);
  let secagg: SecAggRoundConfig | undefined;
  if (a.mode !== 'plaintext') {
    const s = obj(a.secagg, 'aggregation.secagg');
    fromHex(s.sessionNonce, 32, 'roundStart.config.aggregation.secagg.sessionNonce');
    if (!Array.isArray(s.clientIds) || s.clientIds.length < 2) bad('aggregation.secagg.clientIds', 'an array of at least 2 ids');
    const clientIds = s.clientIds.map((id, i) => int(id, `aggregation.secagg.clientIds[${i}]`, 1, 0xffff));
    if (!clientIds.includes(expected.participantId)) bad('aggregation.secagg.clientIds', `to contain this client's id ${expected.participantId}`);
    if (s.mode !== 'semi-honest' && s.mode !== 'active') bad('aggregation.secagg.mode', "'semi-honest' or 'active'");
    let identities: Record<string, string> | undefined;
    if (s.mode === 'active') {
      const ids = obj(s.identities, 'aggregation.secagg.identities');
      for (const id of clientIds) fromHex(ids[String(id)], 32, `roundStart.config.aggregation.secagg.identities.${id}`);
      identities = ids as Record<string, string>;
    }
    secagg = {
      sessionNonce: s.sessionNonce as string,
      clientIds,
      threshold: int(s.threshold, 'aggregation.secagg.threshold', 2, 0xffff),
      degree: int(s.degree, 'aggregation.secagg.degree', 0, 0xffff),
      mode: s.mode,
      ...(identities ? { identities } : {}),
    };
  }
  return {
    federationId,
    round,
    model: model as RoundConfig['model'],
    paramCount,
    algorithm: algorithm as RoundConfig['algorithm'],
    trainSeed,
    encoding,
    aggregation: { mode: a.mode, vectorLength, bits, ...(secagg ? { secagg } : {}) },
    trainingMs,
    federation: parseFederationSettings(c.federation, 'roundStart.config.federation'),
    ...(c.standardisation === undefined ? {} : { standardisation: parseStandardisation(c.standardisation) }),
  };
}
