/**
 * The server's public options, handle, events and progress records. Options are plain
 * objects (the CLI maps its config file onto them); keys are bytes, never file paths.
 */
import type { Rng } from '@fedmeta/secagg';
import type { DataSchema, Limits } from '@fedmeta/transport';
import type { BackendPreference } from '@fedmeta/meta';
import type { Clock } from './clock.js';
import type { DashboardOptions } from './dashboard/console.js';

/** One allowed institution. */
export interface RosterEntry {
  /** Human-readable name, shown in logs and the welcome frame. */
  name: string;
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** A revoked key is refused with ERR_AUTH_REVOKED. */
  revoked?: boolean;
}

/** The model, as a serialisable config of the meta package (sent to every client). */
export interface ModelOptions {
  /** A meta `ModelConfig`, e.g. { kind: 'mlp', inputShape: [784], hidden: [32], numClasses: 10 }. */
  config: { kind: string } & Record<string, unknown>;
  /** Starting parameters; default: the spec's seeded He initialisation. */
  initialParams?: Float32Array;
}

/** Local training every client runs per round (sent to every client). */
export interface AlgorithmOptions {
  /** A meta algorithm name: 'fedavg' | 'fedavg-ft' | 'reptile' | 'fomaml' | 'maml' | 'perfedavg-fo' | 'perfedavg-hf' | 'protonets'. */
  name: string;
  /** A meta LocalHyper: { localSteps, batchSize, lr, innerLr?, innerSteps?, hvpRadius? }. */
  hyper: { localSteps: number; batchSize: number; lr: number } & Record<string, unknown>;
}

/** The server-side meta-optimiser applying the aggregated mean update. */
export interface OptimizerOptions {
  /** sgd (with momentum: FedAvgM), adam (FedAdam), adagrad (FedAdagrad), yogi (FedYogi). */
  kind: 'sgd' | 'adam' | 'adagrad' | 'yogi';
  /** Server learning rate; 1 with SGD is plain FedAvg averaging. */
  lr: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  momentum?: number;
}

export type AggregationMode =
  /** SecAgg+ (k-regular graph) when the cohort has at least `plusFromClients`, else classic SecAgg. */
  | 'auto'
  /** Classic SecAgg: complete graph. */
  | 'secagg'
  /** SecAgg+: (k, t) from the parameter finder for the cohort size. */
  | 'secagg+'
  /** No masking at all: clients send their encoded input in the clear (bench baseline only). */
  | 'plaintext';

export interface AggregationOptions {
  /** Default 'auto'. */
  mode?: AggregationMode;
  /** 'semi-honest' (default) or 'active' (signed key advertisements, consistency check). */
  security?: 'semi-honest' | 'active';
  /** Cohort size from which 'auto' uses SecAgg+; default 16. */
  plusFromClients?: number;
  /** Expected dropout fraction for the parameter finder; default 0.1. */
  dropoutFraction?: number;
  /** Assumed corrupt fraction for the parameter finder; default 0.05. */
  corruptFraction?: number;
  /** Override the threshold t (classic SecAgg default: floor(2n/3)+1, at least 2). */
  threshold?: number;
  /** Override the SecAgg+ graph degree k (even, >= 2); default from the parameter finder. */
  degree?: number;
  /** Ring size 2^bits; default 32 without DP, the DP encoder's bits with DP. */
  bits?: number;
  /** Quantisation (no-DP path): clip bounds of the update; default elementClip 1, l2Clip none. */
  elementClip?: number;
  l2Clip?: number;
  /** Largest per-client weight (example count is capped to it); default 10000. */
  maxWeight?: number;
}

/** Distributed DP (discrete Gaussian added by clients, accounted by the server). */
export interface DpOptions {
  /** L2 clip of each client's update. */
  l2Clip: number;
  /** Noise multiplier z: central std of the summed noise = z * l2Clip. */
  noiseMultiplier: number;
  /** Ring bits of the DDG encoding (default 16 per the paper; 32 is safest). */
  bits?: number;
  /** delta of the (eps, delta) guarantee. */
  delta: number;
  /** Hard budget: the server stops (BudgetExceededError) before a release that would exceed it. */
  epsilonBudget: number;
  /** Path of the crash-safe ledger file (fsync'd); default <checkpointDir>/ledger.json. */
  ledgerPath?: string;
  /**
   * Unit of privacy: 'client' (default: each site's whole update; the server's ledger) or
   * 'record' (each record of each site: DP-SGD at every site, each site accounts its own
   * records in its own ledger; `record` then says how, and `noiseMultiplier` is the DP-SGD
   * sigma, `l2Clip` the per-record clip C and `epsilonBudget` the per-site target).
   */
  unit?: 'client' | 'record';
  record?: RecordDpOptions;
}

/** Record-level DP settings (dp.unit 'record'), announced to every site. */
export interface RecordDpOptions {
  /** 'local': each site adds all the noise itself; 'distributed': shares under SecAgg, one DP-SGD step per round. */
  mode: 'local' | 'distributed';
  /** q: the Poisson sampling rate of every site's records per step. */
  sampleRate: number;
  /** Local mode: DP-SGD steps per round (default the algorithm's localSteps, else 1). Distributed: 1. */
  localSteps?: number;
  /**
   * Distributed: t, the fewest noise shares in every released sum; default (and at most)
   * the smallest SecAgg threshold over the cohort sizes the server may run.
   */
  threshold?: number;
  /**
   * Distributed (required there): the released noisy sum of clipped gradients is divided by
   * this public constant B (e.g. sampleRate x the federation's expected records) and the
   * step is -lr x sum / B (lr: the algorithm's).
   */
  expectedBatchSize?: number;
}

/** Per-phase deadlines (ms). Clients that miss one are dropped from the round, which goes on. */
export interface DeadlineOptions {
  /** Handshake: connect -> auth. Default 10 s. */
  authMs?: number;
  /**
   * Once `cohort.minClients` are connected, how long to wait for the rest of the roster
   * before starting the round anyway (a round starts at once when every non-revoked roster
   * member is connected). Below minClients the server waits indefinitely. Default 60 s.
   */
  waitForClientsMs?: number;
  /** Local training + advertise keys. Default 120 s (clients send progress heartbeats meanwhile). */
  trainingMs?: number;
  /**
   * While training, the longest a cohort member may go without showing progress (a
   * `progress` frame or its first SecAgg message; heartbeats and partial frames do not
   * count) before it is dropped from the round. Default 30 s (clients training in a
   * worker send progress every 2 s).
   */
  progressMs?: number;
  /** Every later secagg phase. Default 30 s each. */
  shareKeysMs?: number;
  maskedInputMs?: number;
  consistencyMs?: number;
  unmaskingMs?: number;
}

/** What happens to members that miss deadlines or go silent (they slow every round). */
export interface StragglerOptions {
  /**
   * Rounds a member is left out of cohorts after its first missed deadline; each further
   * miss in a row doubles it, up to maxBenchRounds. 0 disables benching. Default 1.
   */
  benchRounds?: number;
  /** Cap on the bench period (rounds); default 8. */
  maxBenchRounds?: number;
}

/**
 * Limits on TCP connections before the WebSocket upgrade (and authentication): a stranger
 * cannot hold sockets open, drip headers, or exhaust the coordinator's file descriptors.
 */
export interface ConnectionOptions {
  /** Most simultaneous TCP connections in all (authenticated ones included); default 1024. */
  max?: number;
  /** Most simultaneous connections from one remote address; default 64. */
  perAddress?: number;
  /** A connection that sends nothing for this long before its upgrade is closed; default 10 s. */
  idleTimeoutMs?: number;
  /** The request headers (up to the upgrade) must arrive within this; default 10 s. */
  headersTimeoutMs?: number;
}

export interface HeartbeatOptions {
  /** ws ping interval; default 5 s. */
  intervalMs?: number;
  /** A connection with no frame and no pong for this long is dropped; default 30 s. */
  timeoutMs?: number;
}

export interface CohortOptions {
  /** A round starts only with at least this many authenticated, non-revoked clients (>= 2). */
  minClients: number;
  /** Sample at most this many of the connected clients per round; default all. */
  maxClients?: number;
  /**
   * The floor on every released aggregate: the server never asks clients to unmask, nor
   * releases, a sum of fewer inputs than this, and never starts a round with fewer members.
   * Announced to clients, whose own secagg machines refuse to unmask below it.
   * Default: minClients, and at least 3 in the SecAgg modes (in a sum of 2 inputs each
   * member learns the other's input by subtraction); 2 only when set explicitly.
   */
  minAggregate?: number;
}

export interface EvaluationOptions {
  /** Held-out data to evaluate the global model on after each round (a meta Dataset). */
  data: { x: Float32Array; y: Int32Array; count: number; shape: number[]; numClasses: number };
  /** Evaluate every `every` rounds (default 1) and after the last. */
  every?: number;
}

/**
 * Federated evaluation: after every `everyRounds`-th training round (and the last) every
 * connected site evaluates the new global model on its own held-out rows in an evaluation
 * round. The coordinator keeps the best round's parameters by the federation's accuracy
 * (loss breaks ties) as well as the last.
 */
export interface FederatedEvaluationOptions {
  /** Evaluate every k-th round's model (and the last round's); default 1. */
  everyRounds?: number;
  /**
   * 'per-site' (default): each site sends its own report (evalReport frame): the
   * coordinator sees every site's metrics and their weighted mean. 'secure': the sites'
   * sums (count, correct, loss, score histograms) go through secure aggregation; the
   * coordinator sees only the federation's metrics.
   */
  report?: 'per-site' | 'secure';
  /** Score-histogram bins from which the federation's AUC is computed (binary tasks); default 100. */
  bins?: number;
  /** How long sites have to evaluate and report (per-site mode); default deadlines.trainingMs. */
  deadlineMs?: number;
  /** The model the `finalModel` frame carries to the sites: 'last' (default) or 'best'. */
  sendToSites?: 'last' | 'best';
  /**
   * Personalised evaluation: every site also scores its held-out rows with the global model
   * adapted on its training rows by the algorithm's adaptation (FedAvg and FedProx:
   * fine-tuning), `evalSteps` steps (default 5; 0: the global model itself) at `evalLr`
   * (default the algorithm's innerLr, else its lr).
   */
  evalSteps?: number;
  evalLr?: number;
}

/** One round's federated evaluation: the federation's metrics over every reporting site's held-out rows. */
export interface RoundEvaluation {
  report: 'per-site' | 'secure';
  /** Sites whose rows are in the metrics. */
  sites: number;
  /** Held-out rows in all, and how many were classified right. */
  count: number;
  correct: number;
  /** correct / count: the mean over the sites weighted by their rows. */
  accuracy: number;
  /** Summed cross-entropy / count (models with a classifier head). */
  loss?: number;
  /** From the summed score histograms (binary tasks); within `aucBound` of the exact AUC of the pooled rows. */
  auc?: number;
  aucBound?: number;
  /**
   * Each site's model adapted on its own training rows (`steps` steps at `lr`), scored on
   * the same held-out rows: sum personal correct / sum count over the `sites` sites that
   * reported it (`count` rows), the loss likewise.
   */
  personalised?: { sites: number; count: number; correct: number; accuracy: number; loss?: number; steps: number; lr: number };
  /** Per-site mode only: each site's own numbers. */
  perSite?: { name: string; count: number; correct: number; accuracy: number; loss?: number; auc?: number; personalised?: { correct: number; accuracy: number; loss?: number } }[];
}

export interface ServerOptions {
  /** Bind address; default '127.0.0.1'. */
  host?: string;
  /** Port; 0 picks a free one (read it from the handle). */
  port: number;
  /** TLS certificate chain and key (PEM, bytes or string): the server speaks wss. */
  tls?: { cert: Uint8Array | string; key: Uint8Array | string };
  /** Plain ws without TLS. Must be explicitly true when `tls` is absent. */
  insecure?: boolean;
  /** Bound into every client's auth signature; clients may pin it. */
  federationId: string;
  roster: RosterEntry[];
  /** Number of rounds to run (resumed runs count from the checkpoint). */
  rounds: number;
  model: ModelOptions;
  algorithm: AlgorithmOptions;
  optimizer?: OptimizerOptions;
  cohort: CohortOptions;
  aggregation?: AggregationOptions;
  /** When set, clients clip + add distributed discrete Gaussian noise and the ledger is charged per round. */
  dp?: DpOptions;
  deadlines?: DeadlineOptions;
  stragglers?: StragglerOptions;
  connections?: ConnectionOptions;
  heartbeat?: HeartbeatOptions;
  /** Directory for checkpoints (and the ledger); the server resumes from it when present. */
  checkpointDir?: string;
  evaluate?: EvaluationOptions;
  /** Federated evaluation on the sites' held-out rows (announced in the welcome settings); default off. */
  evaluation?: FederatedEvaluationOptions;
  /**
   * The data schema every site must bring, announced in the welcome frame (transport's
   * DataSchema): feature columns, label column and class names of a table, or a tensor's
   * shape and class count. Clients refuse to join (ERR_SCHEMA_MISMATCH) when theirs differs.
   */
  dataSchema?: DataSchema;
  /**
   * Preprocessing under secure aggregation. `standardise: 'federated'`: before round 1 a
   * statistics round (round 0) sums every site's raw feature count, sum and sum of squares
   * with SecAgg, and every site (and the evaluation data) is standardised with the global
   * mean and std. Sites then send raw features (client option data.standardise 'local' is
   * not applied). The statistics are released WITHOUT differential-privacy noise (only the
   * floor on a released sum protects them); with `dp` set, the guarantee covers the training
   * rounds, not round 0, and the server says so at start-up (`preprocessing.not-dp`).
   */
  preprocessing?: { standardise: 'federated' };
  /** Seed of the model init and the cohort sampling; randomness of secagg comes from `rng`. */
  seed?: number;
  limits?: Partial<Limits>;
  /** Structured JSON events, one object per event (default: none). */
  logger?: (event: ServerEvent) => void;
  /** Called on every phase change and count change, for progress bars. */
  onProgress?: (progress: ServerProgress) => void;
  /**
   * The operator credential. When set, the coordinator's port also serves the live
   * dashboard at /dashboard and Prometheus metrics at /metrics, both behind it (a browser
   * logs in with the token once; Prometheus sends it as a bearer token). Without it neither
   * exists; GET /status (counts only) is public either way.
   */
  dashboard?: DashboardOptions;
  /** tfjs backend for evaluation and model init: 'auto' (default), 'tensorflow', 'webgpu', 'wasm' or 'cpu'. */
  backend?: BackendPreference;
  /** Randomness of session nonces and the secagg server; default the OS CSPRNG. */
  rng?: Rng;
  /** Time and timers of the round driver and cohort waits; default the process clock. */
  clock?: Clock;
  /**
   * Diagnostic hook: the raw mod-2^b aggregate of each completed round and who is in it,
   * before decoding (tests compare it with the survivors' encoded inputs bit for bit).
   */
  onAggregate?: (round: number, aggregate: { sum: Uint32Array; survivors: string[]; dropped: string[] }) => void;
}

export type ServerPhase =
  | 'waiting'
  | 'training'
  | 'share-keys'
  | 'masked-input'
  | 'consistency'
  | 'unmasking'
  | 'aggregating'
  | 'evaluating'
  | 'checkpointing'
  | 'done';

export interface ServerProgress {
  round: number;
  rounds: number;
  phase: ServerPhase;
  /** Authenticated connections right now. */
  connected: number;
  /** Size of this round's cohort (0 while waiting). */
  cohort: number;
  /** Cohort members that answered the current phase so far. */
  responded: number;
  /** Cohort members dropped this round so far. */
  dropped: number;
  bytesIn: number;
  bytesOut: number;
  /** Set from a round's abort until the next round starts: the abort reason. */
  aborted?: string;
}

export interface RoundSummary {
  round: number;
  status: 'completed' | 'aborted';
  mode: Exclude<AggregationMode, 'auto'>;
  cohort: number;
  survivors: number;
  dropped: number;
  /** secagg abort reason or runtime reason when aborted. */
  abortReason?: string;
  /** SecAgg+ degree k (0 = complete graph) and threshold t. */
  degree: number;
  threshold: number;
  /** Sum of the survivors' weights (e.g. example counts). */
  totalWeight?: number;
  /** Accuracy of the new global model on the held-out `evaluate.data`. */
  accuracy?: number;
  /** Mean cross-entropy of the new global model on `evaluate.data` (models with a classifier head; not protonets). */
  loss?: number;
  /** Cumulative epsilon after this round (DP only). */
  epsilon?: number;
  /** The federated evaluation of this round's model on the sites' held-out rows. */
  evaluation?: RoundEvaluation;
  bytesIn: number;
  bytesOut: number;
  wallMs: number;
}

/** The final model's manifest (written next to it, and sent to every site). */
export interface ModelManifest {
  format: 'fedmeta-model/1';
  federationId: string;
  /** The round the parameters come from (the last completed one). */
  round: number;
  roundsCompleted: number;
  /** The meta ModelConfig (kind, input shape, classes...). */
  model: { kind: string } & Record<string, unknown>;
  algorithm: string;
  /** The data schema: feature columns in input order, label column, class names. */
  data?: DataSchema;
  /** Standardise inputs with this before feeding the model: x' = (x - mean) / std. */
  standardisation?: { mean: number[]; std: number[] };
  /** The coordinator's evaluation of that round (on its reference data), and the federated one (the sites' held-out rows). */
  metrics: { accuracy?: number; loss?: number; federated?: { report: 'per-site' | 'secure'; accuracy: number; loss?: number; auc?: number; sites: number; count: number } };
  /**
   * Which model this is: the last completed round's, or the best round's by the federated
   * evaluation (`metric`). `lastRound` / `bestRound` name both.
   */
  selection?: { kind: 'last' | 'best'; metric: string | null; lastRound: number; bestRound: number | null };
  /**
   * The differential-privacy guarantee the model was trained under, or null. `covers` says
   * what it does not: the round-0 feature statistics of federated standardisation.
   */
  dp: { unit: 'client' | 'record'; epsilon: number; delta: number; epsilonBudget: number; covers: string } | null;
}

export interface FederationSummary {
  federationId: string;
  roundsCompleted: number;
  rounds: RoundSummary[];
  finalParams: Float32Array;
  /** Cumulative epsilon spent (DP only). */
  epsilon?: number;
  /** The global feature standardisation from the statistics round (federated preprocessing). */
  standardisation?: { mean: number[]; std: number[]; count: number; sites: number };
  /** What the final model is (also sent to every site with the final parameters). */
  manifest: ModelManifest;
  /** The best round's model by the federated evaluation (accuracy, loss breaks ties), when any round was evaluated. */
  best?: { round: number; params: Float32Array; manifest: ModelManifest };
  /** The model the sites received in the finalModel frame. */
  sentToSites: 'last' | 'best';
  /** Why the federation ended: all rounds ran, the budget ran out, or close() was called. */
  endReason: 'completed' | 'budget-exhausted' | 'closed';
}

/** A structured log event; `event` names it, the rest is event-specific JSON. */
export interface ServerEvent {
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  event: string;
  [key: string]: unknown;
}

export interface ServerStatus {
  federationId: string;
  round: number;
  rounds: number;
  phase: ServerPhase;
  connected: { name: string; since: string }[];
  /** Members left out of cohorts for missing deadlines, until (and including) `untilRound`. */
  benched: { name: string; untilRound: number; reason: string }[];
  epsilon?: number;
  /** The latest federated evaluation, and the best round by it so far. */
  evaluation?: { round: number } & RoundEvaluation;
  best?: { round: number; accuracy: number; loss?: number };
  /** The latest failures sites reported (error frames: training, data, policy), newest last. */
  siteErrors: { name: string; code: string; message: string; round: number | null; at: string }[];
}

/** What a roster update changed (names). */
export interface RosterChange {
  added: string[];
  /** Entries newly marked revoked, or removed from the roster. */
  revoked: string[];
  /** Live sessions closed with ERR_AUTH_REVOKED because of this update. */
  disconnected: string[];
}

/** How a round of `n` members is run, and how many dropouts it survives. */
export interface RoundPlan {
  n: number;
  mode: 'secagg' | 'secagg+' | 'plaintext';
  /** SecAgg+ graph degree k (0: complete graph). */
  degree: number;
  /** Shamir threshold t (0 in plaintext). */
  threshold: number;
  /** The floor on a released sum (cohort.minAggregate). */
  minAggregate: number;
  /**
   * Dropouts any round of n members is guaranteed to survive: n - max(t, minAggregate)
   * with the complete graph; with SecAgg+ also at most k + 1 - t (so that no member's
   * neighbourhood falls below t, wherever the dropouts are).
   */
  toleratedDropouts: number;
}

/** A federation continued from its checkpoint, as restored before any new round ran. */
export interface ResumeInfo {
  /** The checkpoint directory. */
  checkpointDir: string;
  /** The round the federation continues with (every round before it completed or aborted). */
  nextRound: number;
  /** Training rounds completed before the restart. */
  roundsCompleted: number;
  /** The federation's rounds now (may have been raised since the checkpoint was written). */
  rounds: number;
  /**
   * DP, when on: the epsilon spent so far (client level: the ledger; record level: the
   * per-site epsilon of every released round), the budget and delta, and the noise
   * multiplier the checkpoint was written under (null when the checkpoint does not record
   * it) and the one the remaining rounds run with.
   */
  dp: { unit: 'client' | 'record'; epsilonSpent: number; epsilonBudget: number; delta: number; noiseMultiplier: { before: number | null; now: number } } | null;
  /** Federated standardisation: the statistics round's result came back from the checkpoint (it does not run again). */
  standardisationRestored: boolean;
}

export interface ServerHandle {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** ws://host:port or wss://host:port */
  readonly url: string;
  /** Resolves when the federation ends (all rounds, budget exhausted, or close()). */
  readonly done: Promise<FederationSummary>;
  status(): ServerStatus;
  /** The plan of a round of `n` members under this server's options (mode, t, dropouts tolerated). */
  plan(n: number): RoundPlan;
  /**
   * The plan of the largest cohort a round is sampled at: min(cohort.maxClients, active
   * roster members), at least the start floor (max(minClients, minAggregate)) when
   * maxClients is below it. Follows roster updates.
   */
  planForCohort(): RoundPlan;
  /** What the server continued from its checkpoint, as restored at start (null: a fresh federation). */
  readonly resumed: ResumeInfo | null;
  /**
   * Replaces the roster on the running server (e.g. after `fedmeta keygen --revoke`). A
   * member that is revoked or removed has its session closed with ERR_AUTH_REVOKED at once,
   * leaves any round it is in (the round aborts if its masked input was already taken) and
   * cannot reconnect; added members can authenticate from now on.
   * @throws ServerError ERR_SERVER_CONFIG for an invalid roster (the old one stays in force)
   */
  updateRoster(entries: RosterEntry[]): RosterChange;
  /** Stops accepting, closes every connection with 4440 (ERR_SHUTDOWN) and resolves `done`. */
  close(): Promise<void>;
}
