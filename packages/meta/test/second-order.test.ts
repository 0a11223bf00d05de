import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { mamlMetaGradient } from '../src/algorithms/maml.js';
import { lossAndGrads, lossOf, makeBatch, sgd, type Batch } from '../src/algorithms/train.js';
import { cnn } from '../src/models/cnn.js';
import { mlp } from '../src/models/mlp.js';
import { resnet18 } from '../src/models/resnet18.js';
import { unflattenParams, type ModelSpec } from '../src/models/spec.js';
import { crossEntropySafe, expSafe, logSoftmaxSafe } from '../src/ops/twice-differentiable.js';
import { createPrng } from '../src/rng.js';
import { tf } from '../src/tf.js';
import type { LabeledSet } from '../src/algorithms/types.js';
import { maxAbsDiff, randn } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

test('safe log-softmax and cross-entropy equal tfjs values and first gradients, also at large logits', () => {
  tf.tidy(() => {
    const z = tf.mul(randn([4, 5], 1), 30);
    assert.ok(maxAbsDiff(logSoftmaxSafe(z), tf.logSoftmax(z)) < 1e-4);
    const hot = tf.oneHot(tf.tensor1d([0, 3, 4, 1], 'int32'), 5).toFloat();
    const ref = tf.losses.softmaxCrossEntropy(hot, z);
    assert.ok(Math.abs(crossEntropySafe(z, hot).dataSync()[0]! - ref.dataSync()[0]!) < 1e-3);
    const gRef = tf.grad((v: tf.Tensor) => tf.losses.softmaxCrossEntropy(hot, v) as tf.Scalar)(z);
    const g = tf.grad((v: tf.Tensor) => crossEntropySafe(v, hot) as tf.Scalar)(z);
    assert.ok(maxAbsDiff(g, gRef) < 1e-5);
  });
});

test('second derivatives: tfjs softmax cross-entropy fails, the safe one matches the analytic Hessian', () => {
  tf.tidy(() => {
    const z = randn([1, 4], 2);
    const hot = tf.tensor2d([[0, 1, 0, 0]]);
    const v = randn([1, 4], 3);
    // Hessian-vector product of CE w.r.t. logits is (diag(p) - p p^T) v.
    const hvp = (ce: (a: tf.Tensor) => tf.Tensor) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.grad((b: tf.Tensor) => ce(b) as tf.Scalar)(a), v)) as tf.Scalar)(z);
    assert.throws(() => hvp((b) => tf.losses.softmaxCrossEntropy(hot, b)));
    const ours = hvp((b) => crossEntropySafe(b, hot));
    const p = tf.softmax(z);
    const pv = tf.sum(tf.mul(p, v));
    const expected = tf.sub(tf.mul(p, v), tf.mul(p, pv));
    assert.ok(maxAbsDiff(ours, expected) < 1e-5, `${ours.dataSync()} vs ${expected.dataSync()}`);
    const third = tf.grad((a: tf.Tensor) => tf.sum(tf.grad((b: tf.Tensor) => tf.sum(tf.grad((c: tf.Tensor) => tf.sum(expSafe(c)) as tf.Scalar)(b)) as tf.Scalar)(a)) as tf.Scalar)(z);
    assert.ok(maxAbsDiff(third, tf.exp(z)) < 1e-5);
  });
});

function synthetic(spec: ModelSpec, n: number, seed: number): LabeledSet {
  const rng = createPrng(seed, 5);
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  return {
    x: Float32Array.from({ length: n * per }, () => rng.normal()),
    y: Int32Array.from({ length: n }, () => rng.int(spec.numClasses)),
    count: n,
    shape: [...spec.inputShape],
    numClasses: spec.numClasses,
  };
}

/** Checks the exact MAML meta-gradient against central differences of L(phi(theta)). */
function checkMetaGradient(spec: ModelSpec, steps: number, alpha: number, coords: number[], start?: Float32Array): void {
  const data = synthetic(spec, 12, 9);
  const flat = start ?? spec.initParams(4);
  const inner: Batch = makeBatch(spec, data, [0, 1, 2, 3, 4, 5]);
  const outer: Batch = makeBatch(spec, data, [6, 7, 8, 9, 10, 11]);
  const metaLoss = (theta: Float32Array): number =>
    tf.tidy(() => {
      let ps = unflattenParams(spec, theta);
      for (let s = 0; s < steps; s++) ps = sgd(ps, lossAndGrads((q) => lossOf(spec, q, inner), ps).grads, alpha);
      return lossOf(spec, ps, outer).dataSync()[0]!;
    });
  tf.tidy(() => {
    const params = unflattenParams(spec, flat);
    const exact = tf.concat(mamlMetaGradient(spec, params, inner, outer, steps, alpha).grads.map((g) => tf.reshape(g, [-1]))).dataSync();
    // First-order MAML (gradient at phi) must differ, or this test could not tell them apart.
    let phi = params;
    for (let s = 0; s < steps; s++) phi = sgd(phi, lossAndGrads((q) => lossOf(spec, q, inner), phi).grads, alpha);
    const fo = tf.concat(lossAndGrads((q) => lossOf(spec, q, outer), phi).grads.map((g) => tf.reshape(g, [-1]))).dataSync();
    let worstFd = 0;
    let worstFo = 0;
    let smooth = 0;
    const fdAt = (i: number, eps: number): number => {
      const p = flat.slice();
      p[i]! += eps;
      const m = flat.slice();
      m[i]! -= eps;
      return (metaLoss(p) - metaLoss(m)) / (2 * eps);
    };
    for (const i of coords) {
      // The inner gradient contains relu's step function, so phi(theta) jumps where a hidden
      // pre-activation crosses 0; central differences are meaningless across such a jump.
      // Two step sizes that agree show the coordinate is in a smooth region.
      const fd = fdAt(i, 3e-3);
      const fdSmall = fdAt(i, 1e-3);
      if (Math.abs(fd - fdSmall) > 0.01 * Math.max(0.05, Math.abs(fd))) continue;
      smooth++;
      if (process.env['DBG']) console.log(i, fd, exact[i], fo[i]);
      worstFd = Math.max(worstFd, Math.abs(fd - exact[i]!) / Math.max(0.05, Math.abs(fd)));
      worstFo = Math.max(worstFo, Math.abs(fd - fo[i]!) / Math.max(0.05, Math.abs(fd)));
    }
    assert.ok(smooth >= Math.max(5, Math.ceil(coords.length / 2)), `only ${smooth} of ${coords.length} coordinates in smooth regions`);
    assert.ok(worstFd < 0.02, `MAML meta-gradient vs finite differences: worst relative error ${worstFd}`);
    assert.ok(worstFo > 5 * worstFd, `first-order gradient should be visibly worse (${worstFo} vs ${worstFd})`);
  });
  inner.x.dispose(); inner.oneHot.dispose(); outer.x.dispose(); outer.oneHot.dispose();
}

test('MAML meta-gradient through one and two inner steps matches finite differences (MLP)', () => {
  const spec = mlp({ inputShape: [6], hidden: [5], numClasses: 3 });
  const coords = [0, 4, 13, 29, 30, 33, 35, 40, 50];
  checkMetaGradient(spec, 1, 0.5, coords);
  checkMetaGradient(spec, 2, 0.2, coords);
});

test('MAML meta-gradient through an inner step matches finite differences (CNN with im2col conv)', () => {
  const spec = cnn({ inputShape: [6, 6, 1], channels: [2], embedding: 4, numClasses: 3 });
  checkMetaGradient(spec, 1, 0.3, [0, 3, 5, 9, 17, 18, 19, 22, 25, 40, 50, 70, 80, 86]);
});

test('MAML meta-gradient through an inner step matches finite differences (ResNet-18 family: group norm, 1x1 shortcut)', () => {
  const spec = resnet18({ inputShape: [6, 6, 2], widths: [2, 4], blocks: [1, 1], groups: 2, numClasses: 3 });
  // Perturbed from the initialisation so the zero-initialised gammas (and what they gate) take part.
  const rng = createPrng(8, 1);
  const start = Float32Array.from(spec.initParams(4), (v) => v + 0.3 * rng.normal());
  const norms = spec.params.flatMap((p, i) => (p.name.includes('/gn') ? [i] : []));
  // Coordinates in conv kernels and in group-norm gammas and betas.
  const offsets = spec.params.map((_, i) => spec.params.slice(0, i).reduce((s, q) => s + q.shape.reduce((a, b) => a * b, 1), 0));
  const coords = [0, 7, 20, ...norms.flatMap((i) => [offsets[i]!, offsets[i]! + 1]), offsets.at(-2)! + 2];
  checkMetaGradient(spec, 1, 0.3, coords, start);
});
