import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { classCounts } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';

test('loadMnist returns the 10,000 digits of the mnist package as [28,28,1] in [0,1]', () => {
  const ds = loadMnist();
  assert.equal(ds.count, 10000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.numClasses, 10);
  assert.equal(ds.x.length, 10000 * 784);
  // Per-class counts of the package's digit files.
  assert.deepEqual(classCounts(ds), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.equal(min, 0);
  assert.ok(max > 0.99 && max <= 1);
  assert.equal(loadMnist(), ds, 'parsed once, then cached');
});

test('the fast parser agrees exactly with JSON.parse on every digit file', () => {
  const ds = loadMnist();
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  let at = 0;
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    const expected = Float32Array.from(data);
    const got = ds.x.subarray(at, at + expected.length);
    assert.deepEqual(got, expected, `digit ${d}`);
    for (let i = at / 784; i < (at + expected.length) / 784; i++) assert.equal(ds.y[i], d);
    at += expected.length;
  }
});

test('images look like digits: mean ink of a class is in MNIST range and classes differ', () => {
  const ds = loadMnist();
  const ink = new Array<number>(10).fill(0);
  const counts = classCounts(ds);
  for (let i = 0; i < ds.count; i++) {
    let s = 0;
    for (let p = i * 784; p < (i + 1) * 784; p++) s += ds.x[p]!;
    ink[ds.y[i]!]! += s / 784 / counts[ds.y[i]!]!;
  }
  // Real MNIST: mean pixel ~0.13; "1" has the least ink, "0"/"8" the most.
  for (const v of ink) assert.ok(v > 0.05 && v < 0.25, `mean ink ${v}`);
  assert.equal(ink.indexOf(Math.min(...ink)), 1);
});
