/**
 * The SecAgg+ communication graph (Bell et al., CCS'20): a k-regular Harary graph
 * H(n, k) on the clients of U1 whose ring order is a uniformly random permutation
 * derived from the session id, so every client can recompute (and the server cannot
 * choose) who its neighbours are. k even; k >= n-1 (or 0) gives the complete graph of
 * classic SecAgg. See protocol-spec/06-secagg-plus.md.
 */
import { createCipheriv } from 'node:crypto';
import { deriveKey } from '../crypto/index.js';

/** HKDF label of the graph permutation key (protocol layer's own derivation). */
export const LABEL_GRAPH_PERMUTATION = 'fedmeta/secagg/v1/graph-permutation';

export interface CommunicationGraph {
  /** Sorted ids of the graph's nodes (U1). */
  readonly nodes: readonly number[];
  /** True for the complete graph (classic SecAgg). */
  readonly complete: boolean;
  /** Every node's number of neighbours (n - 1 for the complete graph). */
  readonly degree: number;
  /** Ring order (complete graph: sorted order). */
  readonly ring: readonly number[];
  /** Sorted neighbours of `id` (never includes `id`); empty for a non-node. */
  neighbours(id: number): readonly number[];
  /** True when a and b are distinct adjacent nodes. */
  adjacent(a: number, b: number): boolean;
}

/**
 * How many of `id`'s share holders (itself and its neighbours) are in `alive`: what bounds
 * whether `id`'s secrets can still be reconstructed, and whose signatures can vouch for a
 * survivor set to `id` (Bell et al. check every bound per neighbourhood, not over all of U).
 */
export function liveHolders(graph: CommunicationGraph, id: number, alive: ReadonlySet<number>): number {
  return (alive.has(id) ? 1 : 0) + graph.neighbours(id).filter((v) => alive.has(v)).length;
}

/** The first of `clients` (in order) with fewer than `threshold` holders in `alive`, if any. */
export function shortOfHolders(graph: CommunicationGraph, clients: readonly number[], alive: ReadonlySet<number>, threshold: number): { id: number; holders: number } | undefined {
  for (const id of clients) {
    const holders = liveHolders(graph, id, alive);
    if (holders < threshold) return { id, holders };
  }
  return undefined;
}

/**
 * Fisher-Yates shuffle of `items` driven by AES-128-CTR keyed with
 * HKDF(sessionId, label graph-permutation, 16 bytes), zero IV; index j for position i is
 * a uniform draw in [0, i] by rejection sampling of little-endian uint32 words.
 */
export function permuteForSession(items: readonly number[], sessionId: Uint8Array): number[] {
  const key = deriveKey(sessionId, { label: LABEL_GRAPH_PERMUTATION, length: 16 });
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  let block = new Uint32Array(0);
  let pos = 0;
  const nextWord = (): number => {
    if (pos === block.length) {
      const ks = cipher.update(Buffer.alloc(1024));
      block = new Uint32Array(new Uint8Array(ks).buffer);
      pos = 0;
    }
    return block[pos++]!;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const range = i + 1;
    const limit = Math.floor(0x100000000 / range) * range;
    let w = nextWord();
    while (w >= limit) w = nextWord();
    const j = w % range;
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}

/**
 * Builds the graph on `nodes` (any order; sorted internally).
 * @param degree k from the config (0 = complete)
 * @param sessionId seeds the permutation of a Harary graph
 */
export function buildGraph(nodes: readonly number[], degree: number, sessionId: Uint8Array): CommunicationGraph {
  const sorted = [...nodes].sort((a, b) => a - b);
  const n = sorted.length;
  const complete = degree === 0 || degree >= n - 1;
  const ring = complete ? sorted : permuteForSession(sorted, sessionId);
  const position = new Map<number, number>(ring.map((id, i) => [id, i]));
  const cache = new Map<number, readonly number[]>();
  const half = degree / 2;
  const neighbours = (id: number): readonly number[] => {
    const cached = cache.get(id);
    if (cached) return cached;
    const p = position.get(id);
    let list: number[];
    if (p === undefined) list = [];
    else if (complete) list = sorted.filter((x) => x !== id);
    else {
      list = [];
      for (let d = 1; d <= half; d++) list.push(ring[(p + d) % n]!, ring[(p - d + n) % n]!);
      list.sort((a, b) => a - b);
    }
    cache.set(id, list);
    return list;
  };
  const adjacent = (a: number, b: number): boolean => {
    const pa = position.get(a);
    const pb = position.get(b);
    if (pa === undefined || pb === undefined || a === b) return false;
    if (complete) return true;
    const d = Math.abs(pa - pb);
    return Math.min(d, n - d) <= half;
  };
  return { nodes: sorted, complete, degree: complete ? n - 1 : degree, ring, neighbours, adjacent };
}
