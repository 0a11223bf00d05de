/**
 * The local-round skeleton shared by every algorithm: validate, load the global vector,
 * run `localSteps` steps of the algorithm's rule, return theta_local - theta_global.
 */
import { checkParamLength, flattenParams, unflattenParams, type ModelSpec } from '../models/spec.js';
import { requireInt, requirePositive, MetaArgumentError, MetaError } from '../errors.js';
import { createPrng, streamOf, type Prng } from '../rng.js';
import { tf, type Tensor } from '../tf.js';
import {
  allIndices, argmaxAccuracy, checkData, checkHyper, disposeAll, disposeBatch,
  lossAndGrads, lossOf, makeBatch, sgd, stepInPlace, subtract,
} from './train.js';
import type { ClientSet, LabeledSet, LocalHyper, LocalResult } from './types.js';

/** What one local step reports back to the skeleton. */
export interface StepReport {
  loss: number;
  examples: number;
}

/** One local step: returns the new parameter tensors (the skeleton disposes the old ones). */
export type LocalStep = (params: Tensor[], rng: Prng, report: (r: StepReport) => void) => Tensor[];

export function runLocal(
  spec: ModelSpec,
  globalParams: Float32Array,
  data: ClientSet,
  hyper: LocalHyper,
  seed: number,
  makeStep: (support: LabeledSet) => LocalStep,
): LocalResult {
  checkParamLength(spec, globalParams, 'globalParams');
  checkHyper(hyper);
  if (!data || typeof data !== 'object') throw new MetaArgumentError('data: expected a ClientData');
  checkData(spec, data.support, 'data.support');
  if (data.support.count < 1) throw new MetaArgumentError('data.support: no examples');
  if (!Number.isInteger(seed)) throw new MetaArgumentError(`seed: must be an integer, got ${seed}`);
  const started = performance.now();
  const rng = createPrng(seed, streamOf(data.id));
  const step = makeStep(data.support);
  let params = unflattenParams(spec, globalParams);
  let lossFirst = NaN;
  let lossLast = NaN;
  let examples = 0;
  try {
    for (let s = 0; s < hyper.localSteps; s++) {
      const next = tf.tidy(() =>
        step(params, rng, (r) => {
          if (s === 0) lossFirst = r.loss;
          lossLast = r.loss;
          examples += r.examples;
        }),
      );
      disposeAll(params);
      params = next;
    }
    const local = flattenParams(spec, params);
    if (!local.every(Number.isFinite)) throw new MetaError('META_NON_FINITE', 'local parameters became non-finite (learning rate too large?)');
    return {
      update: subtract(local, globalParams),
      weight: data.support.count,
      metrics: { lossFirst, lossLast, examples, steps: hyper.localSteps, millis: performance.now() - started },
    };
  } finally {
    disposeAll(params);
  }
}

/** Full-batch gradient descent on the support set: the personalisation used by every gradient method. */
export function adaptBySgd(spec: ModelSpec, params: Float32Array, support: LabeledSet, steps: number, lr: number): Float32Array {
  checkParamLength(spec, params);
  requireInt('steps', steps, 0);
  requirePositive('lr', lr, steps === 0);
  checkData(spec, support, 'support');
  if (steps === 0 || support.count === 0) return params.slice();
  const batch = makeBatch(spec, support, allIndices(support.count));
  let ps = unflattenParams(spec, params);
  try {
    for (let s = 0; s < steps; s++) {
      ps = stepInPlace(ps, (cur) => sgd(cur, lossAndGrads((q) => lossOf(spec, q, batch), cur).grads, lr));
    }
    return flattenParams(spec, ps);
  } finally {
    disposeAll(ps);
    disposeBatch(batch);
  }
}

/** Accuracy of the model's own classifier head on `query`. */
export function headAccuracy(spec: ModelSpec, params: Float32Array, query: LabeledSet): number {
  checkData(spec, query, 'query');
  if (query.count === 0) return 0;
  const ps = unflattenParams(spec, params);
  const batch = makeBatch(spec, query, allIndices(query.count));
  try {
    const logits = spec.forward(ps, batch.x);
    const acc = argmaxAccuracy(logits, batch.labels);
    logits.dispose();
    return acc;
  } finally {
    disposeAll(ps);
    disposeBatch(batch);
  }
}
