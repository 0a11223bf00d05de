/**
 * Data of the tabular accuracy bench (tabular.ts): the breast-cancer and digits tables that
 * Debian's python3-sklearn ships, a seeded stratified held-out test split, a seeded
 * Dirichlet label-skew split of the remaining rows across sites, and the pooled
 * standardisation. Everything here is plain typed arrays (meta's Dataset).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  SeededRng, classCounts, computeStandardisation, createDataset, indicesByClass, partitionDirichlet, standardise, subset,
  type Dataset, type Standardisation,
} from '@fedmeta/meta';

export const SKLEARN_DATA = '/usr/lib/python3/dist-packages/sklearn/datasets/data';

export interface Table {
  /** Short name used in the tables. */
  name: string;
  /** Where the rows came from. */
  source: string;
  data: Dataset;
  /** Feature column names, in the order of `data.x`'s columns. */
  columns: string[];
  /** classNames[id] is the name of class id. */
  classNames: string[];
}

/** A table, or why it is not there (the bench prints the note and goes on). */
export type Loaded = { table: Table } | { missing: string };

function rowsToTable(name: string, source: string, rows: number[][], features: number, classNames: string[]): Table {
  const x = new Float32Array(rows.length * features);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    if (r.length !== features + 1 || r.some((v) => !Number.isFinite(v))) throw new Error(`${source}: row ${i + 1} has ${r.length} values (expected ${features} features and a label) or a non-number`);
    for (let j = 0; j < features; j++) x[i * features + j] = r[j]!;
    const label = r[features]!;
    if (!Number.isInteger(label) || label < 0 || label >= classNames.length) throw new Error(`${source}: row ${i + 1} has label ${label}`);
    y[i] = label;
  });
  return { name, source, data: createDataset(x, y, [features], classNames.length, name), columns: Array.from({ length: features }, (_, j) => `f${j + 1}`), classNames };
}

const parseRows = (lines: string[]): number[][] => lines.filter((l) => l.trim() !== '').map((l) => l.split(',').map(Number));

/** breast_cancer.csv: a header "569,30,malignant,benign", then 30 features and the label (0 malignant, 1 benign) per row. */
export function loadBreastCancer(dir = SKLEARN_DATA): Loaded {
  const source = `${dir}/breast_cancer.csv`;
  if (!existsSync(source)) return { missing: `${source} not found (Debian package python3-sklearn)` };
  const [header, ...lines] = readFileSync(source, 'utf8').trim().split('\n');
  const [count, features, ...classNames] = header!.trim().split(',');
  const table = rowsToTable('breast cancer', source, parseRows(lines), Number(features), classNames);
  if (table.data.count !== Number(count)) throw new Error(`${source}: the header says ${count} rows, the file has ${table.data.count}`);
  return { table };
}

/** digits.csv.gz: no header; 64 pixel values (0..16) of an 8x8 image, then the digit 0..9, per row. */
export function loadDigits(dir = SKLEARN_DATA): Loaded {
  const source = `${dir}/digits.csv.gz`;
  if (!existsSync(source)) return { missing: `${source} not found (Debian package python3-sklearn)` };
  const lines = gunzipSync(readFileSync(source)).toString('utf8').trim().split('\n');
  return { table: rowsToTable('digits', source, parseRows(lines), 64, Array.from({ length: 10 }, (_, d) => String(d))) };
}

/**
 * Stratified held-out split: from every class, round(testFraction * n_c) rows chosen by a
 * seeded shuffle go to the test set, the rest to training.
 */
export function stratifiedSplit(ds: Dataset, testFraction: number, seed: number): { train: Dataset; test: Dataset } {
  const rng = new SeededRng(seed, 0x7e57);
  const test: number[] = [];
  const train: number[] = [];
  for (const pool of indicesByClass(ds)) {
    const shuffled = rng.shuffleInPlace(pool.slice());
    const k = Math.round(testFraction * shuffled.length);
    test.push(...shuffled.slice(0, k));
    train.push(...shuffled.slice(k));
  }
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { train: subset(ds, sorted(train), `${ds.name}/train`), test: subset(ds, sorted(test), `${ds.name}/test`) };
}

/**
 * The training rows across `sites` with Dirichlet(alpha) label skew (meta's
 * partitionDirichlet: per class, site shares p ~ Dir(alpha)); every site gets at least
 * `minRows` rows (the draw is repeated from the same seeded stream until it does).
 */
export function dirichletSites(train: Dataset, sites: number, alpha: number, seed: number, minRows: number): Dataset[] {
  return partitionDirichlet(train, { clients: sites, alpha, seed, minExamples: minRows }).datasets;
}

/** Mean and population std of every feature over the pooled training rows (constant feature: std 1). */
export function pooledStandardisation(train: Dataset): Standardisation {
  return computeStandardisation(train);
}

export function standardised(ds: Dataset, stats: Standardisation): Dataset {
  return standardise(ds, stats).dataset;
}

/** "n (c0/c1/...)": the row count and the rows of every class. */
export function describe(ds: Dataset): string {
  return `${ds.count} (${classCounts(ds).join('/')})`;
}

/** The largest |a - b| / max(1, |b|) over two standardisations (federated vs pooled). */
export function standardisationGap(a: { mean: readonly number[]; std: readonly number[] }, b: Standardisation): number {
  let gap = 0;
  const rel = (u: number, v: number) => Math.abs(u - v) / Math.max(1, Math.abs(v));
  a.mean.forEach((m, j) => (gap = Math.max(gap, rel(m, b.mean[j]!), rel(a.std[j]!, b.std[j]!))));
  return gap;
}

/** The split every tabular bench uses: stratified 20% test set, 3 sites with Dirichlet(0.5) label skew, at least 20 rows each. */
export const SPLIT = { sites: 3, testFraction: 0.2, alpha: 0.5, minRows: 20 } as const;

export interface SiteSplit {
  /** Pooled training rows, raw. */
  train: Dataset;
  /** Held-out rows, raw (with `validation`: the validation rows carved out of the training rows). */
  test: Dataset;
  /** Every site's raw training rows. */
  sitesRaw: Dataset[];
  /** Mean and std of the pooled training rows. */
  stats: Standardisation;
  /** The same three, standardised with `stats`. */
  pooled: Dataset;
  testStd: Dataset;
  sites: Dataset[];
}

/**
 * The benches' split of one table: a stratified held-out test set (seed `seed`), then, with
 * `validation`, a stratified validation set of the same fraction carved out of the training
 * rows (seed `seed + 1`; it replaces the test set, which is never looked at), the training
 * rows across the sites (Dirichlet label skew, seed `seed`), all standardised with the pooled
 * training statistics.
 */
export function splitForSites(data: Dataset, o: { seed: number; alpha?: number; sites?: number; validation?: boolean }): SiteSplit {
  let { train, test } = stratifiedSplit(data, SPLIT.testFraction, o.seed);
  if (o.validation) ({ train, test } = stratifiedSplit(train, SPLIT.testFraction, o.seed + 1));
  const sitesRaw = dirichletSites(train, o.sites ?? SPLIT.sites, o.alpha ?? SPLIT.alpha, o.seed, SPLIT.minRows);
  const stats = pooledStandardisation(train);
  return { train, test, sitesRaw, stats, pooled: standardised(train, stats), testStd: standardised(test, stats), sites: sitesRaw.map((d) => standardised(d, stats)) };
}
