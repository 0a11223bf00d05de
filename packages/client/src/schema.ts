/**
 * A site's data against the schema the federation announced: the same feature columns
 * (in any order: they are put in the federation's order here), the same label column,
 * labels among the federation's classes (ids remapped to the federation's), or the same
 * tensor shape. A mismatch is refused before the site joins a round, naming the columns.
 */
import { TransportError, type DataSchema } from '@fedmeta/transport';
import { computeStandardisation, concat, standardise, type Standardisation } from '@fedmeta/meta';
import type { ClientDataOptions, ClientDataset } from './options.js';

/** Column j of the result is column perm[j] of `x` (row-major, `f` features). */
function permuteColumns(ds: ClientDataset, perm: readonly number[]): ClientDataset {
  const f = perm.length;
  const x = new Float32Array(ds.x.length);
  for (let r = 0; r < ds.count; r++) for (let j = 0; j < f; j++) x[r * f + j] = ds.x[r * f + perm[j]!]!;
  return { ...ds, x };
}

function remapLabels(ds: ClientDataset, map: readonly number[], numClasses: number): ClientDataset {
  const y = new Int32Array(ds.y.length);
  for (let i = 0; i < y.length; i++) y[i] = map[ds.y[i]!]!;
  return { ...ds, y, numClasses };
}

/**
 * @returns the site's data in the federation's column order and class ids
 * @throws TransportError ERR_SCHEMA_MISMATCH naming every missing, extra or unknown column or label
 */
export function conformData(data: ClientDataOptions, schema: DataSchema): ClientDataOptions {
  const refuse = (problems: string[]): never => {
    throw new TransportError('ERR_SCHEMA_MISMATCH', `this site's data does not match the federation's schema: ${problems.join('; ')}`);
  };
  if (schema.kind === 'tensor') {
    const shape = data.support.shape;
    const problems: string[] = [];
    if (shape.length !== schema.shape.length || shape.some((v, i) => v !== schema.shape[i])) problems.push(`its examples have shape [${shape.join(', ')}], the federation's model takes [${schema.shape.join(', ')}]`);
    if (data.support.numClasses > schema.numClasses) problems.push(`it has ${data.support.numClasses} classes, the federation ${schema.numClasses}`);
    if (problems.length) refuse(problems);
    return data;
  }
  const problems: string[] = [];
  const cols = data.columns;
  if (!cols) refuse([`it has no named columns (a table with ${schema.featureColumns.length} feature columns and label column "${schema.labelColumn}" is expected)`]);
  if (data.labelColumn !== undefined && data.labelColumn !== schema.labelColumn) problems.push(`label column "${data.labelColumn}", the federation's is "${schema.labelColumn}"`);
  const have = new Set(cols!);
  const want = new Set(schema.featureColumns);
  const missing = schema.featureColumns.filter((c) => !have.has(c));
  const extra = cols!.filter((c) => !want.has(c));
  if (missing.length) problems.push(`missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}`);
  if (extra.length) problems.push(`extra column${extra.length > 1 ? 's' : ''} ${extra.map((c) => `"${c}"`).join(', ')} (not in the federation's schema)`);
  let labelMap: number[] | null = null;
  if (data.labels) {
    const index = new Map(schema.classNames.map((n, i) => [n, i]));
    const unknown = data.labels.filter((l) => !index.has(l));
    if (unknown.length) problems.push(`label value${unknown.length > 1 ? 's' : ''} ${unknown.map((l) => `"${l}"`).join(', ')} not among the federation's classes (${schema.classNames.join(', ')})`);
    labelMap = data.labels.map((l) => index.get(l) ?? -1);
  }
  if (problems.length) refuse(problems);
  const perm = schema.featureColumns.map((c) => cols!.indexOf(c));
  const identity = perm.every((p, j) => p === j);
  const fix = (ds: ClientDataset): ClientDataset => {
    let out = identity ? ds : permuteColumns(ds, perm);
    if (labelMap) out = remapLabels(out, labelMap, schema.classNames.length);
    return out;
  };
  return { ...data, support: fix(data.support), query: fix(data.query), columns: [...schema.featureColumns], ...(data.labels ? { labels: [...schema.classNames] } : {}) };
}

/** The rows of support and query together (a site's raw feature statistics cover all of its rows). */
function eachRow(data: ClientDataOptions, f: number, fn: (x: Float32Array, offset: number) => void): void {
  for (const ds of [data.support, data.query]) for (let r = 0; r < ds.count; r++) fn(ds.x, r * f);
}

/**
 * [count, sum_1..sum_f, sumsq_1..sumsq_f] over all of the site's rows (float64 sums).
 * @throws TransportError ERR_SCHEMA_MISMATCH when the data has another number of features
 */
export function featureStatistics(data: ClientDataOptions, features: number): Float64Array {
  const f = data.support.x.length / Math.max(1, data.support.count);
  if (data.support.count > 0 && f !== features) throw new TransportError('ERR_SCHEMA_MISMATCH', `the statistics round asks for ${features} features, this site's examples have ${f}`);
  const out = new Float64Array(1 + 2 * features);
  eachRow(data, features, (x, o) => {
    out[0]! += 1;
    for (let j = 0; j < features; j++) {
      const v = x[o + j]!;
      out[1 + j]! += v;
      out[1 + features + j]! += v * v;
    }
  });
  return out;
}

/**
 * The data with every feature standardised with the given statistics (meta's standardise,
 * the same arithmetic as the coordinator's evaluation data and `fedmeta predict`).
 * @throws TransportError ERR_SCHEMA_MISMATCH when the statistics have another feature count
 */
export function applyStandardisation(data: ClientDataOptions, stats: Standardisation): ClientDataOptions {
  const f = stats.mean.length;
  const fix = (ds: ClientDataset): ClientDataset => {
    if (ds.count > 0 && ds.x.length / ds.count !== f) throw new TransportError('ERR_SCHEMA_MISMATCH', `the federation standardises ${f} features, this site's examples have ${ds.x.length / ds.count}`);
    return standardise(ds, stats).dataset;
  };
  return { ...data, support: fix(data.support), query: fix(data.query) };
}

/** This site's own standardisation (when the federation has none), over all of its rows. */
export function standardiseLocally(data: ClientDataOptions): ClientDataOptions {
  return applyStandardisation(data, computeStandardisation(concat([data.support, data.query])));
}
