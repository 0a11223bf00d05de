// Seeded non-IID partitioners: split one dataset's examples among simulated clients.
// Both return index lists (every example at most once) plus the materialised datasets.
import { checkInt, checkNumber, checkObject } from './checks.js';
import { checkDataset, type Dataset, indicesByClass, subset } from './dataset.js';
import { PartitionError } from './errors.js';
import { SeededRng } from './rng.js';

/** The result of a partitioner: client c owns examples indices[c] of the source dataset. */
export interface Partition {
  /** Source example indices per client, ascending; disjoint across clients. */
  indices: Int32Array[];
  /** The clients' datasets (copies of those examples, in index order). */
  datasets: Dataset[];
}

/** Options of {@link partitionByClasses}. */
export interface ClassPartitionOptions {
  /** Number of clients (>= 1). */
  clients: number;
  /** Distinct classes each client holds (pathological label skew; pFedMe uses 2 for MNIST). */
  classesPerClient: number;
  seed: number;
  /**
   * Examples per client, spread evenly over its classes. Default: every example of a
   * class is divided evenly among the clients that hold the class.
   */
  examplesPerClient?: number;
}

/**
 * Pathological non-IID split: each client gets exactly `classesPerClient` distinct classes.
 * Classes are dealt so every class is held by as equal a number of clients as possible
 * (clients in seeded order each take the k classes held by the fewest clients so far,
 * ties broken at random), and each class's examples, in seeded random order, are divided
 * among its holders.
 * @throws DataArgumentError on bad options; PartitionError when the dataset has fewer
 *   classes than classesPerClient, or not enough examples for every client.
 */
export function partitionByClasses(ds: Dataset, options: ClassPartitionOptions): Partition {
  checkDataset('ds', ds);
  const opts = checkObject<ClassPartitionOptions>('options', options);
  const clients = checkInt('options.clients', opts.clients, 1);
  const k = checkInt('options.classesPerClient', opts.classesPerClient, 1);
  const perClient = opts.examplesPerClient === undefined ? undefined
    : checkInt('options.examplesPerClient', opts.examplesPerClient, k);
  const rng = new SeededRng(opts.seed, 0x636c);
  const byClass = indicesByClass(ds);
  const present = byClass.flatMap((idx, c) => (idx.length > 0 ? [c] : []));
  if (present.length < k) {
    throw new PartitionError(
      `classesPerClient = ${k} but the dataset has only ${present.length} classes with examples`,
    );
  }
  // Deal classes: each client, in seeded order, takes the k least-held classes (ties broken
  // at random), so holder counts differ by at most one and class combinations vary.
  const load = new Map<number, number>(present.map((c) => [c, 0]));
  const holders: number[][] = Array.from({ length: ds.numClasses }, () => []);
  const classesOf: number[][] = Array.from({ length: clients }, () => []);
  for (const client of rng.permutation(clients)) {
    const ranked = rng.shuffleInPlace([...present]).sort((a, b) => load.get(a)! - load.get(b)!);
    const chosen = ranked.slice(0, k).sort((a, b) => a - b);
    for (const c of chosen) load.set(c, load.get(c)! + 1);
    classesOf[client] = chosen;
  }
  for (let client = 0; client < clients; client++) {
    for (const c of classesOf[client]!) holders[c]!.push(client);
  }
  const owned: number[][] = Array.from({ length: clients }, () => []);
  for (let c = 0; c < ds.numClasses; c++) {
    const hs = holders[c]!;
    if (hs.length === 0) continue;
    const pool = rng.shuffleInPlace([...byClass[c]!]);
    // Demand per holder: a fixed quota, or an even share of the whole class.
    const quotas = hs.map((client) => {
      if (perClient === undefined) return undefined;
      const pos = classesOf[client]!.indexOf(c);
      return Math.floor(perClient / k) + (pos < perClient % k ? 1 : 0);
    });
    const need = quotas.reduce<number>((a, q) => a + (q ?? 0), 0);
    if (perClient !== undefined && need > pool.length) {
      throw new PartitionError(
        `class ${c} has ${pool.length} examples but its ${hs.length} clients need ${need} ` +
          `(examplesPerClient = ${perClient}); lower examplesPerClient or use fewer clients`,
      );
    }
    let at = 0;
    hs.forEach((client, h) => {
      const take = quotas[h] ?? Math.floor(pool.length / hs.length) + (h < pool.length % hs.length ? 1 : 0);
      if (take === 0) {
        throw new PartitionError(
          `class ${c} has ${pool.length} examples for ${hs.length} clients: client ${client} would get none of it`,
        );
      }
      for (let t = 0; t < take; t++) owned[client]!.push(pool[at++]!);
    });
  }
  return materialise(ds, owned);
}

/** Options of {@link partitionDirichlet}. */
export interface DirichletPartitionOptions {
  /** Number of clients (>= 1). */
  clients: number;
  /** Concentration: small (0.1) is strongly skewed, large (100) is near IID. */
  alpha: number;
  seed: number;
  /** Every client must get at least this many examples (default 1); redraws until it does. */
  minExamples?: number;
  /** Redraw attempts before giving up (default 200). */
  maxAttempts?: number;
}

/**
 * Dirichlet label skew (Hsu et al. 2019): for every class, draw client proportions
 * p ~ Dir(alpha, ..., alpha) and give each client round(p_i * n_c) of the class's
 * examples (largest-remainder rounding, so all are assigned). The whole draw is repeated
 * (from the same seeded stream) until every client has at least minExamples.
 * @throws DataArgumentError on bad options; PartitionError when clients * minExamples
 *   exceeds the dataset or no draw within maxAttempts satisfies minExamples.
 */
export function partitionDirichlet(ds: Dataset, options: DirichletPartitionOptions): Partition {
  checkDataset('ds', ds);
  const opts = checkObject<DirichletPartitionOptions>('options', options);
  const clients = checkInt('options.clients', opts.clients, 1);
  const alpha = checkNumber('options.alpha', opts.alpha, { gt: 0 });
  const minExamples = checkInt('options.minExamples', opts.minExamples ?? 1, 0);
  const maxAttempts = checkInt('options.maxAttempts', opts.maxAttempts ?? 200, 1);
  if (clients * minExamples > ds.count) {
    throw new PartitionError(
      `${clients} clients x minExamples ${minExamples} exceeds the ${ds.count} examples of the dataset`,
    );
  }
  const rng = new SeededRng(opts.seed, 0x6469);
  const byClass = indicesByClass(ds).map((idx) => rng.shuffleInPlace(idx));
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const owned: number[][] = Array.from({ length: clients }, () => []);
    for (const pool of byClass) {
      if (pool.length === 0) continue;
      const counts = apportion(rng.dirichlet(alpha, clients), pool.length);
      let at = 0;
      counts.forEach((n, client) => {
        for (let t = 0; t < n; t++) owned[client]!.push(pool[at++]!);
      });
    }
    if (owned.every((o) => o.length >= Math.max(1, minExamples))) return materialise(ds, owned);
  }
  throw new PartitionError(
    `no Dirichlet(alpha = ${alpha}) draw in ${maxAttempts} attempts gave all ${clients} clients ` +
      `at least ${Math.max(1, minExamples)} examples; raise alpha or lower clients/minExamples`,
  );
}

/** Options of {@link partitionIid}. */
export interface IidPartitionOptions {
  /** Number of clients (>= 1). */
  clients: number;
  seed: number;
}

/**
 * IID baseline: a seeded random permutation dealt into `clients` parts whose sizes differ
 * by at most one, so every client's label mix follows the dataset's.
 * @throws PartitionError when there are fewer examples than clients.
 */
export function partitionIid(ds: Dataset, options: IidPartitionOptions): Partition {
  checkDataset('ds', ds);
  const opts = checkObject<IidPartitionOptions>('options', options);
  const clients = checkInt('options.clients', opts.clients, 1);
  if (clients > ds.count) throw new PartitionError(`${clients} clients but only ${ds.count} examples`);
  const perm = new SeededRng(opts.seed, 0x6969).permutation(ds.count);
  const owned: number[][] = Array.from({ length: clients }, () => []);
  perm.forEach((i, j) => owned[j % clients]!.push(i));
  return materialise(ds, owned);
}

/**
 * Integer counts summing to `total` proportional to `weights` (which sum to 1):
 * floor of each share, then the leftover units to the largest fractional remainders.
 */
export function apportion(weights: ArrayLike<number>, total: number): number[] {
  const raw = Array.from(weights, (w) => w * total);
  const counts = raw.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) counts[order[j]![1]]! += 1;
  return counts;
}

/**
 * Keeps at most `maxPerClass` examples of each class. Without a seed the first ones in
 * dataset order are kept; with a seed a seeded random choice. Kept examples stay in
 * dataset order. Use it to give a bench few examples per client.
 */
export function limitPerClass(ds: Dataset, maxPerClass: number, seed?: number): Dataset {
  checkDataset('ds', ds);
  checkInt('maxPerClass', maxPerClass, 0);
  const rng = seed === undefined ? undefined : new SeededRng(seed, 0x6c70);
  const keep: number[] = [];
  for (const idx of indicesByClass(ds)) {
    const chosen = rng ? rng.shuffleInPlace(idx).slice(0, maxPerClass) : idx.slice(0, maxPerClass);
    keep.push(...chosen);
  }
  keep.sort((a, b) => a - b);
  return subset(ds, keep);
}

function materialise(ds: Dataset, owned: number[][]): Partition {
  const indices = owned.map((o) => Int32Array.from(o).sort());
  indices.forEach((idx, client) => {
    if (idx.length === 0) throw new PartitionError(`client ${client} would get no examples`);
  });
  const datasets = indices.map((idx, client) => subset(ds, idx, `${ds.name ?? 'data'}/client-${client}`));
  return { indices, datasets };
}
