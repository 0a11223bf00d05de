// The in-memory dataset every loader returns and every partitioner consumes: plain typed
// arrays (no tfjs here; models convert), examples stored row-major one after another.
import { checkInt, describe } from './checks.js';
import { DataArgumentError, DataError } from './errors.js';
import { SeededRng } from './rng.js';

/**
 * A labelled dataset. Example i occupies x[i*F .. (i+1)*F) with F = product of `shape`.
 * Images are height x width x channels (HWC) with values scaled to [0, 1].
 */
export interface Dataset {
  /** count * F features, row-major. */
  x: Float32Array;
  /** count labels in 0..numClasses-1. */
  y: Int32Array;
  /** Number of examples. */
  count: number;
  /** Shape of one example, e.g. [28, 28, 1], [32, 32, 3] or [features]. */
  shape: number[];
  /** Number of classes of the task (labels may not all occur in a subset). */
  numClasses: number;
  /** Optional provenance, e.g. 'mnist' or 'fashion-mnist-test'. */
  name?: string;
}

/** One simulated client's data: adapt on `support`, evaluate on `query`. */
export interface ClientData {
  /** 0-based client index within its federation. */
  id: number;
  support: Dataset;
  query: Dataset;
  /**
   * Present when the federation uses site-local label codes: `labelCodes[c]` is the shared
   * class that this site calls `c`. Absent: labels are the shared classes themselves.
   */
  labelCodes?: number[];
}

/** Number of features per example (product of `shape`). */
export function featureSize(shape: readonly number[]): number {
  let f = 1;
  for (const d of shape) f *= d;
  return f;
}

/**
 * Builds a Dataset after checking that the arrays agree with the shape and that every
 * label is in range.
 * @throws DataArgumentError on inconsistent sizes or a bad shape; DataError
 *   'DATA_BAD_LABEL' on a label outside 0..numClasses-1.
 */
export function createDataset(
  x: Float32Array,
  y: Int32Array,
  shape: readonly number[],
  numClasses: number,
  name?: string,
): Dataset {
  if (!(x instanceof Float32Array)) throw new DataArgumentError(`x must be a Float32Array, got ${describe(x)}`);
  if (!(y instanceof Int32Array)) throw new DataArgumentError(`y must be an Int32Array, got ${describe(y)}`);
  if (!Array.isArray(shape) || shape.length === 0) throw new DataArgumentError('shape must be a non-empty array');
  shape.forEach((d, i) => checkInt(`shape[${i}]`, d, 1));
  checkInt('numClasses', numClasses, 1);
  const f = featureSize(shape);
  if (x.length !== y.length * f) {
    throw new DataArgumentError(
      `x has ${x.length} values but y has ${y.length} labels of shape [${shape.join(',')}] (${y.length * f} expected)`,
    );
  }
  for (let i = 0; i < y.length; i++) {
    const label = y[i]!;
    if (label < 0 || label >= numClasses) {
      throw new DataError('DATA_BAD_LABEL', `y[${i}] = ${label} is outside 0..${numClasses - 1}`);
    }
  }
  const ds: Dataset = { x, y, count: y.length, shape: [...shape], numClasses };
  if (name !== undefined) ds.name = name;
  return ds;
}

/** Asserts `ds` looks like a Dataset (cheap structural check, no label scan). */
export function checkDataset(name: string, ds: unknown): Dataset {
  const d = ds as Dataset;
  if (typeof ds !== 'object' || ds === null || !(d.x instanceof Float32Array) || !(d.y instanceof Int32Array) ||
      !Array.isArray(d.shape) || d.count !== d.y.length || d.x.length !== d.count * featureSize(d.shape) ||
      !Number.isInteger(d.numClasses) || d.numClasses < 1) {
    throw new DataArgumentError(`${name} must be a Dataset with consistent x, y, count and shape`);
  }
  return d;
}

/**
 * Copies the examples at `indices` (in that order; repeats allowed) into a new Dataset.
 * @throws DataArgumentError when an index is not an integer in 0..count-1.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  checkDataset('ds', ds);
  const f = featureSize(ds.shape);
  const n = indices.length;
  const x = new Float32Array(n * f);
  const y = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = indices[j]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) {
      throw new DataArgumentError(`indices[${j}] = ${String(i)} is not an example index in 0..${ds.count - 1}`);
    }
    x.set(ds.x.subarray(i * f, (i + 1) * f), j * f);
    y[j] = ds.y[i]!;
  }
  const out: Dataset = { x, y, count: n, shape: [...ds.shape], numClasses: ds.numClasses };
  if (name !== undefined) out.name = name;
  return out;
}

/**
 * Concatenates datasets with the same example shape and number of classes.
 * @throws DataArgumentError on an empty list or mismatched shapes/classes.
 */
export function concat(datasets: readonly Dataset[], name?: string): Dataset {
  if (!Array.isArray(datasets) || datasets.length === 0) {
    throw new DataArgumentError('datasets must be a non-empty array of Dataset');
  }
  const first = checkDataset('datasets[0]', datasets[0]);
  let total = 0;
  datasets.forEach((d, i) => {
    checkDataset(`datasets[${i}]`, d);
    if (d.shape.join(',') !== first.shape.join(',') || d.numClasses !== first.numClasses) {
      throw new DataArgumentError(
        `datasets[${i}] has shape [${d.shape.join(',')}] and ${d.numClasses} classes; ` +
          `datasets[0] has [${first.shape.join(',')}] and ${first.numClasses}`,
      );
    }
    total += d.count;
  });
  const f = featureSize(first.shape);
  const x = new Float32Array(total * f);
  const y = new Int32Array(total);
  let at = 0;
  for (const d of datasets) {
    x.set(d.x, at * f);
    y.set(d.y, at);
    at += d.count;
  }
  const out: Dataset = { x, y, count: total, shape: [...first.shape], numClasses: first.numClasses };
  const outName = name ?? first.name;
  if (outName !== undefined) out.name = outName;
  return out;
}

/** Number of examples of each class: result[c] for c in 0..numClasses-1. @throws DataError 'DATA_BAD_LABEL'. */
export function classCounts(ds: Dataset): number[] {
  checkDataset('ds', ds);
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.count; i++) counts[checkedLabel(ds, i)]! += 1;
  return counts;
}

/**
 * Example indices of each class, in dataset order: result[c] lists the examples labelled c.
 * @throws DataError 'DATA_BAD_LABEL' when a label is outside 0..numClasses-1.
 */
export function indicesByClass(ds: Dataset): number[][] {
  checkDataset('ds', ds);
  const out: number[][] = Array.from({ length: ds.numClasses }, () => []);
  for (let i = 0; i < ds.count; i++) out[checkedLabel(ds, i)]!.push(i);
  return out;
}

/** Label of example i, checked: a hand-built Dataset may carry labels createDataset would refuse. */
function checkedLabel(ds: Dataset, i: number): number {
  const label = ds.y[i]!;
  if (label < 0 || label >= ds.numClasses) {
    throw new DataError('DATA_BAD_LABEL', `y[${i}] = ${label} is outside 0..${ds.numClasses - 1}`);
  }
  return label;
}

/** A copy of `ds` with its examples in a seeded random order (same seed, same order). */
export function shuffle(ds: Dataset, seed: number): Dataset {
  checkDataset('ds', ds);
  const rng = new SeededRng(seed);
  return subset(ds, rng.permutation(ds.count));
}
