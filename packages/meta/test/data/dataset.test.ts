import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classCounts, concat, createDataset, indicesByClass, shuffle, subset } from '../../src/data/dataset.js';
import { DataArgumentError, DataError } from '../../src/data/errors.js';

/** 6 examples of shape [2]: example i = [i, 10+i], label i % 3. */
function tiny() {
  const x = new Float32Array(12);
  const y = new Int32Array(6);
  for (let i = 0; i < 6; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = 10 + i;
    y[i] = i % 3;
  }
  return createDataset(x, y, [2], 3, 'tiny');
}

test('createDataset validates sizes, shape and labels', () => {
  const ds = tiny();
  assert.equal(ds.count, 6);
  assert.deepEqual(ds.shape, [2]);
  assert.throws(() => createDataset(new Float32Array(5), new Int32Array(3), [2], 3), DataArgumentError);
  assert.throws(() => createDataset(new Float32Array(4), new Int32Array(2), [0], 3), /shape\[0\]/);
  assert.throws(() => createDataset(new Float32Array(4), new Int32Array([0, 3]), [2], 3),
    (e: unknown) => e instanceof DataError && e.code === 'DATA_BAD_LABEL' && /y\[1\] = 3/.test(e.message));
  assert.throws(() => createDataset([1, 2] as unknown as Float32Array, new Int32Array(1), [2], 3), /x must be a Float32Array/);
});

test('subset copies rows in the given order; bad indices are typed errors', () => {
  const ds = tiny();
  const s = subset(ds, [4, 1, 4]);
  assert.deepEqual([...s.x], [4, 14, 1, 11, 4, 14]);
  assert.deepEqual([...s.y], [1, 1, 1]);
  s.x[0] = 99;
  assert.equal(ds.x[8], 4, 'subset must copy, not alias');
  assert.throws(() => subset(ds, [6]), /indices\[0\] = 6/);
  assert.throws(() => subset(ds, [0, 1.5]), DataArgumentError);
  assert.equal(subset(ds, []).count, 0);
});

test('concat joins datasets and rejects mismatched shapes or classes', () => {
  const ds = tiny();
  const c = concat([subset(ds, [0]), subset(ds, [5, 2])]);
  assert.deepEqual([...c.x], [0, 10, 5, 15, 2, 12]);
  assert.deepEqual([...c.y], [0, 2, 2]);
  const other = createDataset(new Float32Array(3), new Int32Array(1), [3], 3);
  assert.throws(() => concat([ds, other]), /shape \[3\]/);
  assert.throws(() => concat([]), DataArgumentError);
});

test('classCounts and indicesByClass agree with the labels', () => {
  const ds = tiny();
  assert.deepEqual(classCounts(ds), [2, 2, 2]);
  assert.deepEqual(indicesByClass(ds), [[0, 3], [1, 4], [2, 5]]);
  // A hand-built dataset with a label out of range is caught, not a crash.
  const bad = { ...ds, y: Int32Array.from([0, 1, 2, 0, 1, 7]) };
  for (const f of [classCounts, indicesByClass]) {
    assert.throws(() => f(bad), (e: unknown) => e instanceof DataError && e.code === 'DATA_BAD_LABEL' && /y\[5\] = 7/.test(e.message));
  }
  assert.throws(() => classCounts({ ...ds, count: 5 }), /consistent/);
});

test('shuffle is a seeded permutation of the examples, rows kept intact', () => {
  const ds = tiny();
  const a = shuffle(ds, 1);
  assert.deepEqual(a, shuffle(ds, 1));
  const perms = new Set([1, 2, 3, 4, 5].map((s) => [...shuffle(ds, s).y].join('') + [...shuffle(ds, s).x].join()));
  assert.ok(perms.size > 1);
  for (let j = 0; j < a.count; j++) {
    const v = a.x[2 * j]!;
    assert.equal(a.x[2 * j + 1], 10 + v);
    assert.equal(a.y[j], v % 3);
  }
  assert.deepEqual([...a.x].filter((_, i) => i % 2 === 0).sort(), [0, 1, 2, 3, 4, 5]);
});
