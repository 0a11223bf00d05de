/**
 * Turning the `data` section into datasets, with the meta package's loaders:
 * - demo sources (mnist, fashion-mnist) are split into non-IID shards, the same way on
 *   every machine for the same seed, so each demo client takes its shard by index and the
 *   server evaluates on the held-out test part no shard owns;
 * - an institution's own file (idx, csv, json) is that client's data, split per class
 *   into support (training) and query (personalised evaluation).
 */
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

/** Loads an institution's own file as one dataset. */
async function loadOwnFile(d: DataConfig): Promise<Dataset> {
  const m = await meta();
  if (d.source === 'idx') return m.loadIdxPair(d.path!, d.labels!);
  const table = { labelColumn: d.labelColumn, standardise: d.standardise, ...(d.classNames ? { labels: d.classNames.split(',').map((x) => x.trim()) } : {}) };
  if (d.source === 'csv') return (await m.loadCsv(d.path!, table)).dataset;
  if (d.source === 'json') return (await m.loadJsonTable(d.path!, table)).dataset;
  throw new TypeError(`data.source '${d.source}' is not a file source`);
}

/** The data one client trains on (support) and is evaluated on (query). */
export async function loadClientData(d: DataConfig): Promise<ClientData> {
  if (d.source === 'mnist' || d.source === 'fashion-mnist') {
    const fed = await loadDemoFederation(d, d.shards);
    return fed.clients[d.clientIndex ?? 0]!;
  }
  const m = await meta();
  const ds = await loadOwnFile(d);
  const split = splitOptions(d);
  return m.splitSupportQuery(ds, { ...split, ...(split.supportPerClass === undefined ? { supportFraction: 0.2 } : {}), seed: d.seed });
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
  if (d.source === 'mnist' || d.source === 'fashion-mnist') return (await loadDemoFederation(d, d.shards)).test;
  if (d.path === undefined) return undefined;
  return loadOwnFile(d);
}
