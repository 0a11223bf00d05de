/**
 * The client's public options, handle and progress records. Plain objects: the CLI maps
 * its config file onto them; the identity is bytes, never a file path.
 */
import type { ClientMessage, Rng } from '@fedmeta/secagg';
import type { Limits } from '@fedmeta/transport';
import type { BackendPreference } from '@fedmeta/meta';
import type { SitePolicy } from './policy.js';
import type { ClientDpOptions } from './record-dp.js';

/** A meta Dataset (structurally): row-major features, integer labels. */
export interface ClientDataset {
  x: Float32Array;
  y: Int32Array;
  count: number;
  shape: number[];
  numClasses: number;
}

/** The institution's local data (structurally the meta package's ClientData). */
export interface ClientDataOptions {
  id: number | string;
  /** Local training happens on `support` only. */
  support: ClientDataset;
  /** Held out for personalised evaluation. */
  query: ClientDataset;
  /** Feature column names, in the order of `x`'s columns (tables): checked against the announced schema. */
  columns?: string[];
  /** The label column's name (tables). */
  labelColumn?: string;
  /** labels[id] is the original label value of class id (tables): remapped to the federation's classes. */
  labels?: string[];
  /**
   * 'local': x holds raw features; standardise them with this site's own mean and std
   * unless the federation standardises with global statistics (its statistics round).
   * Absent: x is used as given.
   */
  standardise?: 'local';
}

/** Points at which the fault-injection hook may close the socket. */
export type ClientPhase =
  /** After sending AdvertiseKeys (before ShareKeys). */
  | 'advertise-keys'
  /** After sending ShareKeys (before the masked input). */
  | 'share-keys'
  /** After sending the masked input (before unmasking). */
  | 'masked-input'
  /** After sending the consistency signature (active mode). */
  | 'consistency'
  /** On receiving the unmask request, before answering it. */
  | 'unmasking';

export interface ClientTestHooks {
  /**
   * REAL fault injection: closes the socket (no close handshake, like a crash) right after
   * the client reached `phase` in round `round` (any round when absent), then - if
   * `reconnect` is true - reconnects like any client would.
   */
  dropAfterPhase?: { phase: ClientPhase; round?: number; reconnect?: boolean };
  /** Called with the exact encoded (quantised / DDG) input the client masks, per round. */
  onEncodedInput?: (round: number, encoded: Uint32Array) => void;
  /**
   * REAL misbehaviour: rewrites each outgoing secagg message before it is encoded and
   * sent (e.g. truncating the masked vector), to test the server's refusals.
   */
  tamperSecAgg?: (round: number, message: ClientMessage) => ClientMessage;
}

/**
 * How the client reconnects after a lost connection or a failed connect: the delay before
 * the next attempt, after f consecutive failures, is uniform in
 * [0, min(maxDelayMs, baseDelayMs * 2^(f - 1))) (exponential backoff, full jitter; the loss
 * of an established session counts as one failure, a completed handshake resets the count).
 * Refusals no retry can fix (TLS failures, auth and policy refusals) end the client at once.
 */
export interface ReconnectOptions {
  /**
   * Give up (ERR_CONNECT_FAILED) after this many consecutive failed attempts; 0 = never give
   * up, keep retrying for as long as the coordinator is away. Default 0.
   */
  maxAttempts?: number;
  /** First delay ceiling; doubles per consecutive failure, with full jitter; default 250 ms. */
  baseDelayMs?: number;
  /** Cap of the delay ceiling; default 10 s. */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /** ws://host:port or wss://host:port */
  url: string;
  /** Ed25519 identity: 32-byte secret key and its 32-byte public key (must be on the server's roster). */
  identity: { publicKey: Uint8Array; secretKey: Uint8Array };
  /**
   * Active security: the Ed25519 identity keys of the federation's members as this client
   * learnt them OUT OF BAND (e.g. the coordinator's public roster file, checked by each
   * institution). In active mode the server hands every client the participants' identity
   * keys so that signed key advertisements can be checked; a malicious server could hand
   * out keys of its own and forge the advertisements. With this list, any identity the
   * server announces that is not in it makes the client refuse the round (ERR_PROTOCOL).
   * Without it, the client trusts the server for the identity list (semi-honest server).
   */
  trustedIdentities?: readonly Uint8Array[];
  /** Refuse a server announcing a different federation id (recommended). */
  federationId?: string;
  /**
   * This site's own conditions for taking part (policy.ts): checked against the settings
   * the coordinator announces on connect and against every round; a violation ends the
   * client with ERR_POLICY_REFUSED before it trains or releases anything. Default: none.
   */
  policy?: SitePolicy;
  /**
   * Record-level DP (a federation announcing dp.unit 'record'): this site's own privacy
   * ledger, charged (fsync'd) with every round's DP-SGD event before it trains, and its
   * budget (record-dp.ts). Required to join such a federation.
   */
  dp?: ClientDpOptions;
  /** TLS: trust exactly these CA / self-signed certificates (PEM). Default: the system store. */
  tls?: { ca?: Uint8Array | string; rejectUnauthorized?: boolean };
  data: ClientDataOptions;
  reconnect?: ReconnectOptions;
  /** Seed of local batch sampling (mixed with the round number). */
  seed?: number;
  limits?: Partial<Limits>;
  logger?: (event: ClientEvent) => void;
  onProgress?: (progress: ClientProgress) => void;
  /** Randomness of secagg keys, stochastic rounding, DP noise, nonces; default the OS CSPRNG. */
  rng?: Rng;
  /**
   * Replaces the meta algorithm with your own local step (e.g. a model trained outside
   * tfjs, or the runtime bench's synthetic update). Receives the global params; returns
   * the update (length = params) and its weight. Clipping, DP noise, quantisation and
   * masking still apply as configured by the server.
   */
  trainer?: (globalParams: Float32Array, round: number) => { update: Float32Array; weight: number };
  /**
   * Train in a worker thread (default false; the CLI sets true). Recommended for real
   * deployments: local training is synchronous tfjs work, and on the main thread the client
   * can send nothing while it trains - no pongs and no progress frames - so a training longer
   * than the coordinator's `deadlines.progressMs` (default 30 s) drops it from every round
   * (and benches it), and one longer than `heartbeat.timeoutMs` loses the connection. In a
   * worker the main thread keeps answering and sends a progress frame every
   * `progressIntervalMs`. (Ignored when `trainer` is given: a custom trainer runs where it
   * is, and no periodic progress frames are sent.)
   */
  trainInWorker?: boolean;
  /**
   * Silence watchdog: with no frame and no ping from the server for this long, the client
   * treats the connection as dead (e.g. a network path that dropped without a FIN) and
   * reconnects. Default 60 s (the server pings every 5 s by default).
   */
  serverTimeoutMs?: number;
  /**
   * Period of the progress frames sent while training in a worker; default 2000 ms. The
   * coordinator drops a training member from the round when no progress frame arrived for
   * its `deadlines.progressMs` (default 30 s; not announced to clients): keep this well below
   * it (protocol-spec/09-transport.md sec. 5.2).
   */
  progressIntervalMs?: number;
  /** tfjs backend for local training: 'auto' (default), 'wasm', 'cpu' or 'tensorflow'. */
  backend?: BackendPreference;
}

export type ClientState = 'connecting' | 'authenticating' | 'idle' | 'training' | 'aggregating' | 'backoff' | 'done' | 'failed';

export interface ClientProgress {
  state: ClientState;
  round: number;
  /** secagg phase reached in the current round, when aggregating. */
  phase?: ClientPhase;
  attempts: number;
  bytesIn: number;
  bytesOut: number;
}

export interface ClientRoundRecord {
  round: number;
  status: 'completed' | 'aborted' | 'excluded' | 'disconnected';
  /** Local training metrics from the meta algorithm. */
  lossFirst?: number;
  lossLast?: number;
  weight?: number;
  trainMs?: number;
}

/** An evaluation round: this site's evaluation of the global model and the federation's metrics. */
export interface ClientEvaluationRecord {
  /** The training round whose global model was evaluated. */
  round: number;
  status: 'completed' | 'aborted' | 'excluded' | 'disconnected';
  /**
   * This site's held-out rows; `personalised`: scored by the model adapted on this site's
   * training rows (`steps` steps at `lr`) when the round asked for it.
   */
  local?: { count: number; correct: number; accuracy: number; loss?: number; auc?: number; personalised?: { correct: number; accuracy: number; loss?: number; steps: number; lr: number } };
  /** The federation's (weighted over every reporting site's rows), as the coordinator reported it. */
  federated?: { accuracy: number; loss?: number; auc?: number; sites: number; count: number; personalised?: { accuracy: number; loss?: number } };
  /** Epsilon spent so far, as the coordinator reported it (DP only). */
  epsilon?: number;
}

export interface ClientSummary {
  name: string;
  rounds: ClientRoundRecord[];
  /** How the client ended: the server said bye, close() was called, or it gave up. */
  endReason: 'federation-done' | 'closed' | 'failed';
  /** Set when endReason is 'failed' (e.g. ERR_AUTH_UNKNOWN_KEY, ERR_CONNECT_FAILED). */
  error?: { code: string; message: string };
  bytesIn: number;
  bytesOut: number;
  /** The final global model and its manifest, as the coordinator sent them at the end. */
  finalModel?: { manifest: Record<string, unknown>; params: Float32Array };
  /** The evaluation rounds this site took part in (federated evaluation). */
  evaluations: ClientEvaluationRecord[];
}

export interface ClientEvent {
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  event: string;
  [key: string]: unknown;
}

export interface ClientHandle {
  /** Resolves when the client ends (never rejects: failures are in the summary). */
  readonly done: Promise<ClientSummary>;
  progress(): ClientProgress;
  /** Closes the connection (1000) and stops reconnecting; resolves `done`. */
  close(): Promise<void>;
}
