/**
 * Reference runs for a federation's accuracy: is the federated model as accurate as one
 * trained centrally on everybody's data, and better than what each site could train alone?
 *
 * - pooled: the same model trained centrally on the pooled training rows of all sites, for
 *   as many minibatch steps as the whole federation runs (the sum over sites of the steps
 *   each site trained), i.e. exactly as many examples as the federation processes;
 * - site alone: each site's model trained on its own rows only, for the steps that site
 *   trained during the federation.
 *
 * Training is FedAvg's local procedure (minibatch SGD with the federation's batch size and
 * lr, from spec.initParams(seed)); every model is scored on the same test set. Used by
 * `fedmeta simulate` (its reference rows) and the tabular accuracy bench.
 */
import { createAlgorithm } from './algorithms/index.js';
import { concat, type Dataset } from './data/index.js';
import { requireInt, requirePositive, MetaArgumentError } from './errors.js';
import type { ModelSpec } from './models/spec.js';

/** Minibatch SGD: `steps` steps of `batchSize` examples at `lr`. */
export interface SgdBudget {
  steps: number;
  batchSize: number;
  lr: number;
}

/**
 * Centralised training: `steps` minibatch SGD steps on `data` from spec.initParams(seed)
 * (meta's FedAvg local update, so the fused engine serves it where it serves FedAvg).
 * `id` picks the batch-sampling stream (with `seed`).
 */
export function trainCentrally(spec: ModelSpec, data: Dataset, budget: SgdBudget, seed: number, id: string | number = 'pooled'): Float32Array {
  const init = spec.initParams(seed);
  const empty: Dataset = { ...data, x: new Float32Array(0), y: new Int32Array(0), count: 0 };
  const { update } = createAlgorithm('fedavg', spec).localUpdate(init, { id, support: data, query: empty }, { localSteps: budget.steps, batchSize: budget.batchSize, lr: budget.lr }, seed);
  const params = new Float32Array(init.length);
  for (let i = 0; i < params.length; i++) params[i] = init[i]! + update[i]!;
  return params;
}

export interface ReferenceOptions {
  spec: ModelSpec;
  /** Every site's training rows (what it trains on in the federation). */
  sites: Dataset[];
  /** The held-out test set every model is scored on. */
  test: Dataset;
  /** Minibatch steps a site trains per round in the federation. */
  stepsPerRound: number;
  /** Rounds each site trained in (same order as `sites`), or one count for every site. */
  rounds: number | number[];
  batchSize: number;
  lr: number;
  /** Model init and batch sampling. */
  seed: number;
  /** The pooled training rows; default: the sites' rows concatenated in site order. */
  pooled?: Dataset;
  /**
   * Scores a model on `test`; default: plain prediction (the head's argmax), the measure
   * FedAvg's coordinator reports.
   */
  accuracy?: (params: Float32Array, test: Dataset) => number;
  /** Leave out the site-alone runs (pooled only). */
  pooledOnly?: boolean;
}

export interface ReferenceRun {
  accuracy: number;
  /** minibatch SGD steps trained */
  steps: number;
  /** training rows */
  rows: number;
}

export interface ReferenceReport {
  pooled: ReferenceRun;
  /** Each site alone, in site order (empty with pooledOnly). */
  sites: ReferenceRun[];
  batchSize: number;
  lr: number;
  /** test rows every model was scored on */
  testRows: number;
}

/**
 * Trains and scores the pooled model and each site alone with the federation's budget.
 * @throws MetaArgumentError on bad options
 */
export function referenceRuns(o: ReferenceOptions): ReferenceReport {
  if (!Array.isArray(o.sites) || o.sites.length === 0) throw new MetaArgumentError('sites: need at least one');
  requireInt('stepsPerRound', o.stepsPerRound, 1);
  requireInt('batchSize', o.batchSize, 1);
  requirePositive('lr', o.lr);
  const rounds = typeof o.rounds === 'number' ? o.sites.map(() => o.rounds as number) : o.rounds;
  if (rounds.length !== o.sites.length) throw new MetaArgumentError(`rounds: ${rounds.length} counts for ${o.sites.length} sites`);
  rounds.forEach((r, k) => requireInt(`rounds[${k}]`, r, 0));
  const accuracy = o.accuracy ?? ((params: Float32Array, test: Dataset) => createAlgorithm('fedavg', o.spec).accuracy(params, test, test));
  const score = (params: Float32Array) => accuracy(params, o.test);
  const pooledData = o.pooled ?? concat(o.sites, 'pooled');
  const sgd = (steps: number): SgdBudget => ({ steps, batchSize: o.batchSize, lr: o.lr });
  const pooledSteps = rounds.reduce((a, r) => a + r, 0) * o.stepsPerRound;
  const run = (data: Dataset, steps: number, id: string): ReferenceRun => ({
    // No training at all is the initial model.
    accuracy: score(steps > 0 ? trainCentrally(o.spec, data, sgd(steps), o.seed, id) : o.spec.initParams(o.seed)),
    steps,
    rows: data.count,
  });
  return {
    pooled: run(pooledData, pooledSteps, 'pooled'),
    sites: o.pooledOnly ? [] : o.sites.map((d, k) => run(d, rounds[k]! * o.stepsPerRound, `site-${k}`)),
    batchSize: o.batchSize,
    lr: o.lr,
    testRows: o.test.count,
  };
}
