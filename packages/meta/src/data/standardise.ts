// Per-feature standardisation x' = (x - mean) / std. In a federation every site must use
// the same statistics, so they are returned and can be passed back in.
import { checkDataset, type Dataset, featureSize } from './dataset.js';
import { DataArgumentError } from './errors.js';

/** Per-feature mean and standard deviation (population), plain arrays so they serialise to JSON. */
export interface Standardisation {
  mean: number[];
  std: number[];
}

/** Mean and population std of every feature; a constant feature gets std 1 (left centred, not blown up). */
export function computeStandardisation(ds: Dataset): Standardisation {
  checkDataset('ds', ds);
  const f = featureSize(ds.shape);
  const mean = new Float64Array(f);
  const sq = new Float64Array(f);
  for (let i = 0; i < ds.count; i++) {
    for (let j = 0; j < f; j++) mean[j]! += ds.x[i * f + j]!;
  }
  for (let j = 0; j < f; j++) mean[j] = ds.count > 0 ? mean[j]! / ds.count : 0;
  for (let i = 0; i < ds.count; i++) {
    for (let j = 0; j < f; j++) {
      const d = ds.x[i * f + j]! - mean[j]!;
      sq[j]! += d * d;
    }
  }
  const std = Array.from(sq, (s) => {
    const v = ds.count > 0 ? Math.sqrt(s / ds.count) : 0;
    return v > 1e-12 ? v : 1;
  });
  return { mean: Array.from(mean), std };
}

/**
 * Returns a standardised copy of `ds` and the statistics used: the given ones (shared by
 * the federation) or, when absent, this dataset's own.
 * @throws DataArgumentError when given statistics do not match the feature count or a std is not > 0.
 */
export function standardise(ds: Dataset, stats?: Standardisation): { dataset: Dataset; standardisation: Standardisation } {
  checkDataset('ds', ds);
  const f = featureSize(ds.shape);
  const s = stats ?? computeStandardisation(ds);
  if (!Array.isArray(s.mean) || !Array.isArray(s.std) || s.mean.length !== f || s.std.length !== f) {
    throw new DataArgumentError(`standardisation must have mean and std arrays of length ${f} (the feature count)`);
  }
  s.std.forEach((v, j) => {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      throw new DataArgumentError(`standardisation.std[${j}] must be a finite number > 0, got ${String(v)}`);
    }
    if (typeof s.mean[j] !== 'number' || !Number.isFinite(s.mean[j])) {
      throw new DataArgumentError(`standardisation.mean[${j}] must be a finite number`);
    }
  });
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < ds.count; i++) {
    for (let j = 0; j < f; j++) x[i * f + j] = (ds.x[i * f + j]! - s.mean[j]!) / s.std[j]!;
  }
  return { dataset: { ...ds, x, shape: [...ds.shape] }, standardisation: { mean: [...s.mean], std: [...s.std] } };
}
