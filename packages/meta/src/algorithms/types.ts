/**
 * What a federated client computes. One convention for every algorithm, so the server
 * treats them alike:
 *
 *   update = theta_local - theta_global  (the change the client proposes, a Float32Array
 *            of the model's paramCount), weight = number of local training examples;
 *   server: theta_global += serverLr * (sum_i weight_i * update_i) / (sum_i weight_i)
 *           (MetaOptimizer; with plain SGD and serverLr = 1 this is FedAvg's averaging).
 *
 * Clients train ONLY on their `support` set; `query` is held out for personalised
 * evaluation (adapt on support, measure on query).
 */
import type { ModelSpec } from '../models/spec.js';

/** Structurally the data layer's Dataset: row-major x, integer labels. */
export interface LabeledSet {
  x: Float32Array;
  y: Int32Array;
  count: number;
  /** per-example shape, e.g. [28, 28, 1] or [784] */
  shape: number[];
  numClasses: number;
}

/** Structurally the data layer's ClientData. */
export interface ClientSet {
  id: string | number;
  support: LabeledSet;
  query: LabeledSet;
}

export type AlgorithmName =
  | 'fedavg'
  | 'fedavg-ft'
  | 'fedprox'
  | 'reptile'
  | 'fomaml'
  | 'maml'
  | 'perfedavg-fo'
  | 'perfedavg-hf'
  | 'protonets';

/** Local hyperparameters; each algorithm documents which it reads. */
export interface LocalHyper {
  /** local optimisation steps per round (FedAvg SGD steps, meta-steps for MAML/Per-FedAvg, episodes for ProtoNets) */
  localSteps: number;
  /** minibatch size drawn from the support set (MAML family: size of each of the inner/outer batches) */
  batchSize: number;
  /** local step size: SGD lr (FedAvg, ProtoNets), inner SGD lr (Reptile), outer/meta lr beta (MAML, Per-FedAvg) */
  lr: number;
  /** inner adaptation lr alpha (MAML family, Per-FedAvg); should match the evaluation lr */
  innerLr?: number;
  /** inner SGD steps of MAML (default 1) and Reptile (default localSteps) */
  innerSteps?: number;
  /** Per-FedAvg(HF): radius r of the finite-difference Hessian-vector product (default 1e-3; larger radii cross relu kinks) */
  hvpRadius?: number;
  /** FedProx: weight mu of the proximal term (mu/2) ||w - w_global||^2 (default 0.01; 0 is FedAvg) */
  mu?: number;
}

export interface LocalMetrics {
  /** training loss on the first and last local batch */
  lossFirst: number;
  lossLast: number;
  /** examples passed forward+backward (counting inner and outer batches) */
  examples: number;
  steps: number;
  millis: number;
}

export interface LocalResult {
  /** theta_local - theta_global (see the convention above) */
  update: Float32Array;
  /** aggregation weight: number of local training examples */
  weight: number;
  metrics: LocalMetrics;
}

export interface Algorithm {
  readonly name: AlgorithmName;
  readonly spec: ModelSpec;
  /**
   * One round of local training from the global parameters.
   * @param seed makes batch sampling reproducible (derive it from round and client)
   * @throws HyperparameterError for invalid hyperparameters, MetaError META_PARAM_LENGTH / META_DATA_MISMATCH
   */
  localUpdate(globalParams: Float32Array, data: ClientSet, hyper: LocalHyper, seed: number): LocalResult;
  /**
   * The same round without synchronous reads from the backend (same result on CPU backends):
   * the way to train on tfjs's webgpu backend in Node, which cannot read synchronously.
   */
  localUpdateAsync(globalParams: Float32Array, data: ClientSet, hyper: LocalHyper, seed: number): Promise<LocalResult>;
  /** Personalisation: `steps` full-batch steps on the support set (0 = none). Returns new params. */
  adapt(params: Float32Array, support: LabeledSet, steps: number, lr: number): Float32Array;
  /** Accuracy on `query` of (already adapted) params; ProtoNets classifies by support prototypes. */
  accuracy(params: Float32Array, support: LabeledSet, query: LabeledSet): number;
}
