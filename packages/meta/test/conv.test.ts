import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { MetaArgumentError } from '../src/errors.js';
import { avgPool2x2, conv2dIm2col, type Padding } from '../src/ops/conv.js';
import { tf } from '../src/tf.js';
import { maxAbs, maxAbsDiff, randn } from './helpers.js';

// The reference tf.conv2d filter gradient exists only on cpu (wasm lacks Conv2DBackpropFilter).
before(async () => {
  await selectBackend({ prefer: 'cpu', log: null });
});

const cases: { x: number[]; f: number[]; stride: number; padding: Padding }[] = [
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], stride: 1, padding: 'same' },
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], stride: 2, padding: 'same' },
  { x: [1, 8, 6, 2], f: [3, 3, 2, 5], stride: 2, padding: 'same' },
  { x: [2, 6, 6, 2], f: [3, 3, 2, 3], stride: 1, padding: 'valid' },
  { x: [1, 9, 8, 1], f: [2, 3, 1, 2], stride: 3, padding: 'valid' },
  { x: [2, 5, 5, 2], f: [1, 1, 2, 3], stride: 2, padding: 'same' },
];

test('im2col conv equals tf.conv2d in value and in gradients w.r.t. input and filter', () => {
  cases.forEach(({ x: xs, f: fs, stride, padding }, k) => {
    tf.tidy(() => {
      const x = randn(xs, 10 + k);
      const f = randn(fs, 20 + k, 0.5);
      const ref = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, padding);
      const ours = conv2dIm2col(x, f, stride, padding);
      assert.deepEqual(ours.shape, ref.shape, `case ${k} shape`);
      assert.ok(maxAbsDiff(ours, ref) < 1e-4, `case ${k} value`);
      // A quadratic loss with a random weighting exercises every output position.
      const w = randn(ref.shape, 30 + k);
      const loss = (conv: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.square(conv(a, b)), w)) as tf.Scalar;
      const [gxRef, gfRef] = tf.grads(loss((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, padding)))([x, f]);
      const [gx, gf] = tf.grads(loss((a, b) => conv2dIm2col(a, b, stride, padding)))([x, f]);
      assert.ok(maxAbsDiff(gx!, gxRef!) < 1e-3 * Math.max(1, maxAbs(gxRef!)), `case ${k} input gradient`);
      assert.ok(maxAbsDiff(gf!, gfRef!) < 1e-3 * Math.max(1, maxAbs(gfRef!)), `case ${k} filter gradient`);
    });
  });
});

test('im2col conv filter gradient matches central finite differences', () => {
  tf.tidy(() => {
    const x = randn([2, 6, 6, 2], 1);
    const f = randn([3, 3, 2, 3], 2, 0.5);
    const w = randn([2, 3, 3, 3], 3);
    const loss = (ff: tf.Tensor) => tf.sum(tf.mul(tf.square(conv2dIm2col(x, ff, 2, 'same')), w)) as tf.Scalar;
    const g = tf.grad(loss)(f).dataSync();
    const base = f.dataSync();
    const eps = 1e-2;
    for (const i of [0, 7, 19, 33, 53]) {
      const plus = base.slice();
      plus[i]! += eps;
      const minus = base.slice();
      minus[i]! -= eps;
      const fd = (loss(tf.tensor(plus, f.shape)).dataSync()[0]! - loss(tf.tensor(minus, f.shape)).dataSync()[0]!) / (2 * eps);
      assert.ok(Math.abs(fd - g[i]!) < 2e-2 * Math.max(1, Math.abs(fd)), `entry ${i}: fd ${fd} vs grad ${g[i]}`);
    }
  });
});

test('im2col conv is twice differentiable in the filter (tf.conv2d is not)', () => {
  tf.tidy(() => {
    const x = randn([1, 5, 5, 1], 4);
    const f = randn([3, 3, 1, 2], 5, 0.5);
    const inner = (conv: (ff: tf.Tensor) => tf.Tensor) => tf.grad((ff: tf.Tensor) => tf.sum(tf.square(conv(ff))) as tf.Scalar);
    const outer = (conv: (ff: tf.Tensor) => tf.Tensor) => tf.grad((ff: tf.Tensor) => tf.sum(tf.square(inner(conv)(ff))) as tf.Scalar);
    assert.throws(() => outer((ff) => tf.conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'))(f));
    const h = outer((ff) => conv2dIm2col(x, ff, 1, 'same'))(f);
    // Check the second-order result by finite differences of the first-order gradient norm.
    const g2 = (ff: tf.Tensor) => tf.sum(tf.square(inner((q) => conv2dIm2col(x, q, 1, 'same'))(ff))).dataSync()[0]!;
    const base = f.dataSync();
    const eps = 1e-2;
    for (const i of [0, 5, 11, 17]) {
      const p = base.slice();
      p[i]! += eps;
      const m = base.slice();
      m[i]! -= eps;
      const fd = (g2(tf.tensor(p, f.shape)) - g2(tf.tensor(m, f.shape))) / (2 * eps);
      assert.ok(Math.abs(fd - h.dataSync()[i]!) < 2e-2 * Math.max(1, Math.abs(fd)), `entry ${i}: fd ${fd} vs ${h.dataSync()[i]}`);
    }
  });
});

test('avgPool2x2 equals tf.avgPool; bad shapes are typed errors', () => {
  tf.tidy(() => {
    const x = randn([2, 6, 4, 3], 9);
    assert.ok(maxAbsDiff(avgPool2x2(x), tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid')) < 1e-6);
  });
  assert.throws(() => avgPool2x2(tf.zeros([1, 5, 4, 1])), MetaArgumentError);
  assert.throws(() => conv2dIm2col(tf.zeros([1, 5, 5, 2]), tf.zeros([3, 3, 1, 2]), 1, 'same'), /input channels/);
  assert.throws(() => conv2dIm2col(tf.zeros([1, 2, 2, 1]), tf.zeros([3, 3, 1, 2]), 1, 'valid'), /larger than input/);
  assert.throws(() => conv2dIm2col(tf.zeros([5, 5, 1]), tf.zeros([3, 3, 1, 2]), 1, 'valid'), /rank 4/);
});
