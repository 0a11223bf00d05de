// Per-client support/query split: the client adapts on support and is scored on query.
import { checkInt, checkNumber, checkObject } from './checks.js';
import { checkDataset, type ClientData, type Dataset, indicesByClass, subset } from './dataset.js';
import { DataArgumentError, PartitionError } from './errors.js';
import { SeededRng } from './rng.js';

/** Options of {@link splitSupportQuery}; give exactly one of supportFraction / supportPerClass. */
export interface SupportQueryOptions {
  /** Fraction of each class that goes to support, in (0, 1) (FedMeta uses 0.2). */
  supportFraction?: number;
  /** Support examples per class (few-shot, e.g. 5 or 20). */
  supportPerClass?: number;
  /** Cap on query examples per class (default: all the rest). */
  queryPerClass?: number;
  seed: number;
  /** Client id stored in the result (default 0); also selects the seeded stream. */
  id?: number;
}

/**
 * Stratified support/query split of one client's data. Per class with n examples:
 * supportPerClass s takes min(s, n-1) for support (a class with a single example goes to
 * support), supportFraction f takes round(f*n) clamped to [1, n-1]; the rest, up to
 * queryPerClass, goes to query. So every class with >= 2 examples is in both sets, and
 * the choice is a seeded random one (same seed and id, same split). If that leaves query
 * empty (every class a singleton), one example moves from support to query.
 * @throws DataArgumentError on bad options; PartitionError when `ds` has fewer than 2 examples.
 */
export function splitSupportQuery(ds: Dataset, options: SupportQueryOptions): ClientData {
  checkDataset('ds', ds);
  const opts = checkObject<SupportQueryOptions>('options', options);
  if ((opts.supportFraction === undefined) === (opts.supportPerClass === undefined)) {
    throw new DataArgumentError('options: give exactly one of supportFraction or supportPerClass');
  }
  const fraction = opts.supportFraction === undefined ? undefined
    : checkNumber('options.supportFraction', opts.supportFraction, { gt: 0, lt: 1 });
  const perClass = opts.supportPerClass === undefined ? undefined
    : checkInt('options.supportPerClass', opts.supportPerClass, 1);
  const queryCap = opts.queryPerClass === undefined ? Infinity
    : checkInt('options.queryPerClass', opts.queryPerClass, 1);
  const id = checkInt('options.id', opts.id ?? 0, 0);
  const rng = new SeededRng(opts.seed, 0x7371, id);
  const supportByClass: number[][] = [];
  const query: number[] = [];
  for (const idx of indicesByClass(ds)) {
    const n = idx.length;
    if (n === 0) continue;
    rng.shuffleInPlace(idx);
    const s = n === 1 ? 1
      : perClass !== undefined ? Math.min(perClass, n - 1)
      : Math.min(n - 1, Math.max(1, Math.round(fraction! * n)));
    supportByClass.push(idx.slice(0, s));
    query.push(...idx.slice(s, s + Math.min(queryCap, n - s)));
  }
  // Only singleton classes (e.g. a sparse Dirichlet client): move one example of the
  // best-represented class to query, so the client can still be evaluated.
  if (query.length === 0 && ds.count >= 2) {
    const largest = supportByClass.reduce((best, cur) => (cur.length > best.length ? cur : best));
    query.push(largest.pop()!);
  }
  const support = supportByClass.flat();
  if (support.length === 0 || query.length === 0) {
    throw new PartitionError(
      `client ${id}: ${ds.count} example(s) cannot give a non-empty support and query set (need at least 2)`,
    );
  }
  // Shuffle within each set so batches mix classes; sorting first keeps this independent
  // of the per-class order above.
  const base = ds.name ?? 'data';
  return {
    id,
    support: subset(ds, rng.shuffleInPlace(support.sort((a, b) => a - b)), `${base}/support`),
    query: subset(ds, rng.shuffleInPlace(query.sort((a, b) => a - b)), `${base}/query`),
  };
}
