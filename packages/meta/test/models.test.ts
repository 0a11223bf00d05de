import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { MetaError, MetaArgumentError, HyperparameterError } from '../src/errors.js';
import { createModel, cnn, mlp, resnet, resnet18, flattenParams, unflattenParams } from '../src/models/index.js';
import { groupNorm } from '../src/ops/norm.js';
import { lossAndGrads, lossOf, makeBatch, sgd } from '../src/algorithms/train.js';
import { tf } from '../src/tf.js';
import { maxAbsDiff, randn } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

test('parameter lists, counts and the documented flat order', () => {
  const m = mlp({ inputShape: [28, 28, 1], hidden: [64, 32], numClasses: 10 });
  assert.deepEqual(m.params.map((p) => p.name), ['dense0/kernel', 'dense0/bias', 'dense1/kernel', 'dense1/bias', 'head/kernel', 'head/bias']);
  assert.equal(m.paramCount, 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10);
  const c = cnn({ inputShape: [28, 28, 1], channels: [8, 16], embedding: 32, numClasses: 10 });
  assert.deepEqual(c.params.map((p) => p.shape), [[3, 3, 1, 8], [8], [3, 3, 8, 16], [16], [7 * 7 * 16, 32], [32], [32, 10], [10]]);
  const r = resnet({ inputShape: [32, 32, 3], stages: [8, 16], numClasses: 10 });
  assert.equal(r.params[0]!.name, 'stem/kernel');
  assert.equal(r.params.at(-2)!.name, 'head/kernel');
  assert.equal(r.params.length, 2 + 2 * 3 * 2 + 2);
});

test('flatten(unflatten(v)) == v; entries land row-major in spec order; initParams is deterministic', () => {
  for (const spec of [mlp({ inputShape: [5], hidden: [4], numClasses: 3 }), cnn({ inputShape: [8, 8, 2], channels: [3], embedding: 4, numClasses: 2 })]) {
    const v = spec.initParams(7);
    assert.deepEqual(spec.initParams(7), v);
    assert.notDeepEqual(spec.initParams(8), v);
    const ts = unflattenParams(spec, v);
    assert.deepEqual(flattenParams(spec, ts), v);
    // The first tensor is the first block of the vector, in row-major order.
    const first = ts[0]!.arraySync() as number[][] | number[][][][];
    assert.equal((first as unknown as number[][][][]).flat(3)[1] ?? (first as number[][]).flat()[1], v[1]);
    ts.forEach((t) => t.dispose());
  }
  const spec = mlp({ inputShape: [5], hidden: [4], numClasses: 3 });
  // Biases start at zero, kernels have He scale.
  const v = spec.initParams(1);
  assert.ok(v.subarray(20, 24).every((b) => b === 0));
  assert.throws(() => unflattenParams(spec, new Float32Array(3)), (e: unknown) => e instanceof MetaError && e.code === 'META_PARAM_LENGTH');
});

test('forward shapes of MLP, CNN and ResNet; one SGD step on the ResNet lowers its batch loss', () => {
  tf.tidy(() => {
    const m = mlp({ inputShape: [28, 28, 1], hidden: [16], numClasses: 10 });
    assert.deepEqual(m.forward(unflattenParams(m, m.initParams(1)), tf.zeros([3, 28, 28, 1])).shape, [3, 10]);
    const c = cnn({ inputShape: [28, 28, 1], channels: [4, 8], embedding: 16, numClasses: 10 });
    const cp = unflattenParams(c, c.initParams(1));
    assert.deepEqual(c.forward(cp, tf.zeros([2, 28, 28, 1])).shape, [2, 10]);
    assert.deepEqual(c.embed(cp, tf.zeros([2, 28, 28, 1])).shape, [2, 16]);
    const r = resnet({ inputShape: [32, 32, 3], stages: [4, 8], numClasses: 10 });
    const rp = unflattenParams(r, r.initParams(2));
    const x = randn([4, 32, 32, 3], 3);
    assert.deepEqual(r.forward(rp, x).shape, [4, 10]);
    assert.deepEqual(r.embed(rp, x).shape, [4, 8]);
    const data = { x: x.dataSync() as Float32Array, y: Int32Array.from([1, 2, 3, 4]), count: 4, shape: [32, 32, 3], numClasses: 10 };
    const batch = makeBatch(r, data, [0, 1, 2, 3]);
    const { loss, grads } = lossAndGrads((ps) => lossOf(r, ps, batch), rp);
    const after = lossOf(r, sgd(rp, grads, 0.05), batch);
    assert.ok(after.dataSync()[0]! < loss.dataSync()[0]!, `${after.dataSync()[0]} < ${loss.dataSync()[0]}`);
  });
});

test('bad model configs are typed errors naming the field', () => {
  assert.throws(() => mlp({ inputShape: [0], hidden: [4], numClasses: 3 }), (e: unknown) => e instanceof HyperparameterError && /inputShape\[0\]/.test(e.message));
  assert.throws(() => cnn({ inputShape: [8, 8, 1], channels: [2.5], embedding: 4, numClasses: 3 }), /channels\[0\]/);
  assert.throws(() => resnet({ inputShape: [8, 8, 1], stages: [2], numClasses: 1 }), /numClasses/);
  assert.throws(() => createModel({ kind: 'transformer' } as never), MetaArgumentError);
});

test('the CNN forward equals the same network built from tf.conv2d', () => {
  tf.tidy(() => {
    const c = cnn({ inputShape: [12, 12, 2], channels: [3, 4], embedding: 5, numClasses: 3 });
    const ps = unflattenParams(c, c.initParams(3));
    const x = randn([2, 12, 12, 2], 4);
    let a = x as tf.Tensor4D;
    for (let i = 0; i < 2; i++) a = tf.relu(tf.add(tf.conv2d(a, ps[2 * i] as tf.Tensor4D, 2, 'same'), ps[2 * i + 1]!)) as tf.Tensor4D;
    const e = tf.relu(tf.add(tf.matMul(tf.reshape(a, [2, -1]), ps[4]!), ps[5]!));
    const logits = tf.add(tf.matMul(e, ps[6]!), ps[7]!);
    assert.ok(maxAbsDiff(c.forward(ps, x), logits) < 1e-4);
  });
});

test('ResNet-18: the standard parameter count (11,173,962 for CIFAR-10), layout and initialisation', () => {
  const r = createModel({ kind: 'resnet18', inputShape: [32, 32, 3], numClasses: 10 });
  assert.equal(r.paramCount, 11173962);
  assert.deepEqual(r.config, { kind: 'resnet18', inputShape: [32, 32, 3], numClasses: 10, widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], groups: 32 });
  const names = r.params.map((p) => p.name);
  assert.deepEqual(names.slice(0, 3), ['stem/kernel', 'stem/gn/gamma', 'stem/gn/beta']);
  assert.ok(names.includes('s1b0/short/kernel') && !names.includes('s0b0/short/kernel') && !names.includes('s1b1/short/kernel'));
  assert.deepEqual(r.params.find((p) => p.name === 's3b0/short/kernel')!.shape, [1, 1, 256, 512]);
  const v = r.initParams(1);
  let at = 0;
  for (const p of r.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (p.name.endsWith('gn1/gamma')) assert.ok(v.subarray(at, at + size).every((x) => x === 0), p.name);
    else if (p.name.endsWith('gamma')) assert.ok(v.subarray(at, at + size).every((x) => x === 1), p.name);
    at += size;
  }
  assert.throws(() => resnet18({ inputShape: [8, 8, 3], widths: [6, 12], groups: 4, numClasses: 3 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'groups');
  assert.throws(() => resnet18({ inputShape: [8, 8, 3], widths: [4, 8], blocks: [1], numClasses: 3 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'blocks');
});

test('group norm equals its definition computed in JS; a small ResNet-18 gives logits of the right shape', () => {
  tf.tidy(() => {
    const x = randn([2, 3, 2, 6], 1, 2);
    const gamma = randn([6], 2);
    const beta = randn([6], 3);
    const y = groupNorm(x, gamma, beta, 3).dataSync();
    const xs = x.dataSync();
    const gs = gamma.dataSync();
    const bs = beta.dataSync();
    for (let e = 0; e < 2; e++) {
      for (let g = 0; g < 3; g++) {
        const idx: number[] = [];
        for (let p = 0; p < 6; p++) for (let k = 0; k < 2; k++) idx.push(e * 36 + p * 6 + g * 2 + k);
        const mean = idx.reduce((s, i) => s + xs[i]!, 0) / idx.length;
        const variance = idx.reduce((s, i) => s + (xs[i]! - mean) ** 2, 0) / idx.length;
        for (const i of idx) {
          const ch = i % 6;
          const want = ((xs[i]! - mean) / Math.sqrt(variance + 1e-5)) * gs[ch]! + bs[ch]!;
          assert.ok(Math.abs(y[i]! - want) < 1e-4, `${y[i]} vs ${want}`);
        }
      }
    }
    const r = resnet18({ inputShape: [8, 8, 3], widths: [4, 8], groups: 2, numClasses: 5 });
    assert.deepEqual(r.forward(unflattenParams(r, r.initParams(1)), tf.zeros([3, 8, 8, 3])).shape, [3, 5]);
  });
});
