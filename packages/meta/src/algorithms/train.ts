/**
 * Shared training machinery: data to tensors, batch sampling, loss and gradients of a
 * functional model, SGD on parameter lists. Every function that makes tensors either
 * returns them to a caller that disposes them or runs inside tf.tidy.
 */
import { MetaError, MetaArgumentError, requireInt, requirePositive } from '../errors.js';
import type { ModelSpec } from '../models/spec.js';
import { crossEntropySafe } from '../ops/twice-differentiable.js';
import { permutation, type Prng } from '../rng.js';
import { tf, type Tensor } from '../tf.js';
import type { LabeledSet, LocalHyper } from './types.js';

export interface Batch {
  x: Tensor;
  oneHot: Tensor;
  labels: Int32Array;
  count: number;
}

/** Checks a dataset against the model: example size, labels in range. */
export function checkData(spec: ModelSpec, data: LabeledSet, name: string): void {
  if (!data || !(data.x instanceof Float32Array) || !(data.y instanceof Int32Array)) {
    throw new MetaArgumentError(`${name}: expected { x: Float32Array, y: Int32Array, count, shape }`);
  }
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  if (data.x.length !== data.count * per || data.y.length !== data.count) {
    throw new MetaError('META_DATA_MISMATCH', `${name}: ${data.count} examples need x.length ${data.count * per} and y.length ${data.count}, got ${data.x.length} and ${data.y.length}`);
  }
  if (data.numClasses > spec.numClasses) {
    throw new MetaError('META_DATA_MISMATCH', `${name}: data has ${data.numClasses} classes, the model ${spec.numClasses}`);
  }
}

/** Copies the chosen examples into tensors (no tf.gather: its gradient has no wasm kernel). */
export function makeBatch(spec: ModelSpec, data: LabeledSet, indices: ArrayLike<number>): Batch {
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  const n = indices.length;
  const xs = new Float32Array(n * per);
  const hot = new Float32Array(n * spec.numClasses);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    xs.set(data.x.subarray(j * per, (j + 1) * per), i * per);
    const label = data.y[j]!;
    if (!(label >= 0 && label < spec.numClasses)) {
      throw new MetaError('META_DATA_MISMATCH', `label ${label} of example ${j} is outside 0..${spec.numClasses - 1}`);
    }
    labels[i] = label;
    hot[i * spec.numClasses + label] = 1;
  }
  return {
    x: tf.tensor(xs, [n, ...spec.inputShape]),
    oneHot: tf.tensor2d(hot, [n, spec.numClasses]),
    labels,
    count: n,
  };
}

export function allIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

export function disposeBatch(b: Batch): void {
  b.x.dispose();
  b.oneHot.dispose();
}

/** A minibatch of min(size, count) distinct examples. */
export function sampleIndices(count: number, size: number, rng: Prng): Int32Array {
  const p = permutation(count, rng);
  return p.subarray(0, Math.min(size, count));
}

/** Two disjoint minibatches (for inner/outer or D/D' splits), each at most `size`. */
export function sampleDisjoint(count: number, size: number, rng: Prng): [Int32Array, Int32Array] {
  const p = permutation(count, rng);
  const each = Math.max(1, Math.min(size, Math.floor(count / 2)));
  return [p.subarray(0, each), p.subarray(each, Math.min(count, 2 * each))];
}

/** Mean cross-entropy of the model on a batch (twice differentiable). */
export function lossOf(spec: ModelSpec, params: Tensor[], batch: Batch): Tensor {
  return crossEntropySafe(spec.forward(params, batch.x), batch.oneHot);
}

/** Loss value and gradients w.r.t. every parameter tensor. */
export function lossAndGrads(
  lossFn: (params: Tensor[]) => Tensor,
  params: Tensor[],
): { loss: Tensor; grads: Tensor[] } {
  const { value, grads } = tf.valueAndGrads((...ps: Tensor[]) => lossFn(ps) as tf.Scalar)(params);
  return { loss: value, grads };
}

/** params - lr * grads, as new tensors (callers dispose the old ones). */
export function sgd(params: Tensor[], grads: Tensor[], lr: number): Tensor[] {
  return params.map((p, i) => tf.sub(p, tf.mul(grads[i]!, lr)));
}

export function disposeAll(ts: Tensor[]): void {
  for (const t of ts) t.dispose();
}

/** Replaces `params` by `next(params)` inside a tidy that keeps only the new tensors. */
export function stepInPlace(params: Tensor[], next: (ps: Tensor[]) => Tensor[]): Tensor[] {
  const out = tf.tidy(() => next(params));
  disposeAll(params);
  return out;
}

/** Reads a scalar and fails loudly on NaN/Infinity (a diverging lr). */
export function finiteScalar(t: Tensor, what: string): number {
  return finiteScalarOf(t.dataSync()[0]!, what);
}

/** The number itself, or META_NON_FINITE on NaN/Infinity. */
export function finiteScalarOf(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new MetaError('META_NON_FINITE', `${what} is ${v} (learning rate too large?)`);
  return v;
}

/** Validates the fields every algorithm reads. */
export function checkHyper(h: LocalHyper): void {
  if (!h || typeof h !== 'object') throw new MetaArgumentError('hyper: expected an object');
  requireInt('localSteps', h.localSteps, 1);
  requireInt('batchSize', h.batchSize, 1);
  requirePositive('lr', h.lr);
  if (h.innerLr !== undefined) requirePositive('innerLr', h.innerLr);
  if (h.innerSteps !== undefined) requireInt('innerSteps', h.innerSteps, 1);
  if (h.hvpRadius !== undefined) requirePositive('hvpRadius', h.hvpRadius);
  if (h.mu !== undefined) requirePositive('mu', h.mu, true);
}

/** Flat difference a - b. */
export function subtract(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** Fraction of rows whose argmax of `scores` equals the label. */
export function argmaxAccuracy(scores: Tensor, labels: Int32Array): number {
  const pred = tf.tidy(() => tf.argMax(scores, -1));
  const p = pred.dataSync();
  pred.dispose();
  let hit = 0;
  for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) hit++;
  return labels.length === 0 ? 0 : hit / labels.length;
}
