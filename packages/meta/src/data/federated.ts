// One-call non-IID federations for tests, benches and the simulated runtime.
import { checkNumber, checkObject } from './checks.js';
import { checkDataset, type ClientData, type Dataset, indicesByClass, subset } from './dataset.js';
import { DataArgumentError } from './errors.js';
import { loadMnist } from './mnist.js';
import { type Partition, partitionByClasses, partitionDirichlet, partitionIid } from './partition.js';
import { SeededRng } from './rng.js';
import { splitSupportQuery } from './split.js';

/** Options of {@link federatedSplit} and {@link federatedMnist}. */
export interface FederatedOptions {
  /** Number of clients. */
  clients: number;
  /**
   * 'classes': k classes per client (pathological); 'dirichlet': Dir(alpha) label skew;
   * 'iid': uniform random equal-size split (the baseline where personalisation should not help).
   */
  scheme: 'classes' | 'dirichlet' | 'iid';
  /** For 'classes' (default 2). */
  classesPerClient?: number;
  /** For 'classes': examples per client (default: all of the pool, split evenly). */
  examplesPerClient?: number;
  /** For 'dirichlet' (default 0.5). */
  alpha?: number;
  /** For 'dirichlet': minimum examples per client before the split (default 4). */
  minExamples?: number;
  /** Support examples per class of each client; or give supportFraction. */
  supportPerClass?: number;
  /** Support fraction per class (default 0.2 when supportPerClass is absent, as in FedMeta). */
  supportFraction?: number;
  /** Cap on query examples per class of each client. */
  queryPerClass?: number;
  /**
   * 'shared' (default): every site uses the dataset's class labels. 'local': each site codes
   * the classes it holds as 0..k-1 in its own seeded random order (`ClientData.labelCodes`
   * keeps the map), as when institutions keep their own label vocabularies: one site's 0 is
   * another's 3. This is the few-shot task setting of meta-learning (N-way tasks with
   * shuffled labels): a shared classifier head cannot serve every site, only what is learned
   * below it can. The held-out `test` set keeps the shared labels.
   */
  labels?: 'shared' | 'local';
  /** Fraction of every class held out as the global test set before partitioning (default 0.1). */
  testFraction?: number;
  seed: number;
}

/** A simulated federation: per-client support/query sets and a held-out global test set. */
export interface Federation {
  clients: ClientData[];
  /** Held-out examples no client owns (stratified by class). */
  test: Dataset;
  /** The pool the clients were carved from (everything but `test`). */
  train: Dataset;
  /** Indices into `train` of each client's examples (before the support/query split). */
  partition: Int32Array[];
}

/**
 * Splits `ds` into a stratified held-out test set and a non-IID federation of clients,
 * each with a seeded support/query split. Deterministic per seed.
 * @throws DataArgumentError on bad options; PartitionError when the split is impossible.
 */
export function federatedSplit(ds: Dataset, options: FederatedOptions): Federation {
  checkDataset('ds', ds);
  const opts = checkObject<FederatedOptions>('options', options);
  const testFraction = checkNumber('options.testFraction', opts.testFraction ?? 0.1, { ge: 0, lt: 1 });
  const labels = opts.labels ?? 'shared';
  if (labels !== 'shared' && labels !== 'local') {
    throw new DataArgumentError(`options.labels must be 'shared' or 'local', got ${String(labels)}`);
  }
  const rng = new SeededRng(opts.seed, 0x6665);
  const testIdx: number[] = [];
  const trainIdx: number[] = [];
  for (const idx of indicesByClass(ds)) {
    rng.shuffleInPlace(idx);
    const t = Math.round(testFraction * idx.length);
    testIdx.push(...idx.slice(0, t));
    trainIdx.push(...idx.slice(t));
  }
  const base = ds.name ?? 'data';
  const test = subset(ds, rng.shuffleInPlace(testIdx.sort((a, b) => a - b)), `${base}/test`);
  const train = subset(ds, trainIdx.sort((a, b) => a - b), `${base}/train`);
  let partition: Partition;
  if (opts.scheme === 'classes') {
    const p: Parameters<typeof partitionByClasses>[1] = {
      clients: opts.clients,
      classesPerClient: opts.classesPerClient ?? 2,
      seed: opts.seed,
    };
    if (opts.examplesPerClient !== undefined) p.examplesPerClient = opts.examplesPerClient;
    partition = partitionByClasses(train, p);
  } else if (opts.scheme === 'dirichlet') {
    partition = partitionDirichlet(train, {
      clients: opts.clients,
      alpha: opts.alpha ?? 0.5,
      minExamples: opts.minExamples ?? 4,
      seed: opts.seed,
    });
  } else if (opts.scheme === 'iid') {
    partition = partitionIid(train, { clients: opts.clients, seed: opts.seed });
  } else {
    throw new DataArgumentError(`options.scheme must be 'classes', 'dirichlet' or 'iid', got ${String(opts.scheme)}`);
  }
  // Default to FedMeta's 0.2 support fraction; if both are given, splitSupportQuery refuses.
  const split: { supportPerClass?: number; supportFraction?: number; queryPerClass?: number } = {};
  if (opts.supportPerClass !== undefined) split.supportPerClass = opts.supportPerClass;
  if (opts.supportFraction !== undefined || opts.supportPerClass === undefined) {
    split.supportFraction = opts.supportFraction ?? 0.2;
  }
  if (opts.queryPerClass !== undefined) split.queryPerClass = opts.queryPerClass;
  let clients = partition.datasets.map((clientDs, id) => splitSupportQuery(clientDs, { ...split, seed: opts.seed, id }));
  if (labels === 'local') clients = clients.map((c) => withLocalLabelCodes(c, opts.seed));
  return { clients, test, train, partition: partition.indices };
}

/**
 * Recodes one client's labels to site-local codes: the classes it holds (support or query),
 * in a random order drawn from (seed, client id) alone, become 0..k-1.
 */
function withLocalLabelCodes(c: ClientData, seed: number): ClientData {
  const held = [...new Set([...c.support.y, ...c.query.y])].sort((a, b) => a - b);
  const labelCodes = new SeededRng(seed, 0x1abe1, c.id).shuffleInPlace(held);
  const codeOf = new Map(labelCodes.map((cls, code) => [cls, code]));
  const recode = (d: Dataset): Dataset => ({ ...d, y: Int32Array.from(d.y, (v) => codeOf.get(v)!) });
  return { ...c, support: recode(c.support), query: recode(c.query), labelCodes };
}

/**
 * {@link federatedSplit} over the 10,000 MNIST digits of the `mnist` package, e.g.
 * `federatedMnist({ clients: 20, scheme: 'classes', classesPerClient: 2, supportPerClass: 10,
 * queryPerClass: 40, seed: 1 })` gives the pFedMe-style 2-labels-per-client split.
 */
export function federatedMnist(options: FederatedOptions): Federation {
  return federatedSplit(loadMnist(), options);
}
