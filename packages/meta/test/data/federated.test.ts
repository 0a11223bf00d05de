import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classCounts } from '../../src/data/dataset.js';
import { federatedMnist, federatedSplit } from '../../src/data/federated.js';
import { loadMnist } from '../../src/data/mnist.js';
import { labelled, labelsOf, sourceIds } from './helpers.js';

test('federatedMnist classes: 20 clients x 2 labels, few-shot support, held-out test set', () => {
  const fed = federatedMnist({ clients: 20, scheme: 'classes', classesPerClient: 2, supportPerClass: 10, queryPerClass: 40, seed: 1 });
  assert.equal(fed.clients.length, 20);
  // 10% of every class, rounded per class: 999 of the 10,000 digits.
  const expectedTest = classCounts(loadMnist()).reduce((a, n) => a + Math.round(0.1 * n), 0);
  assert.equal(expectedTest, 999);
  assert.equal(fed.test.count, expectedTest);
  assert.equal(fed.train.count, 10000 - expectedTest);
  assert.deepEqual(classCounts(fed.test).map((n, c) => n + classCounts(fed.train)[c]!), classCounts(loadMnist()));
  fed.clients.forEach((c, i) => {
    assert.equal(c.id, i);
    assert.deepEqual(c.support.shape, [28, 28, 1]);
    assert.equal(labelsOf(c.support).length, 2);
    assert.deepEqual(labelsOf(c.query), labelsOf(c.support));
    assert.deepEqual(classCounts(c.support).filter((n) => n > 0), [10, 10]);
    assert.deepEqual(classCounts(c.query).filter((n) => n > 0), [40, 40]);
  });
  // Partition indices are disjoint across clients.
  const all = fed.partition.flatMap((p) => [...p]);
  assert.equal(new Set(all).size, all.length);
});

test('federatedMnist is deterministic per seed and differs across seeds', () => {
  const opts = { clients: 10, scheme: 'dirichlet', alpha: 0.3, supportPerClass: 5, seed: 7 } as const;
  const a = federatedMnist(opts);
  const b = federatedMnist(opts);
  assert.deepEqual(a.partition, b.partition);
  assert.deepEqual(a.clients[3]!.support.y, b.clients[3]!.support.y);
  assert.deepEqual(a.clients[3]!.support.x, b.clients[3]!.support.x);
  assert.deepEqual(a.test.y, b.test.y);
  const c = federatedMnist({ ...opts, seed: 8 });
  assert.notDeepEqual(a.partition, c.partition);
});

test('federatedSplit iid: every client sees (almost) every class', () => {
  const fed = federatedSplit(labelled(new Array(4).fill(100)), { clients: 5, scheme: 'iid', supportPerClass: 3, seed: 1 });
  for (const c of fed.clients) assert.ok(labelsOf(c.support).length >= 3);
});

test('federatedSplit: no example is in two clients or in a client and the test set', () => {
  const ds = labelled(new Array(5).fill(80));
  const fed = federatedSplit(ds, { clients: 6, scheme: 'dirichlet', alpha: 0.5, testFraction: 0.25, seed: 2 });
  const testIds = new Set(sourceIds(fed.test));
  assert.equal(testIds.size, 100);
  const seen = new Set<number>();
  for (const c of fed.clients) {
    for (const i of [...sourceIds(c.support), ...sourceIds(c.query)]) {
      assert.ok(!testIds.has(i) && !seen.has(i));
      seen.add(i);
    }
  }
  assert.equal(seen.size, 300, 'supportFraction default keeps every pool example in support or query');
  assert.throws(() => federatedSplit(ds, { clients: 2, scheme: 'shards' as never, seed: 1 }), /options.scheme must be 'classes', 'dirichlet' or 'iid'/);
  assert.throws(() => federatedSplit(ds, { clients: 2, scheme: 'classes', testFraction: 1, seed: 1 }), /testFraction/);
  assert.throws(() => federatedSplit(ds, { clients: 2, scheme: 'classes', supportPerClass: 3, supportFraction: 0.3, seed: 1 }),
    /exactly one of supportFraction or supportPerClass/);
});

test("federatedSplit labels 'local': each site codes its own classes 0..k-1, a bijection kept in labelCodes", () => {
  const opts = { clients: 12, scheme: 'classes', classesPerClient: 4, supportPerClass: 3, queryPerClass: 5, seed: 3 } as const;
  const shared = federatedMnist(opts);
  const local = federatedMnist({ ...opts, labels: 'local' });
  assert.equal(shared.clients[0]!.labelCodes, undefined);
  assert.deepEqual(local.partition, shared.partition, 'the recoding does not change who holds what');
  assert.deepEqual(local.test.y, shared.test.y, 'the held-out test set keeps the shared labels');
  const orders = new Set<string>();
  local.clients.forEach((c, i) => {
    const s = shared.clients[i]!;
    const codes = c.labelCodes!;
    assert.deepEqual([...codes].sort((a, b) => a - b), labelsOf(s.support), 'codes cover exactly the classes held');
    assert.deepEqual(labelsOf(c.support), [0, 1, 2, 3]);
    // Decoding gives back the shared labels, example by example; the inputs are untouched.
    assert.deepEqual(Array.from(c.support.y, (v) => codes[v]), Array.from(s.support.y));
    assert.deepEqual(Array.from(c.query.y, (v) => codes[v]), Array.from(s.query.y));
    assert.deepEqual(c.support.x, s.support.x);
    const sorted = [...codes].sort((a, b) => a - b);
    orders.add(codes.map((cls) => sorted.indexOf(cls)).join()); // the permutation, whatever the classes

  });
  assert.ok(orders.size > 3, 'sites draw different code orders');
  assert.deepEqual(federatedMnist({ ...opts, labels: 'local' }).clients.map((c) => c.labelCodes), local.clients.map((c) => c.labelCodes), 'deterministic per seed');
  assert.notDeepEqual(federatedMnist({ ...opts, seed: 4, labels: 'local' }).clients.map((c) => c.labelCodes), local.clients.map((c) => c.labelCodes));
  assert.throws(() => federatedMnist({ ...opts, labels: 'private' as never }), /options.labels must be 'shared' or 'local'/);
});
