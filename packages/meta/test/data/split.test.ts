import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classCounts } from '../../src/data/dataset.js';
import { DataArgumentError, PartitionError } from '../../src/data/errors.js';
import { splitSupportQuery } from '../../src/data/split.js';
import { labelled, sourceIds } from './helpers.js';

test('supportPerClass: s per class in support, the rest (capped) in query, disjoint', () => {
  const ds = labelled([30, 12, 3, 1]);
  const cd = splitSupportQuery(ds, { supportPerClass: 5, queryPerClass: 10, seed: 1, id: 4 });
  assert.equal(cd.id, 4);
  assert.deepEqual(classCounts(cd.support), [5, 5, 2, 1]);
  assert.deepEqual(classCounts(cd.query), [10, 7, 1, 0]);
  const s = new Set(sourceIds(cd.support));
  assert.ok(sourceIds(cd.query).every((i) => !s.has(i)));
  assert.equal(cd.support.numClasses, 4);
});

test('supportFraction: per-class rounding, each class with >= 2 examples in both sets', () => {
  const ds = labelled([50, 10, 2]);
  const cd = splitSupportQuery(ds, { supportFraction: 0.2, seed: 3 });
  assert.deepEqual(classCounts(cd.support), [10, 2, 1]);
  assert.deepEqual(classCounts(cd.query), [40, 8, 1]);
  assert.equal(cd.support.count + cd.query.count, ds.count);
});

test('deterministic per (seed, id), different otherwise; classes mixed in each set', () => {
  const ds = labelled([40, 40]);
  const a = splitSupportQuery(ds, { supportPerClass: 10, seed: 1, id: 0 });
  assert.deepEqual(a, splitSupportQuery(ds, { supportPerClass: 10, seed: 1, id: 0 }));
  assert.notDeepEqual(sourceIds(a.support), sourceIds(splitSupportQuery(ds, { supportPerClass: 10, seed: 2, id: 0 }).support));
  assert.notDeepEqual(sourceIds(a.support), sourceIds(splitSupportQuery(ds, { supportPerClass: 10, seed: 1, id: 1 }).support));
  // Not sorted by class: the first half of support is not all one label.
  const firstHalf = new Set([...a.support.y].slice(0, 10));
  assert.equal(firstHalf.size, 2);
});

test('bad options and impossible splits are typed errors', () => {
  const ds = labelled([5, 5]);
  assert.throws(() => splitSupportQuery(ds, { seed: 1 }), /exactly one of/);
  assert.throws(() => splitSupportQuery(ds, { supportFraction: 0.5, supportPerClass: 2, seed: 1 }), DataArgumentError);
  assert.throws(() => splitSupportQuery(ds, { supportFraction: 1, seed: 1 }), /supportFraction must be > 0 and < 1/);
  assert.throws(() => splitSupportQuery(ds, { supportPerClass: 0, seed: 1 }), /supportPerClass/);
  assert.throws(() => splitSupportQuery(labelled([1, 0]), { supportPerClass: 1, seed: 1 }),
    (e: unknown) => e instanceof PartitionError && /non-empty support and query/.test(e.message));
  assert.throws(() => splitSupportQuery(labelled([0, 0]), { supportPerClass: 1, seed: 1 }), PartitionError);
});

test('all-singleton classes: one example moves to query so the client can be evaluated', () => {
  const cd = splitSupportQuery(labelled([1, 1, 1]), { supportPerClass: 5, seed: 1 });
  assert.equal(cd.support.count, 2);
  assert.equal(cd.query.count, 1);
  assert.equal(new Set([...sourceIds(cd.support), ...sourceIds(cd.query)]).size, 3);
});
