/**
 * The local-round skeleton shared by every algorithm: validate, load the global vector,
 * run `localSteps` steps of the algorithm's rule, return theta_local - theta_global.
 */
import { checkParamLength, flattenParams, unflattenParams, type ModelSpec } from '../models/spec.js';
import { requireInt, requirePositive, MetaArgumentError, MetaError } from '../errors.js';
import { createPrng, streamOf, type Prng } from '../rng.js';
import { tf, type Tensor } from '../tf.js';
import { engineFor, type Engine } from '../engine/index.js';
import {
  allIndices, argmaxAccuracy, checkData, checkHyper, disposeAll, disposeBatch,
  finiteScalar, lossAndGrads, lossOf, makeBatch, sgd, stepInPlace,
} from './train.js';
import type { ClientSet, LabeledSet, LocalHyper, LocalResult } from './types.js';

/** What one local step reports back to the skeleton. */
export interface StepReport {
  /** the step's loss: a number, or a scalar tensor the skeleton reads (synchronously, or at the end when asynchronous) */
  loss: number | Tensor;
  /** what the loss is, for the non-finite error ('local loss', 'outer loss', ...) */
  what?: string;
  examples: number;
}

/** One local step: returns the new parameter tensors (the skeleton disposes the old ones). */
export type LocalStep = (params: Tensor[], rng: Prng, report: (r: StepReport) => void) => Tensor[];

/**
 * One local step on the fused engine: reads and updates the parameters in engine slot
 * Params in place (the MAML family uses the work slots too).
 */
export type FusedStep = (engine: Engine, rng: Prng, report: (r: StepReport) => void) => void;

function checkLocal(spec: ModelSpec, globalParams: Float32Array, data: ClientSet, hyper: LocalHyper, seed: number): void {
  checkParamLength(spec, globalParams, 'globalParams');
  checkHyper(hyper);
  if (!data || typeof data !== 'object') throw new MetaArgumentError('data: expected a ClientData');
  checkData(spec, data.support, 'data.support');
  if (data.support.count < 1) throw new MetaArgumentError('data.support: no examples');
  if (!Number.isInteger(seed)) throw new MetaArgumentError(`seed: must be an integer, got ${seed}`);
}

/**
 * The local round: `makeStep` (tfjs tensors) or, when the fused engine serves this model now
 * (engine/index.ts: the wasm backend, FEDMETA_ENGINE) and the algorithm has one, `makeFused`.
 * Both draw the same batches from the same PRNG stream, so they compute the same update up
 * to float rounding.
 * @throws MetaError META_BACKEND_SYNC_READ when only tfjs can run this and the backend cannot
 *   read synchronously (webgpu in Node): use runLocalAsync (Algorithm.localUpdateAsync)
 */
export function runLocal(
  spec: ModelSpec,
  globalParams: Float32Array,
  data: ClientSet,
  hyper: LocalHyper,
  seed: number,
  makeStep: (support: LabeledSet) => LocalStep,
  makeFused?: (support: LabeledSet) => FusedStep,
): LocalResult {
  checkLocal(spec, globalParams, data, hyper, seed);
  const engine = makeFused ? engineFor(spec) : null;
  if (!engine) requireSyncReads('local training');
  const started = performance.now();
  const rng = createPrng(seed, streamOf(data.id));
  const losses = lossRecorder(hyper.localSteps, true);
  let local: Float32Array;
  if (engine && makeFused) {
    const step = makeFused(data.support);
    engine.begin(globalParams);
    for (let s = 0; s < hyper.localSteps; s++) step(engine, rng, losses.reporter(s));
    const update = engine.update();
    if (!update) throw new MetaError('META_NON_FINITE', 'local parameters became non-finite (learning rate too large?)');
    return result(update, data, hyper, losses.first, losses.last, losses.examples(), started);
  } else {
    const step = makeStep(data.support);
    let params = unflattenParams(spec, globalParams);
    try {
      for (let s = 0; s < hyper.localSteps; s++) {
        const next = tf.tidy(() => step(params, rng, losses.reporter(s)));
        disposeAll(params);
        params = next;
      }
      local = flattenParams(spec, params);
    } finally {
      disposeAll(params);
    }
  }
  return finish(local, globalParams, data, hyper, losses.first, losses.last, losses.examples(), started);
}

/**
 * The same round without synchronous reads from the backend: losses are read once at the
 * end and the parameters through `await data()`. This is the path for tfjs's WebGPU backend
 * in Node, whose synchronous reads need OffscreenCanvas (a browser API). On the CPU backends
 * it returns what runLocal does. Non-finite losses of intermediate steps are caught through the
 * final parameters (any NaN/Infinity in a step's loss reaches them), not step by step.
 */
export async function runLocalAsync(
  spec: ModelSpec,
  globalParams: Float32Array,
  data: ClientSet,
  hyper: LocalHyper,
  seed: number,
  makeStep: (support: LabeledSet) => LocalStep,
  makeFused?: (support: LabeledSet) => FusedStep,
): Promise<LocalResult> {
  checkLocal(spec, globalParams, data, hyper, seed);
  if (makeFused && engineFor(spec, 'async')) return runLocal(spec, globalParams, data, hyper, seed, makeStep, makeFused);
  const started = performance.now();
  const rng = createPrng(seed, streamOf(data.id));
  const losses = lossRecorder(hyper.localSteps, false);
  const step = makeStep(data.support);
  let params = unflattenParams(spec, globalParams);
  let local: Float32Array;
  try {
    for (let s = 0; s < hyper.localSteps; s++) {
      const next = tf.tidy(() => step(params, rng, losses.reporter(s)));
      disposeAll(params);
      params = next;
    }
    const values = await Promise.all(params.map((p) => p.data()));
    local = new Float32Array(spec.paramCount);
    let offset = 0;
    for (const v of values) {
      local.set(v as Float32Array, offset);
      offset += v.length;
    }
    await losses.settle();
  } finally {
    disposeAll(params);
    losses.dispose();
  }
  return finish(local, globalParams, data, hyper, losses.first, losses.last, losses.examples(), started);
}

function finish(local: Float32Array, globalParams: Float32Array, data: ClientSet, hyper: LocalHyper, lossFirst: number, lossLast: number, examples: number, started: number): LocalResult {
  // One pass: the update, and v - v summed (0 for finite v, NaN for NaN or +-Infinity).
  const update = new Float32Array(local.length);
  let probe = 0;
  for (let i = 0; i < local.length; i++) {
    const v = local[i]!;
    update[i] = v - globalParams[i]!;
    probe += v - v;
  }
  if (probe !== 0) throw new MetaError('META_NON_FINITE', 'local parameters became non-finite (learning rate too large?)');
  return result(update, data, hyper, lossFirst, lossLast, examples, started);
}

function result(update: Float32Array, data: ClientSet, hyper: LocalHyper, lossFirst: number, lossLast: number, examples: number, started: number): LocalResult {
  return {
    update,
    weight: data.support.count,
    metrics: { lossFirst, lossLast, examples, steps: hyper.localSteps, millis: performance.now() - started },
  };
}

/**
 * Collects the first and last step's loss. Synchronous: reads each loss tensor when it is
 * reported (and fails on a non-finite one). Asynchronous: keeps the first and last loss
 * tensors and reads them in `settle`.
 */
function lossRecorder(steps: number, sync: boolean) {
  let examples = 0;
  const kept: Tensor[] = [];
  const state = { first: NaN, last: NaN };
  let firstT: Tensor | undefined;
  let lastT: Tensor | undefined;
  return {
    get first() {
      return state.first;
    },
    get last() {
      return state.last;
    },
    examples: () => examples,
    reporter: (s: number) => (r: StepReport) => {
      examples += r.examples;
      if (typeof r.loss === 'number' || sync) {
        const v = typeof r.loss === 'number' ? r.loss : finiteScalar(r.loss, r.what ?? 'local loss');
        if (s === 0) state.first = v;
        state.last = v;
        return;
      }
      if (s !== 0 && s !== steps - 1) return;
      const t = tf.keep(tf.clone(r.loss));
      kept.push(t);
      if (s === 0) firstT = t;
      lastT = t;
    },
    settle: async () => {
      if (firstT) state.first = (await firstT.data())[0]!;
      if (lastT) state.last = (await lastT.data())[0]!;
    },
    dispose: () => disposeAll(kept),
  };
}

/**
 * tfjs's WebGPU backend reads synchronously (dataSync) through OffscreenCanvas, which Node
 * does not have: fail with a typed error that names the asynchronous API instead of a
 * ReferenceError deep inside tfjs.
 * @throws MetaError META_BACKEND_SYNC_READ
 */
export function requireSyncReads(what: string): void {
  if (tf.getBackend() === 'webgpu' && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined') {
    throw new MetaError(
      'META_BACKEND_SYNC_READ',
      `${what} needs synchronous reads, which tfjs's webgpu backend cannot do in Node: use localUpdateAsync, or a CPU backend (FEDMETA_BACKEND=wasm)`,
    );
  }
}

/** One SGD step on the engine: params -= lr * grad of the mean loss over `indices`. */
export function fusedSgdStep(engine: Engine, support: LabeledSet, indices: ArrayLike<number>, lr: number): number {
  const loss = engine.lossAndGrad(support, indices);
  engine.sgd(lr);
  return loss;
}

/** Full-batch gradient descent on the support set: the personalisation used by every gradient method. */
export function adaptBySgd(spec: ModelSpec, params: Float32Array, support: LabeledSet, steps: number, lr: number): Float32Array {
  checkParamLength(spec, params);
  requireInt('steps', steps, 0);
  requirePositive('lr', lr, steps === 0);
  checkData(spec, support, 'support');
  if (steps === 0 || support.count === 0) return params.slice();
  const engine = engineFor(spec);
  if (!engine) requireSyncReads('adaptation');
  if (engine) {
    engine.setParams(params);
    const all = allIndices(support.count);
    for (let s = 0; s < steps; s++) fusedSgdStep(engine, support, all, lr);
    return engine.params();
  }
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
  const engine = engineFor(spec);
  if (!engine) requireSyncReads('evaluation');
  if (engine) {
    engine.setParams(params);
    const logits = engine.logits(query, allIndices(query.count));
    const k = spec.numClasses;
    let hit = 0;
    for (let i = 0; i < query.count; i++) {
      // argmax with the first maximum winning, as tf.argMax
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
      if (best === query.y[i]) hit++;
    }
    return hit / query.count;
  }
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
