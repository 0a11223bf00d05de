/**
 * Turning the `data` section into datasets, with the meta package's loaders:
 * - demo sources (mnist, fashion-mnist) are split into non-IID shards, the same way on
 *   every machine for the same seed, so each demo client takes its shard by index and the
 *   server evaluates on the held-out test part no shard owns;
 * - an institution's own file (idx, csv, json) is that client's data, split per class
 *   into support (training) and query (personalised evaluation).
 */
import type { DataSchema } from '@fedmeta/transport';
import type { ClientData, Dataset, Federation } from '@fedmeta/meta';
import type { FedmetaConfig } from './fedmeta-schema.js';

type DataConfig = FedmetaConfig['data'];

/** The meta package loads TensorFlow.js: import it only when data is actually needed. */
const meta = () => import('@fedmeta/meta');

/** Support/query options from the config (meta's default is a 20% support fraction). */
function splitOptions(d: DataConfig): { supportPerClass?: number; supportFraction?: number; queryPerClass?: number } {
  return {
    ...(d.supportPerClass !== undefined ? { supportPerClass: d.supportPerClass } : {}),
    ...(d.queryPerClass !== undefined ? { queryPerClass: d.queryPerClass } : {}),
  };
}

/**
 * Splits a demo dataset into `shards` non-IID clients plus a held-out test set.
 * @throws the meta package's DataError / PartitionError (e.g. more classes per client than exist)
 */
export async function loadDemoFederation(d: DataConfig, shards: number): Promise<Federation> {
  const m = await meta();
  const options = {
    clients: shards,
    scheme: d.partition,
    classesPerClient: d.classesPerClient,
    alpha: d.alpha,
    labels: d.labelCodes,
    seed: d.seed,
    ...splitOptions(d),
  };
  if (d.source === 'mnist') return m.federatedMnist(options);
  if (d.source === 'fashion-mnist') {
    const ds = await m.loadFashionMnist({ split: 'test', ...(d.path !== undefined ? { dir: d.path } : {}) });
    return m.federatedSplit(ds, options);
  }
  throw new TypeError(`data.source '${d.source}' is not a demo dataset`);
}

/** What a table brings besides its numbers: its column names and label values. */
export interface TableInfo {
  columns: string[];
  labelColumn: string;
  /** labels[id] is the label value of class id. */
  labels: string[];
}

/** Loads an institution's own file as one dataset (and, for a table, its names). */
async function loadOwnFile(d: DataConfig, raw = false): Promise<{ dataset: Dataset; table?: TableInfo }> {
  const m = await meta();
  if (d.source === 'idx') return { dataset: await m.loadIdxPair(d.path!, d.labels!) };
  // Raw features when the standardisation is decided later (the federation's statistics round).
  const table = { labelColumn: d.labelColumn, standardise: raw ? false : d.standardise, ...(d.classNames ? { labels: d.classNames.split(',').map((x) => x.trim()) } : {}) };
  let t;
  if (d.source === 'csv') t = await m.loadCsv(d.path!, table);
  else if (d.source === 'json') t = await m.loadJsonTable(d.path!, table);
  else throw new TypeError(`data.source '${d.source}' is not a file source`);
  return { dataset: t.dataset, table: { columns: t.featureNames, labelColumn: d.labelColumn, labels: t.labels } };
}

/** Share of each class of a site's own file it trains on by default (the rest is held out). */
export const OWN_FILE_TRAIN_FRACTION = 0.8;

/** The data one client trains on (support) and is evaluated on (query). */
export async function loadClientData(d: DataConfig): Promise<ClientData & { columns?: string[]; labelColumn?: string; labels?: string[]; standardise?: 'local' }> {
  if (d.source === 'mnist' || d.source === 'fashion-mnist') {
    const fed = await loadDemoFederation(d, d.shards);
    return fed.clients[d.clientIndex ?? 0]!;
  }
  const m = await meta();
  const { dataset, table } = await loadOwnFile(d, true);
  const split = splitOptions(d);
  // An institution's own file: train on 80% of each class and hold out 20% for this site's
  // evaluation of the global model (the demo sources keep the meta-learning split of their benches).
  const data = m.splitSupportQuery(dataset, { ...split, ...(split.supportPerClass === undefined ? { supportFraction: OWN_FILE_TRAIN_FRACTION } : {}), seed: d.seed });
  // The names travel with the numbers: the client checks them against the federation's schema.
  // Raw features: the client standardises them with the federation's statistics, or with
  // its own when the federation has none (data.standardise).
  return table ? { ...data, columns: table.columns, labelColumn: table.labelColumn, labels: table.labels, ...(d.standardise ? { standardise: 'local' as const } : {}) } : data;
}

/**
 * Whether a global model can be scored on one shared test set: not when demo clients code
 * their labels locally (one client's class 0 is another's class 3), so the test set's labels
 * mean nothing to the model; personalised accuracy is the measure then.
 */
export const hasGlobalLabels = (d: DataConfig): boolean => d.labelCodes !== 'local';

/**
 * A caution for a client whose class ids come from its own file alone (csv / json without
 * data.classNames): ids follow the label values this site holds, so a site lacking one of them
 * numbers the rest differently, and a shared classifier head then mixes up classes.
 */
export function labelCodingNote(d: DataConfig): string | undefined {
  if ((d.source !== 'csv' && d.source !== 'json') || d.classNames !== undefined) return undefined;
  return 'note: data.classNames is not set, so class ids are numbered from the labels in this file; sites that hold different classes will disagree on them. Set data.classNames to the federation\'s list, or train with meta.algorithm protonets, which needs no shared ids.';
}

/** What the server evaluates the global model on: the demo test split, or the configured file. */
export async function loadServerEvalData(d: DataConfig): Promise<Dataset | undefined> {
  return (await loadServerReference(d))?.dataset;
}

/**
 * The coordinator's reference data and the schema it announces: a table's feature columns,
 * label column and class names (data.classNames, or the labels of the reference file), or
 * the demo data's tensor shape.
 */
export async function loadServerReference(d: DataConfig): Promise<{ dataset: Dataset; schema: DataSchema; federatedStandardise: boolean } | undefined> {
  if (d.source === 'mnist' || d.source === 'fashion-mnist') {
    const test = (await loadDemoFederation(d, d.shards)).test;
    return { dataset: test, schema: { kind: 'tensor', shape: [...test.shape], numClasses: test.numClasses }, federatedStandardise: false };
  }
  if (d.path === undefined) return undefined;
  // A table with data.standardise: the federation standardises with global statistics from
  // its statistics round, so the reference is kept raw and standardised the same way.
  const federatedStandardise = (d.source === 'csv' || d.source === 'json') && d.standardise;
  const { dataset, table } = await loadOwnFile(d, federatedStandardise);
  const schema: DataSchema = table
    ? { kind: 'table', labelColumn: table.labelColumn, featureColumns: table.columns, classNames: table.labels }
    : { kind: 'tensor', shape: [...dataset.shape], numClasses: dataset.numClasses };
  return { dataset, schema, federatedStandardise };
}
