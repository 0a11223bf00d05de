import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { classCounts } from '../../src/data/dataset.js';
import { DataArgumentError, PartitionError } from '../../src/data/errors.js';
import { apportion, limitPerClass, partitionByClasses, partitionDirichlet, partitionIid, type Partition } from '../../src/data/partition.js';
import { labelled, labelsOf, sourceIds } from './helpers.js';

/** Every example at most once, datasets match their index lists. */
function assertDisjointAndConsistent(p: Partition, sourceCount: number): Set<number> {
  const seen = new Set<number>();
  p.indices.forEach((idx, c) => {
    assert.ok(idx.length > 0, `client ${c} is empty`);
    for (const i of idx) {
      assert.ok(i >= 0 && i < sourceCount);
      assert.ok(!seen.has(i), `example ${i} assigned twice`);
      seen.add(i);
    }
    assert.deepEqual(sourceIds(p.datasets[c]!), [...idx]);
  });
  return seen;
}

test('partitionByClasses: every client sees exactly k classes, all examples used once', () => {
  const ds = labelled([100, 90, 80, 120, 110, 100, 95, 105, 85, 115]);
  for (const [clients, k] of [[20, 2], [7, 3], [3, 1], [10, 10], [50, 2]] as const) {
    const p = partitionByClasses(ds, { clients, classesPerClient: k, seed: 3 });
    assert.equal(p.datasets.length, clients);
    const used = assertDisjointAndConsistent(p, ds.count);
    for (const d of p.datasets) assert.equal(labelsOf(d).length, k);
    // With clients*k >= 10 every class is held, so every example is assigned.
    if (clients * k >= 10) assert.equal(used.size, ds.count);
    // Holder counts are balanced: each class held by floor or ceil of clients*k/10 clients.
    const holders = new Array<number>(10).fill(0);
    for (const d of p.datasets) for (const c of labelsOf(d)) holders[c]! += 1;
    assert.ok(Math.max(...holders) - Math.min(...holders) <= 1, `holders ${holders}`);
  }
});

test('partitionByClasses: deterministic per seed, different seeds differ, class pairs vary', () => {
  const ds = labelled(new Array(10).fill(60));
  const opts = { clients: 20, classesPerClient: 2 };
  const a = partitionByClasses(ds, { ...opts, seed: 1 });
  assert.deepEqual(a.indices, partitionByClasses(ds, { ...opts, seed: 1 }).indices);
  assert.notDeepEqual(a.indices, partitionByClasses(ds, { ...opts, seed: 2 }).indices);
  const pairs = new Set(a.datasets.map((d) => labelsOf(d).join('-')));
  assert.ok(pairs.size >= 8, `only ${pairs.size} distinct class pairs`);
});

test('partitionByClasses: examplesPerClient gives exact sizes, evenly over the classes', () => {
  const ds = labelled(new Array(10).fill(100));
  const p = partitionByClasses(ds, { clients: 20, classesPerClient: 2, examplesPerClient: 41, seed: 5 });
  assertDisjointAndConsistent(p, ds.count);
  for (const d of p.datasets) {
    assert.equal(d.count, 41);
    const counts = classCounts(d).filter((n) => n > 0).sort();
    assert.deepEqual(counts, [20, 21]);
  }
  assert.throws(
    () => partitionByClasses(ds, { clients: 20, classesPerClient: 2, examplesPerClient: 202, seed: 5 }),
    (e: unknown) => e instanceof PartitionError && e.code === 'PARTITION_IMPOSSIBLE' && /class \d+ has 100 examples/.test(e.message),
  );
});

test('partitionByClasses: impossible or bad requests are typed errors', () => {
  const ds = labelled([5, 5, 0]);
  assert.throws(() => partitionByClasses(ds, { clients: 2, classesPerClient: 3, seed: 1 }), /only 2 classes/);
  assert.throws(() => partitionByClasses(ds, { clients: 12, classesPerClient: 1, seed: 1 }), PartitionError);
  assert.throws(() => partitionByClasses(ds, { clients: 0, classesPerClient: 1, seed: 1 }), /options.clients/);
  assert.throws(() => partitionByClasses(ds, { clients: 2, classesPerClient: 1.5, seed: 1 }), DataArgumentError);
  assert.throws(() => partitionByClasses(ds, { clients: 2, classesPerClient: 1, seed: 0.5 }), /seed/);
  assert.throws(() => partitionByClasses(ds, null as never), /options must be/);
});

test('partitionByClasses (property): disjoint, exactly k classes, deterministic', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 4, max: 30 }), { minLength: 2, maxLength: 8 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer(),
      (counts, clients, kRaw, seed) => {
        const ds = labelled(counts);
        const k = Math.min(kRaw, counts.length);
        // With at most 8 clients and >= 4 examples per class every holder gets something.
        const p = partitionByClasses(ds, { clients: Math.min(clients, 4), classesPerClient: k, seed });
        assertDisjointAndConsistent(p, ds.count);
        for (const d of p.datasets) assert.equal(labelsOf(d).length, k);
        assert.deepEqual(p.indices, partitionByClasses(ds, { clients: Math.min(clients, 4), classesPerClient: k, seed }).indices);
      },
    ),
    { numRuns: 60 },
  );
});

/** Mean over clients of the share of the client's largest class. */
function meanMaxShare(p: Partition): number {
  return p.datasets.reduce((a, d) => a + Math.max(...classCounts(d)) / d.count, 0) / p.datasets.length;
}

test('partitionDirichlet: all examples assigned once; small alpha skewed, large alpha near uniform', () => {
  const ds = labelled(new Array(10).fill(300));
  const skewed = partitionDirichlet(ds, { clients: 20, alpha: 0.1, seed: 1 });
  assert.equal(assertDisjointAndConsistent(skewed, ds.count).size, ds.count);
  const uniform = partitionDirichlet(ds, { clients: 20, alpha: 1000, seed: 1 });
  assert.equal(assertDisjointAndConsistent(uniform, ds.count).size, ds.count);
  const sSkew = meanMaxShare(skewed);
  const sUni = meanMaxShare(uniform);
  assert.ok(sSkew > 0.6, `alpha 0.1: mean max-class share ${sSkew}`);
  assert.ok(sUni < 0.16, `alpha 1000: mean max-class share ${sUni} (uniform is 0.1)`);
  // With alpha 1000 every client has every class; with 0.1 most clients miss several.
  assert.ok(uniform.datasets.every((d) => labelsOf(d).length === 10));
  const meanClasses = skewed.datasets.reduce((a, d) => a + labelsOf(d).length, 0) / 20;
  assert.ok(meanClasses < 6, `alpha 0.1: clients see ${meanClasses} classes on average`);
  // Client sizes also vary under Dirichlet (sizes are not forced equal).
  const sizes = skewed.datasets.map((d) => d.count);
  assert.ok(Math.max(...sizes) > 2 * Math.min(...sizes));
});

test('partitionDirichlet: deterministic per seed, minExamples enforced, impossible -> typed error', () => {
  const ds = labelled(new Array(10).fill(50));
  const a = partitionDirichlet(ds, { clients: 10, alpha: 0.3, seed: 9, minExamples: 10 });
  assert.deepEqual(a.indices, partitionDirichlet(ds, { clients: 10, alpha: 0.3, seed: 9, minExamples: 10 }).indices);
  assert.notDeepEqual(a.indices, partitionDirichlet(ds, { clients: 10, alpha: 0.3, seed: 10, minExamples: 10 }).indices);
  assert.ok(a.datasets.every((d) => d.count >= 10));
  assert.throws(() => partitionDirichlet(ds, { clients: 100, alpha: 0.5, seed: 1, minExamples: 6 }), /exceeds the 500 examples/);
  assert.throws(
    () => partitionDirichlet(ds, { clients: 50, alpha: 0.01, seed: 1, minExamples: 9, maxAttempts: 5 }),
    (e: unknown) => e instanceof PartitionError && /in 5 attempts/.test(e.message),
  );
  assert.throws(() => partitionDirichlet(ds, { clients: 5, alpha: 0, seed: 1 }), /options.alpha must be > 0/);
});

test('partitionDirichlet (property): disjoint, complete, every client non-empty, deterministic', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 6 }),
      fc.double({ min: 0.05, max: 50, noNaN: true }),
      fc.integer(),
      (counts, clients, alpha, seed) => {
        const ds = labelled(counts);
        fc.pre(ds.count >= clients * 3);
        const run = () => partitionDirichlet(ds, { clients, alpha, seed, maxAttempts: 2000 });
        let p: Partition;
        try {
          p = run();
        } catch (e) {
          // Only the documented failure is allowed, and only when every client is hard to fill.
          assert.ok(e instanceof PartitionError && alpha < 0.5, String(e));
          return;
        }
        assert.equal(assertDisjointAndConsistent(p, ds.count).size, ds.count);
        assert.deepEqual(p.indices, run().indices);
      },
    ),
    { numRuns: 60 },
  );
});

test('partitionIid: equal sizes (within one), every example once, label mix like the whole', () => {
  const ds = labelled(new Array(10).fill(200));
  const p = partitionIid(ds, { clients: 7, seed: 4 });
  assert.equal(assertDisjointAndConsistent(p, ds.count).size, ds.count);
  const sizes = p.datasets.map((d) => d.count);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  assert.ok(meanMaxShare(p) < 0.15, `mean max-class share ${meanMaxShare(p)}`);
  assert.deepEqual(p.indices, partitionIid(ds, { clients: 7, seed: 4 }).indices);
  assert.notDeepEqual(p.indices, partitionIid(ds, { clients: 7, seed: 5 }).indices);
  assert.throws(() => partitionIid(labelled([2, 1]), { clients: 4, seed: 1 }), PartitionError);
});

test('apportion: counts sum to the total and follow the weights', () => {
  assert.deepEqual(apportion([0.5, 0.25, 0.25], 10), [5, 3, 2]);
  assert.deepEqual(apportion([1 / 3, 1 / 3, 1 / 3], 2), [1, 1, 0]);
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }),
    fc.integer({ min: 0, max: 1000 }), (w, total) => {
      const s = w.reduce((a, b) => a + b, 0);
      fc.pre(s > 0);
      const counts = apportion(w.map((v) => v / s), total);
      assert.equal(counts.reduce((a, b) => a + b, 0), total);
      counts.forEach((c, i) => assert.ok(Math.abs(c - (w[i]! / s) * total) < 1 + 1e-9));
    }));
});

test('limitPerClass keeps at most n per class, first ones or a seeded choice', () => {
  const ds = labelled([30, 5, 12]);
  const first = limitPerClass(ds, 10);
  assert.deepEqual(classCounts(first), [10, 5, 10]);
  // Without a seed: the first examples of each class, in dataset order.
  const ids = sourceIds(first);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  const expectedClass0 = [...ds.y].flatMap((c, i) => (c === 0 ? [i] : [])).slice(0, 10);
  assert.deepEqual(ids.filter((i) => ds.y[i] === 0), expectedClass0);
  const r1 = limitPerClass(ds, 10, 1);
  assert.deepEqual(classCounts(r1), [10, 5, 10]);
  assert.deepEqual(r1, limitPerClass(ds, 10, 1));
  assert.notDeepEqual(sourceIds(r1), sourceIds(limitPerClass(ds, 10, 2)));
  assert.equal(limitPerClass(ds, 0).count, 0);
  assert.throws(() => limitPerClass(ds, -1), /maxPerClass/);
});
