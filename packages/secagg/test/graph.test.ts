import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGraph, permuteForSession } from '../src/protocol/index.js';

const sid = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

test('graph: Harary H(n,k) is k-regular, symmetric, loop-free, and a ring of k/2-neighbourhoods', () => {
  for (const [n, k] of [[5, 2], [20, 4], [33, 8], [40, 12], [101, 30]] as const) {
    const ids = range(n, 3).map((x) => x * 7); // ids need not be contiguous
    const g = buildGraph(ids, k, sid(n));
    assert.equal(g.complete, false);
    assert.equal(g.degree, k);
    for (const u of ids) {
      const nb = g.neighbours(u);
      assert.equal(nb.length, k, `degree of ${u}`);
      assert.equal(new Set(nb).size, k);
      assert.ok(!nb.includes(u));
      assert.deepEqual([...nb], [...nb].sort((a, b) => a - b));
      for (const v of nb) {
        assert.ok(g.neighbours(v).includes(u), `symmetric ${u}-${v}`);
        assert.ok(g.adjacent(u, v) && g.adjacent(v, u));
      }
      for (const v of ids) if (v !== u && !nb.includes(v)) assert.ok(!g.adjacent(u, v));
    }
    // ring structure: position i is adjacent to exactly positions i +- 1..k/2
    const p = g.ring.indexOf(ids[0]!);
    for (let d = 1; d <= k / 2; d++) assert.ok(g.adjacent(ids[0]!, g.ring[(p + d) % n]!));
  }
});

test('graph: degree 0 or k >= n-1 gives the complete graph (classic SecAgg)', () => {
  for (const k of [0, 9, 10, 12]) {
    const g = buildGraph(range(10), k, sid(1));
    assert.equal(g.complete, true);
    assert.equal(g.degree, 9);
    for (const u of range(10)) assert.deepEqual(g.neighbours(u), range(10).filter((v) => v !== u));
  }
  assert.deepEqual(buildGraph(range(10), 4, sid(1)).neighbours(99), []);
});

test('graph: the permutation is a deterministic function of the session id, and changes with it', () => {
  const ids = range(50);
  const a = permuteForSession(ids, sid(1));
  assert.deepEqual(a, permuteForSession(ids, sid(1)));
  assert.deepEqual([...a].sort((x, y) => x - y), ids, 'a permutation');
  assert.notDeepEqual(a, permuteForSession(ids, sid(2)));
  assert.notDeepEqual(a, ids);
});

test('graph: the permutation is uniform (each id lands in each position about equally often)', () => {
  // n = 6, 6000 session ids: position counts per id ~ Binomial(6000, 1/6); chi-square over 36 cells.
  const n = 6;
  const counts = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const trials = 6000;
  const s = new Uint8Array(32);
  for (let t = 0; t < trials; t++) {
    new DataView(s.buffer).setUint32(0, t, true);
    permuteForSession(range(n, 0), s).forEach((id, pos) => counts[id]![pos]!++);
  }
  const expected = trials / n;
  let chi2 = 0;
  for (const row of counts) for (const c of row) chi2 += (c - expected) ** 2 / expected;
  // 25 degrees of freedom; P[chi2 > 60] < 1e-4
  assert.ok(chi2 < 60, `chi2 = ${chi2.toFixed(1)}`);
});
